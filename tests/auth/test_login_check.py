"""The one login check (`auth_service.login_is_open`) as the socket audit reads it."""

import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.security import AccessClaims
from app.services.auth import service as auth_service
from app.services.auth.models import LoginSession
from tests.insights.factories import make_user


async def test_login_states_tell_open_ended_and_disabled_apart(session: AsyncSession) -> None:
    active, revoked, deactivated, both = [await make_user(session) for _ in range(4)]
    logins = {user.id: LoginSession(user_id=user.id) for user in (active, revoked, deactivated, both)}
    session.add_all(logins.values())
    await session.flush()
    for user in (revoked, both):
        logins[user.id].revoked_at = datetime.now(UTC)
    for user in (deactivated, both):
        user.is_active = False
    await session.flush()
    claims = {key: AccessClaims(user_id=key, session_id=login.id) for key, login in logins.items()}
    stranger = AccessClaims(user_id=uuid.uuid4(), session_id=logins[active.id].id)
    states = await auth_service.login_states(await session.connection(), [*claims.values(), stranger])
    assert states[claims[active.id]] == auth_service.LoginState.open
    assert states[claims[revoked.id]] == auth_service.LoginState.ended
    assert states[claims[deactivated.id]] == auth_service.LoginState.disabled
    assert states[claims[both.id]] == auth_service.LoginState.ended  # an admin's deactivation also revokes
    assert states[stranger] == auth_service.LoginState.ended
