"""Who is calling: access-token claims, the login session, an organization's API key, and the
platform role gate.

Protection is the default: `CurrentUser` and `AccessDep` refuse an API key (403
`insufficient_scope`); only gates that name a scope (`require_caller`, and the organization
gates with `scope=`) let a key through.
"""

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.database import SessionDep, unit_of_work
from app.core.errors import NotAuthenticated, PermissionDenied, RateLimited
from app.core.security import AccessClaims, InvalidToken, TokenSigner
from app.core.settings import Settings
from app.services.apikeys import service as apikeys_service
from app.services.apikeys.errors import AmbiguousCredentials, InsufficientScope
from app.services.apikeys.service import ApiKeyPrincipal
from app.services.auth import service as auth_service
from app.services.auth.errors import LoginEnded
from app.services.auth.schemas import AuthResponse
from app.services.auth.service import ClientInfo, IssuedTokens
from app.services.users.models import Role, User
from app.services.users.schemas import UserRead


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
        if API_KEY_HEADER in request.headers:
            await get_api_key(request)  # 401 for a bad key or two credentials, 429 over the limit
            raise InsufficientScope("API keys cannot do this; it needs a signed-in user.")
        token = await super().__call__(request)
        if not token:
            raise NotAuthenticated()
        signer: TokenSigner = request.app.state.signer
        try:
            return signer.verify_access(token)
        except InvalidToken as exc:
            raise NotAuthenticated("The access token is invalid or expired.") from exc


API_KEY_HEADER = "x-api-key"
_MAX_KEY_LENGTH = 200


async def get_api_key(request: Request) -> ApiKeyPrincipal | None:
    """The request's API key (`X-API-Key`), authenticated and counted against its rate limit, or
    None without the header. Sent with `Authorization` too: 401 `ambiguous_credentials`."""
    raw = request.headers.get(API_KEY_HEADER)
    if raw is None:
        return None
    known: ApiKeyPrincipal | None = getattr(request.state, "api_key", None)
    if known is not None:
        return known
    if "authorization" in request.headers:
        raise AmbiguousCredentials()
    settings: Settings = request.app.state.settings
    async with unit_of_work(request.app.state.sessionmaker) as session:
        principal, wait = await apikeys_service.authenticate(
            session, key=raw[:_MAX_KEY_LENGTH], requests_per_minute=settings.api_key_requests_per_minute
        )
    if wait is not None:
        raise RateLimited(wait, "Too many requests with this API key; try again later.")
    request.state.api_key = principal
    return principal


ApiKeyDep = Annotated[ApiKeyPrincipal | None, Depends(get_api_key)]

_bearer = AccessToken(tokenUrl="/api/v1/auth/token", scheme_name="OAuth2PasswordBearer", auto_error=False)
AccessDep = Annotated[AccessClaims, Depends(_bearer)]


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


Caller = User | ApiKeyPrincipal


def require_caller(scope: str):  # type: ignore[no-untyped-def]
    """Gate for staff operations reached by a resource's own id (`/appointments/{id}/status`):
    the signed-in user, or an API key holding `scope` (403 `insufficient_scope` without it).
    Whether the caller may touch that resource is the service's query to answer (404 for
    another organization's)."""

    async def gate(request: Request, session: SessionDep, api_key: ApiKeyDep) -> Caller:
        caller = await _login_or_key(request, session, api_key, scope)
        return caller.user if isinstance(caller, Login) else caller

    return Depends(gate)


def require_login_or_key(scope: str):  # type: ignore[no-untyped-def]
    """`require_caller` with the user's login, for operations whose statement checks that the
    login is still open (sending a message)."""

    async def gate(request: Request, session: SessionDep, api_key: ApiKeyDep) -> Login | ApiKeyPrincipal:
        return await _login_or_key(request, session, api_key, scope)

    return Depends(gate)


async def _login_or_key(
    request: Request, session: AsyncSession, api_key: ApiKeyPrincipal | None, scope: str
) -> Login | ApiKeyPrincipal:
    if api_key is not None:
        if not api_key.allows(scope):
            raise InsufficientScope(f"This operation needs the `{scope}` scope.")
        return api_key
    return await get_current_login(session, await _bearer(request))


def require_access(scope: str):  # type: ignore[no-untyped-def]
    """`require_caller` for hot paths: the access token's claims (no database read), or a key."""

    async def gate(request: Request, api_key: ApiKeyDep) -> AccessClaims | ApiKeyPrincipal:
        if api_key is not None:
            if not api_key.allows(scope):
                raise InsufficientScope(f"This operation needs the `{scope}` scope.")
            return api_key
        return await _bearer(request)

    return Depends(gate)


def client_info(request: Request) -> ClientInfo:
    """Where a sign-in or registration comes from (kept with its login session)."""
    return ClientInfo(
        address=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
    )


def auth_response(user: User, tokens: IssuedTokens) -> AuthResponse:
    """The answer of every route that signs in (register, login, token, refresh)."""
    return AuthResponse(
        user=UserRead.model_validate(user),
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        expires_in=tokens.expires_in,
    )
