"""Turning MFA on through the API, and codes of chosen time steps."""

import uuid
from dataclasses import dataclass

import httpx
import pyotp
import pytest

from app.services.mfa import service as mfa_service
from tests.helpers import PASSWORD, Account

# The middle of a step, so that "now" never crosses a step edge during a test.
FROZEN_AT = 1_790_000_015.0
STEP = int(FROZEN_AT // 30)


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> float:
    monkeypatch.setattr(mfa_service, "now", lambda: FROZEN_AT)
    return FROZEN_AT


@dataclass
class Mfa:
    secret: str
    recovery_codes: list[str]

    def code(self, step: int) -> str:
        return pyotp.TOTP(self.secret).generate_otp(step)


async def enable_mfa(client: httpx.AsyncClient, account: Account, *, step: int = STEP - 1) -> Mfa:
    """Enrol and confirm with the code of `step` (by default the previous step, leaving the
    current and next ones for the test)."""
    enrolled = await client.post("/users/me/mfa/totp", headers=account.headers, json={"password": PASSWORD})
    assert enrolled.status_code == 201, enrolled.text
    secret = enrolled.json()["secret"]
    code = pyotp.TOTP(secret).generate_otp(step)
    confirmed = await client.post("/users/me/mfa/totp/confirm", headers=account.headers, json={"code": code})
    assert confirmed.status_code == 200, confirmed.text
    return Mfa(secret=secret, recovery_codes=confirmed.json()["recovery_codes"])


async def login(client: httpx.AsyncClient, email: str, otp: str | None = None) -> httpx.Response:
    body: dict[str, str] = {"email": email, "password": PASSWORD}
    if otp is not None:
        body["otp"] = otp
    return await client.post("/auth/login", json=body)


def user_id(response: httpx.Response) -> uuid.UUID:
    return uuid.UUID(response.json()["user"]["id"])
