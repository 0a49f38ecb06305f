"""TOTP enrolment, login with a second factor (each code accepted once, also under concurrency),
recovery codes, regeneration, disabling and the administrator's reset."""

import asyncio
import base64
import io
import re
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import pyotp
import pytest
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.services.mfa import service as mfa_service
from app.services.notifications.models import OutboxEmail
from app.services.qr import images
from tests.helpers import PASSWORD, assert_problem, register, register_admin
from tests.mfa.helpers import FROZEN_AT, STEP, enable_mfa, frozen_clock, login

__all__ = ["frozen_clock"]  # the fixture, imported to be found

pytestmark = pytest.mark.usefixtures("frozen_clock")


async def test_enrolment_shows_the_secret_once_with_its_uri_and_qr_code(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    account = await register(client, email="ada@example.org")
    wrong = await client.post("/users/me/mfa/totp", headers=account.headers, json={"password": "not it"})
    assert_problem(wrong, 422, "wrong_password")
    nothing = await client.post("/users/me/mfa/totp/confirm", headers=account.headers, json={"code": "123456"})
    assert_problem(nothing, 409, "mfa_not_enrolled")

    response = await client.post("/users/me/mfa/totp", headers=account.headers, json={"password": PASSWORD})
    assert response.status_code == 201
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert re.fullmatch(r"[A-Z2-7]{32}", body["secret"])  # 160 bits
    uri = urlsplit(body["otpauth_uri"])
    assert (uri.scheme, uri.netloc, unquote(uri.path)) == ("otpauth", "totp", "/Queueless:ada@example.org")
    assert parse_qs(uri.query) == {"secret": [body["secret"]], "issuer": ["Queueless"]}
    png = base64.b64decode(body["qr_png"].removeprefix("data:image/png;base64,"))
    assert Image.open(io.BytesIO(png)).format == "PNG"
    assert [found.text for found in images.decode(png, max_pixels=10_000_000, qr_only=True)] == [body["otpauth_uri"]]

    status = (await client.get("/users/me/mfa", headers=account.headers)).json()
    assert status == {"enabled": False, "enabled_at": None, "recovery_codes_left": 0}
    me = (await client.get("/users/me", headers=account.headers)).json()
    assert me["mfa_enabled"] is False


async def test_confirming_turns_mfa_on_ends_other_logins_and_mails_the_change(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    account = await register(client)
    other_login = await login(client, account.email)
    other_headers = {"Authorization": f"Bearer {other_login.json()['access_token']}"}
    enrolled = await client.post("/users/me/mfa/totp", headers=account.headers, json={"password": PASSWORD})
    secret = enrolled.json()["secret"]
    wrong = await client.post("/users/me/mfa/totp/confirm", headers=account.headers, json={"code": "000000"})
    assert_problem(wrong, 422, "invalid_otp")
    confirmed = await client.post(
        "/users/me/mfa/totp/confirm", headers=account.headers, json={"code": pyotp.TOTP(secret).generate_otp(STEP)}
    )
    assert confirmed.status_code == 200
    assert confirmed.headers["cache-control"] == "no-store"
    codes = confirmed.json()["recovery_codes"]
    assert len(codes) == 10
    assert len(set(codes)) == 10
    assert all(re.fullmatch(r"[a-z2-9]{5}-[a-z2-9]{5}", code) for code in codes)

    status = (await client.get("/users/me/mfa", headers=account.headers)).json()
    assert status["enabled"] is True
    assert status["enabled_at"] is not None
    assert status["recovery_codes_left"] == 10
    assert (await client.get("/users/me", headers=account.headers)).json()["mfa_enabled"] is True
    assert_problem(await client.get("/users/me", headers=other_headers), 401, "not_authenticated")
    again = await client.post("/users/me/mfa/totp", headers=account.headers, json={"password": PASSWORD})
    assert_problem(again, 409, "mfa_already_enabled")

    subjects = await session.scalars(select(OutboxEmail.subject).where(OutboxEmail.to_address == account.email))
    assert "Two-factor sign-in is on" in list(subjects)
    audit = (await client.get("/users/me/audit", headers=account.headers)).json()["items"]
    assert "mfa.enabled" in [e["action"] for e in audit]
    assert secret not in str(audit)
    assert not any(code in str(audit) for code in codes)


async def test_login_accepts_the_previous_current_and_next_step_once_each(
    client: httpx.AsyncClient, session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = await register(client)
    monkeypatch.setattr(mfa_service, "now", lambda: FROZEN_AT - 300)  # enrolled ten steps ago
    mfa = await enable_mfa(client, account, step=STEP - 10)
    monkeypatch.setattr(mfa_service, "now", lambda: FROZEN_AT)

    assert_problem(await login(client, account.email), 401, "otp_required")
    assert_problem(await login(client, account.email, mfa.code(STEP - 2)), 401, "invalid_otp")  # too old
    assert_problem(await login(client, account.email, mfa.code(STEP + 2)), 401, "invalid_otp")  # too far ahead
    token = await client.post("/auth/token", data={"username": account.email, "password": PASSWORD})
    assert_problem(token, 401, "otp_required")

    for step in (STEP - 1, STEP, STEP + 1):
        response = await login(client, account.email, mfa.code(step))
        assert response.status_code == 200, (step, response.text)
    # Each accepted step closes that step and every earlier one.
    for step in (STEP - 1, STEP, STEP + 1):
        assert_problem(await login(client, account.email, mfa.code(step)), 401, "invalid_otp")

    audit = await client.get("/users/me/audit", headers=account.headers, params={"action": "auth.login_failed"})
    reasons = [e["data"]["reason"] for e in audit.json()["items"]]
    assert reasons.count("otp_required") == 2
    assert reasons.count("invalid_otp") == 5


async def test_a_wrong_code_counts_as_a_failed_sign_in(client: httpx.AsyncClient, session: AsyncSession) -> None:
    account = await register(client)
    mfa = await enable_mfa(client, account)
    for _ in range(5):
        assert_problem(await login(client, account.email, "000000"), 401, "invalid_otp")
    limited = await login(client, account.email, mfa.code(STEP))
    assert_problem(limited, 429, "rate_limited")
    assert int(limited.headers["retry-after"]) > 0


async def test_one_code_in_two_concurrent_logins_signs_in_once(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    account = await register(client)
    mfa = await enable_mfa(client, account)
    code = mfa.code(STEP)
    responses = await asyncio.gather(*(login(client, account.email, code) for _ in range(4)))
    assert sorted(r.status_code for r in responses) == [200, 401, 401, 401]
    for refused in (r for r in responses if r.status_code == 401):
        assert_problem(refused, 401, "invalid_otp")


async def test_a_recovery_code_used_by_two_concurrent_logins_works_once(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    account = await register(client)
    mfa = await enable_mfa(client, account)
    code = mfa.recovery_codes[0]
    responses = await asyncio.gather(*(login(client, account.email, code) for _ in range(4)))
    assert sorted(r.status_code for r in responses) == [200, 401, 401, 401]
    # Case and dashes do not matter; each code works once.
    second = mfa.recovery_codes[1].upper().replace("-", "")
    signed_in = await login(client, account.email, second)
    assert signed_in.status_code == 200
    headers = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
    assert (await client.get("/users/me/mfa", headers=headers)).json()["recovery_codes_left"] == 8
    actions = [e["action"] for e in (await client.get("/users/me/audit", headers=headers)).json()["items"]]
    assert actions.count("mfa.recovery_code_used") == 2


async def test_regenerating_codes_needs_the_password_and_a_code_and_kills_the_old_ones(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    account = await register(client)
    mfa = await enable_mfa(client, account)
    path = "/users/me/mfa/recovery-codes"
    wrong_password = await client.post(path, headers=account.headers, json={"password": "nope", "code": "1"})
    assert_problem(wrong_password, 422, "wrong_password")
    wrong_code = await client.post(path, headers=account.headers, json={"password": PASSWORD, "code": "000000"})
    assert_problem(wrong_code, 422, "invalid_otp")
    response = await client.post(path, headers=account.headers, json={"password": PASSWORD, "code": mfa.code(STEP)})
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    fresh = response.json()["recovery_codes"]
    assert len(fresh) == 10
    assert not set(fresh) & set(mfa.recovery_codes)
    assert_problem(await login(client, account.email, mfa.recovery_codes[2]), 401, "invalid_otp")
    assert (await login(client, account.email, fresh[0])).status_code == 200
    actions = [e["action"] for e in (await client.get("/users/me/audit", headers=account.headers)).json()["items"]]
    assert "mfa.recovery_codes_regenerated" in actions


async def test_disabling_needs_password_and_code_and_ends_other_logins(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    account = await register(client)
    mfa = await enable_mfa(client, account)
    other = await login(client, account.email, mfa.code(STEP))
    other_headers = {"Authorization": f"Bearer {other.json()['access_token']}"}
    path = "/users/me/mfa/disable"
    refused = await client.post(path, headers=account.headers, json={"password": PASSWORD, "code": mfa.code(STEP)})
    assert_problem(refused, 422, "invalid_otp")  # that step was used by the sign-in above
    response = await client.post(
        path, headers=account.headers, json={"password": PASSWORD, "code": mfa.recovery_codes[0]}
    )
    assert response.status_code == 204
    assert_problem(await client.get("/users/me", headers=other_headers), 401, "not_authenticated")
    assert (await client.get("/users/me/mfa", headers=account.headers)).json()["enabled"] is False
    assert (await login(client, account.email, "ignored")).status_code == 200  # otp is ignored without MFA
    again = await client.post(path, headers=account.headers, json={"password": PASSWORD, "code": "000000"})
    assert_problem(again, 409, "mfa_not_enabled")
    actions = [e["action"] for e in (await client.get("/users/me/audit", headers=account.headers)).json()["items"]]
    assert "mfa.disabled" in actions
    regenerate = await client.post(
        "/users/me/mfa/recovery-codes", headers=account.headers, json={"password": PASSWORD, "code": "000000"}
    )
    assert_problem(regenerate, 409, "mfa_not_enabled")


async def test_an_administrator_resets_mfa_and_every_login_ends(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    account = await register(client)
    stranger = await register(client)
    admin = await register_admin(client, session)
    await enable_mfa(client, account)
    assert_problem(await client.delete(f"/users/{account.id}/mfa", headers=stranger.headers), 403, "forbidden")
    assert (await client.delete(f"/users/{account.id}/mfa", headers=admin.headers)).status_code == 204
    assert_problem(await client.get("/users/me", headers=account.headers), 401, "not_authenticated")
    assert_problem(await client.delete(f"/users/{account.id}/mfa", headers=admin.headers), 409, "mfa_not_enabled")
    signed_in = await login(client, account.email)
    assert signed_in.status_code == 200
    assert signed_in.json()["user"]["mfa_enabled"] is False
    entries = (await client.get("/admin/audit", headers=admin.headers, params={"action": "mfa.reset"})).json()
    assert [(e["actor_id"], e["target_id"]) for e in entries["items"]] == [(str(admin.id), str(account.id))]
    sent = await session.scalar(
        select(func.count()).select_from(OutboxEmail).where(OutboxEmail.subject == "Two-factor sign-in was reset")
    )
    assert sent == 1
