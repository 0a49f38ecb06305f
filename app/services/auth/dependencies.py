"""The signed-in user: access-token claims, the login session and the platform role gate."""

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from app.core.database import SessionDep
from app.core.errors import NotAuthenticated, PermissionDenied
from app.core.security import AccessClaims, InvalidToken, TokenSigner
from app.services.auth import service as auth_service
from app.services.auth.errors import LoginEnded
from app.services.users.models import Role, User


@dataclass(frozen=True, slots=True)
class Login:
    """The signed-in user and the login session their access token belongs to."""

    user: User
    session_id: uuid.UUID


class AccessToken(OAuth2PasswordBearer):
    """The bearer scheme of the OpenAPI document, answering with the token's verified claims
    (no database read).

    One dependency where a scheme plus a verifying function would be two: FastAPI's dependency
    solving is a visible share of a hot path's CPU. Hot paths take the claims (`AccessDep`) and
    check that the login is still open inside their own statement (`auth_service.open_login`);
    everything else takes `CurrentUser`.
    """

    async def __call__(self, request: Request) -> AccessClaims:  # type: ignore[override]
        token = await super().__call__(request)
        if not token:
            raise NotAuthenticated()
        signer: TokenSigner = request.app.state.signer
        try:
            return signer.verify_access(token)
        except InvalidToken as exc:
            raise NotAuthenticated("The access token is invalid or expired.") from exc


AccessDep = Annotated[
    AccessClaims,
    Depends(AccessToken(tokenUrl="/api/v1/auth/token", scheme_name="OAuth2PasswordBearer", auto_error=False)),
]


async def get_current_login(session: SessionDep, claims: AccessDep) -> Login:
    user = await auth_service.get_user_for_access(session, claims=claims)
    if user is None:
        raise LoginEnded()
    return Login(user=user, session_id=claims.session_id)


CurrentLogin = Annotated[Login, Depends(get_current_login)]


async def get_current_user(login: CurrentLogin) -> User:
    return login.user


CurrentUser = Annotated[User, Depends(get_current_user)]


def require_role(role: Role):  # type: ignore[no-untyped-def]
    async def gate(user: CurrentUser) -> User:
        if user.role != role:
            raise PermissionDenied()
        return user

    return Depends(gate)


AdminUser = Annotated[User, require_role(Role.admin)]
