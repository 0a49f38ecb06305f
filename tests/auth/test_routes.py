import asyncio

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.services.auth.models import LoginSession, RefreshToken
from app.services.users.models import User
from tests.helpers import PASSWORD, assert_problem, register


async def test_register_returns_user_and_tokens_without_hash(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/auth/register",
        json={"email": "  Ada.Lovelace@Example.ORG ", "password": PASSWORD, "full_name": "Ada", "phone": "+44 20 1234"},
    )
    assert response.status_code == 201
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 15 * 60
    assert set(body["user"]) == {
        "id", "email", "full_name", "phone", "role", "is_active", "mfa_enabled", "email_verified_at", "created_at",
    }  # fmt: skip
    assert body["user"]["email"] == "ada.lovelace@example.org"
    assert body["user"]["role"] == "citizen"
    assert "hash" not in response.text


async def test_register_same_email_other_case_is_email_taken(client: httpx.AsyncClient) -> None:
    await register(client, email="grace@example.org")
    response = await client.post(
        "/auth/register", json={"email": "GRACE@example.org", "password": PASSWORD, "full_name": "G"}
    )
    assert_problem(response, 409, "email_taken")


async def test_concurrent_registrations_of_one_email_create_one_account(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    payload = {"email": "race@example.org", "password": PASSWORD, "full_name": "R"}
    responses = await asyncio.gather(*(client.post("/auth/register", json=payload) for _ in range(5)))
    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409, 409]
    assert len((await session.scalars(select(User).where(User.email == "race@example.org"))).all()) == 1


@pytest.mark.parametrize(
    "password",
    ["short1!", "weak@example.org", "password123", "Password123"],
    ids=["too-short", "equals-email", "common", "common-any-case"],
)
async def test_register_weak_password_is_422(client: httpx.AsyncClient, password: str) -> None:
    response = await client.post(
        "/auth/register", json={"email": "weak@example.org", "password": password, "full_name": "W"}
    )
    assert_problem(response, 422, "weak_password")


async def test_long_passphrase_is_not_truncated_at_72_bytes(client: httpx.AsyncClient) -> None:
    long_password = "é" * 40 + "tail-A"  # 86 bytes: bcrypt alone would ignore the tail
    await client.post("/auth/register", json={"email": "long@example.org", "password": long_password, "full_name": "L"})
    ok = await client.post("/auth/login", json={"email": "long@example.org", "password": long_password})
    assert ok.status_code == 200
    wrong_tail = await client.post("/auth/login", json={"email": "long@example.org", "password": "é" * 40 + "tail-B"})
    assert_problem(wrong_tail, 401, "invalid_credentials")


async def test_register_rejects_unknown_fields_such_as_role(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/auth/register",
        json={"email": "sneaky@example.org", "password": PASSWORD, "full_name": "S", "role": "admin"},
    )
    body = assert_problem(response, 422, "validation_error")
    assert any(err["loc"][-1] == "role" for err in body["errors"])


async def test_register_invalid_email_is_validation_error(client: httpx.AsyncClient) -> None:
    response = await client.post("/auth/register", json={"email": "nope", "password": PASSWORD, "full_name": "N"})
    assert_problem(response, 422, "validation_error")


async def test_login_and_token_form_give_working_tokens(client: httpx.AsyncClient) -> None:
    account = await register(client)
    login = await client.post("/auth/login", json={"email": account.email.upper(), "password": PASSWORD})
    assert login.status_code == 200
    me = await client.get("/users/me", headers={"Authorization": f"Bearer {login.json()['access_token']}"})
    assert me.json()["id"] == str(account.id)

    form = await client.post("/auth/token", data={"username": account.email, "password": PASSWORD})
    assert form.status_code == 200
    assert form.json()["token_type"] == "bearer"


async def test_login_wrong_password_and_unknown_email_answer_alike(client: httpx.AsyncClient) -> None:
    account = await register(client)
    wrong = await client.post("/auth/login", json={"email": account.email, "password": "wrong password!"})
    unknown = await client.post("/auth/login", json={"email": "nobody@example.org", "password": "wrong password!"})
    assert_problem(wrong, 401, "invalid_credentials")
    assert_problem(unknown, 401, "invalid_credentials")
    assert wrong.json()["detail"] == unknown.json()["detail"]
    assert wrong.headers["www-authenticate"] == "Bearer"


async def test_repeated_failures_lock_the_account_with_retry_after(client: httpx.AsyncClient) -> None:
    account = await register(client)
    for _ in range(5):
        await client.post("/auth/login", json={"email": account.email, "password": "wrong password!"})
    locked = await client.post("/auth/login", json={"email": account.email, "password": PASSWORD})
    assert_problem(locked, 429, "rate_limited")
    assert 0 < int(locked.headers["retry-after"]) <= 900


async def test_failures_from_one_address_are_throttled_across_accounts(client: httpx.AsyncClient, app: object) -> None:
    settings = app.state.settings  # type: ignore[attr-defined]
    for i in range(settings.login_failures_per_address):
        await client.post("/auth/login", json={"email": f"spray{i}@example.org", "password": "wrong password!"})
    response = await client.post("/auth/login", json={"email": "fresh@example.org", "password": "wrong password!"})
    assert_problem(response, 429, "rate_limited")
    assert "retry-after" in response.headers


async def test_deactivated_account_login_is_account_disabled(client: httpx.AsyncClient, session: AsyncSession) -> None:
    account = await register(client)
    user = await session.get(User, account.id)
    assert user is not None
    user.is_active = False
    await session.commit()
    response = await client.post("/auth/login", json={"email": account.email, "password": PASSWORD})
    assert_problem(response, 403, "account_disabled")


async def test_refresh_rotates_and_old_token_is_dead(client: httpx.AsyncClient) -> None:
    account = await register(client)
    first = await client.post("/auth/refresh", json={"refresh_token": account.refresh_token})
    assert first.status_code == 200
    new_pair = first.json()
    assert new_pair["refresh_token"] != account.refresh_token
    me = await client.get("/users/me", headers={"Authorization": f"Bearer {new_pair['access_token']}"})
    assert me.status_code == 200


async def test_reusing_a_refresh_token_revokes_the_whole_login(client: httpx.AsyncClient) -> None:
    account = await register(client)
    rotated = (await client.post("/auth/refresh", json={"refresh_token": account.refresh_token})).json()
    reuse = await client.post("/auth/refresh", json={"refresh_token": account.refresh_token})
    assert_problem(reuse, 401, "invalid_refresh_token")
    # Everything of that login is dead: the newest refresh token and every access token.
    assert (await client.post("/auth/refresh", json={"refresh_token": rotated["refresh_token"]})).status_code == 401
    for token in (account.access_token, rotated["access_token"]):
        assert_problem(
            await client.get("/users/me", headers={"Authorization": f"Bearer {token}"}), 401, "not_authenticated"
        )


async def test_refresh_race_with_one_token_has_one_winner_and_ends_the_login(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    account = await register(client)
    responses = await asyncio.gather(
        *(client.post("/auth/refresh", json={"refresh_token": account.refresh_token}) for _ in range(4))
    )
    assert sorted(r.status_code for r in responses) == [200, 401, 401, 401]
    winner = next(r for r in responses if r.status_code == 200).json()
    # The losers presented a token that had just been used: a reuse, so the login ended.
    me = await client.get("/users/me", headers={"Authorization": f"Bearer {winner['access_token']}"})
    assert me.status_code == 401
    login = await session.scalar(select(LoginSession).where(LoginSession.user_id == account.id))
    assert login is not None
    assert login.revoked_reason == "refresh_reuse"


async def test_unknown_refresh_token_is_401_and_revokes_nothing(client: httpx.AsyncClient) -> None:
    account = await register(client)
    response = await client.post("/auth/refresh", json={"refresh_token": "made-up"})
    assert_problem(response, 401, "invalid_refresh_token")
    assert (await client.get("/users/me", headers=account.headers)).status_code == 200


async def test_only_refresh_token_digests_are_stored(client: httpx.AsyncClient, session: AsyncSession) -> None:
    account = await register(client)
    digests = (await session.scalars(select(RefreshToken.token_digest))).all()
    assert len(digests) == 1
    assert account.refresh_token.encode() not in digests[0]
    assert len(digests[0]) == 32


async def test_logout_ends_the_login_at_once(client: httpx.AsyncClient) -> None:
    account = await register(client)
    other_login = (await client.post("/auth/login", json={"email": account.email, "password": PASSWORD})).json()
    response = await client.post("/auth/logout", json={"refresh_token": account.refresh_token})
    assert response.status_code == 204
    assert_problem(await client.get("/users/me", headers=account.headers), 401, "not_authenticated")
    assert (await client.post("/auth/refresh", json={"refresh_token": account.refresh_token})).status_code == 401
    # Another login of the same user is not affected.
    other = await client.get("/users/me", headers={"Authorization": f"Bearer {other_login['access_token']}"})
    assert other.status_code == 200


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Bearer not-a-jwt", "Basic abc"],
    ids=["missing", "empty", "garbage", "wrong-scheme"],
)
async def test_missing_or_bad_token_is_401_with_www_authenticate(client: httpx.AsyncClient, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = await client.get("/users/me", headers=headers)
    assert_problem(response, 401, "not_authenticated")
    assert response.headers["www-authenticate"] == "Bearer"


async def test_token_signed_with_another_key_or_algorithm_is_rejected(client: httpx.AsyncClient) -> None:
    import jwt

    account = await register(client)
    claims = jwt.decode(account.access_token, options={"verify_signature": False})
    forged = jwt.encode(claims, "another-secret-" + "y" * 40, algorithm="HS256")
    none_alg = jwt.encode(claims, None, algorithm="none")
    for token in (forged, none_alg):
        response = await client.get("/users/me", headers={"Authorization": f"Bearer {token}"})
        assert_problem(response, 401, "not_authenticated")


async def test_token_missing_a_required_claim_is_rejected(client: httpx.AsyncClient, app: object) -> None:
    import jwt

    account = await register(client)
    claims = jwt.decode(account.access_token, options={"verify_signature": False})
    del claims["aud"]
    secret = app.state.settings.secret_key  # type: ignore[attr-defined]
    token = jwt.encode(claims, secret, algorithm="HS256")
    assert_problem(
        await client.get("/users/me", headers={"Authorization": f"Bearer {token}"}), 401, "not_authenticated"
    )


async def test_token_whose_user_does_not_own_its_session_is_rejected(client: httpx.AsyncClient, app: object) -> None:
    import jwt

    mallory = await register(client)
    victim = await register(client)
    claims = jwt.decode(mallory.access_token, options={"verify_signature": False})
    claims["sub"] = str(victim.id)
    token = jwt.encode(claims, app.state.settings.secret_key, algorithm="HS256")  # type: ignore[attr-defined]
    assert (await client.get("/users/me", headers={"Authorization": f"Bearer {token}"})).status_code == 401


async def test_registrations_from_one_address_are_limited(client: httpx.AsyncClient, app: object) -> None:
    settings = app.state.settings  # type: ignore[attr-defined]
    limit = settings.registrations_per_address_per_hour
    settings.registrations_per_address_per_hour = 2
    try:
        for _ in range(2):
            await register(client)
        response = await client.post(
            "/auth/register", json={"email": "third@example.org", "password": PASSWORD, "full_name": "T"}
        )
        assert_problem(response, 429, "rate_limited")
        assert int(response.headers["retry-after"]) > 0
    finally:
        settings.registrations_per_address_per_hour = limit
