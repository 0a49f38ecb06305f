"""Password reset and e-mail verification: mailed through the outbox, tokens hashed, single
use, expiring, replaced by newer ones, throttled, and the same answer for unknown addresses."""

import asyncio
import re
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import security
from app.services.accounts.models import AccountToken
from app.services.notifications.models import OutboxEmail
from tests.helpers import PASSWORD, assert_problem, register

NEW_PASSWORD = "a brand new secret"


async def _last_link(session: AsyncSession, email: str, page: str) -> str:
    bodies = await session.scalars(
        select(OutboxEmail.body).where(OutboxEmail.to_address == email).order_by(OutboxEmail.created_at.desc())
    )
    for body in bodies:
        if match := re.search(rf"http://localhost:8000/{page}\?token=([A-Za-z0-9_-]+)", body):
            return match[1]
    raise AssertionError(f"no {page} link mailed to {email}")


async def test_reset_answers_the_same_whether_or_not_the_account_exists(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    account = await register(client)
    known = await client.post("/auth/password-reset", json={"email": account.email.upper()})
    unknown = await client.post("/auth/password-reset", json={"email": "nobody@example.org"})
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()
    token = await _last_link(session, account.email, "reset-password")
    # Stored by digest only.
    stored = (await session.scalars(select(AccountToken.token_digest))).all()
    assert security.token_digest(token) in stored
    assert all(token.encode() not in digest for digest in stored)
    sent_to = (await session.scalars(select(OutboxEmail.to_address))).all()
    assert "nobody@example.org" not in sent_to


async def test_reset_sets_the_password_once_verifies_the_email_and_ends_every_login(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    account = await register(client)
    await client.post("/auth/password-reset", json={"email": account.email})
    token = await _last_link(session, account.email, "reset-password")

    weak = await client.post("/auth/password-reset/confirm", json={"token": token, "new_password": "password"})
    assert_problem(weak, 422, "weak_password")  # the token survives a refused password
    done = await client.post("/auth/password-reset/confirm", json={"token": token, "new_password": NEW_PASSWORD})
    assert done.status_code == 204
    again = await client.post("/auth/password-reset/confirm", json={"token": token, "new_password": NEW_PASSWORD})
    assert_problem(again, 422, "invalid_token")

    assert_problem(await client.get("/users/me", headers=account.headers), 401, "not_authenticated")
    old = await client.post("/auth/login", json={"email": account.email, "password": PASSWORD})
    assert_problem(old, 401, "invalid_credentials")
    signed_in = await client.post("/auth/login", json={"email": account.email, "password": NEW_PASSWORD})
    assert signed_in.status_code == 200
    assert signed_in.json()["user"]["email_verified_at"] is not None
    headers = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
    actions = [e["action"] for e in (await client.get("/users/me/audit", headers=headers)).json()["items"]]
    assert {"auth.password_reset_requested", "auth.password_reset"} <= set(actions)
    subjects = (await session.scalars(select(OutboxEmail.subject).where(OutboxEmail.to_address == account.email))).all()
    assert "Your password was changed" in subjects


async def test_racing_confirmations_with_one_token_succeed_once(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    account = await register(client)
    await client.post("/auth/password-reset", json={"email": account.email})
    token = await _last_link(session, account.email, "reset-password")
    responses = await asyncio.gather(
        *(
            client.post("/auth/password-reset/confirm", json={"token": token, "new_password": f"{NEW_PASSWORD} {i}"})
            for i in range(3)
        )
    )
    assert sorted(r.status_code for r in responses) == [204, 422, 422]


async def test_expired_replaced_and_unknown_tokens_are_refused(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    account = await register(client)
    await client.post("/auth/password-reset", json={"email": account.email})
    first = await _last_link(session, account.email, "reset-password")
    await client.post("/auth/password-reset", json={"email": account.email})
    second = await _last_link(session, account.email, "reset-password")
    assert first != second
    confirm = "/auth/password-reset/confirm"
    replaced = await client.post(confirm, json={"token": first, "new_password": NEW_PASSWORD})
    assert_problem(replaced, 422, "invalid_token")
    await session.execute(
        update(AccountToken)
        .where(AccountToken.token_digest == security.token_digest(second))
        .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    )
    await session.commit()
    expired = await client.post(confirm, json={"token": second, "new_password": NEW_PASSWORD})
    assert_problem(expired, 422, "invalid_token")
    unknown = await client.post(confirm, json={"token": "x" * 43, "new_password": NEW_PASSWORD})
    assert_problem(unknown, 422, "invalid_token")
    assert_problem(await client.post(confirm, json={"token": "", "new_password": "x"}), 422, "validation_error")
    # A verification token is no reset token.
    verify = await _last_link(session, account.email, "verify-email")
    assert_problem(
        await client.post(confirm, json={"token": verify, "new_password": NEW_PASSWORD}), 422, "invalid_token"
    )


async def test_requests_are_throttled_per_email_with_or_without_account(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    for email in ("ghost@example.org", (await register(client)).email):
        for _ in range(3):
            assert (await client.post("/auth/password-reset", json={"email": email})).status_code == 202
        limited = await client.post("/auth/password-reset", json={"email": email})
        assert_problem(limited, 429, "rate_limited")
        assert 0 < int(limited.headers["retry-after"]) <= 3600


async def test_requests_are_throttled_per_client_address(client: httpx.AsyncClient, session: AsyncSession) -> None:
    for i in range(20):
        response = await client.post("/auth/password-reset", json={"email": f"someone{i}@example.org"})
        assert response.status_code == 202
    limited = await client.post("/auth/password-reset", json={"email": "one-more@example.org"})
    assert_problem(limited, 429, "rate_limited")
    assert "retry-after" in limited.headers


async def test_registration_mails_a_verification_link_that_works_once(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    account = await register(client)
    assert account.body["user"]["email_verified_at"] is None
    first = await _last_link(session, account.email, "verify-email")
    resent = await client.post("/users/me/verify-email", headers=account.headers)
    assert resent.status_code == 202
    token = await _last_link(session, account.email, "verify-email")
    assert token != first
    assert_problem(await client.post("/auth/verify-email", json={"token": first}), 422, "invalid_token")
    verified = await client.post("/auth/verify-email", json={"token": token})
    assert verified.status_code == 200
    assert verified.json()["id"] == str(account.id)
    assert verified.json()["email_verified_at"] is not None
    assert_problem(await client.post("/auth/verify-email", json={"token": token}), 422, "invalid_token")
    assert_problem(await client.post("/users/me/verify-email", headers=account.headers), 409, "already_verified")
    actions = [e["action"] for e in (await client.get("/users/me/audit", headers=account.headers)).json()["items"]]
    assert "auth.email_verified" in actions
