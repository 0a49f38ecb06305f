"""Access tokens are accepted for exactly the configured audience."""

import httpx
import jwt

from app.core.security import ALGORITHM
from app.core.settings import Settings
from tests.helpers import register


def _resigned(token: str, settings: Settings, **changes: object) -> str:
    claims = jwt.decode(token, options={"verify_signature": False})
    assert settings.secret_key is not None
    return jwt.encode({**claims, **changes}, settings.secret_key, algorithm=ALGORITHM)


async def test_a_token_with_a_list_audience_is_refused(client: httpx.AsyncClient, settings: Settings) -> None:
    account = await register(client)
    for audience in ([settings.jwt_audience, "another-api"], [settings.jwt_audience]):
        token = _resigned(account.access_token, settings, aud=audience)
        response = await client.get("/users/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, audience
        assert response.headers["www-authenticate"] == "Bearer"


async def test_a_token_for_exactly_the_audience_is_accepted(client: httpx.AsyncClient, settings: Settings) -> None:
    account = await register(client)
    token = _resigned(account.access_token, settings, aud=settings.jwt_audience, jti="resigned")
    response = await client.get("/users/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
