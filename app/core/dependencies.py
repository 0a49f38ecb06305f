"""Request dependencies: the signed-in user, role gates and page parameters.

This is the one core module that knows features (users, auth, organizations): it is where the
app's access rules are wired, so that every feature reuses the same gates.
"""

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import OAuth2PasswordBearer

from app.core.database import SessionDep
from app.core.errors import NotAuthenticated, PermissionDenied
from app.core.security import AccessClaims, InvalidToken, TokenSigner
from app.core.settings import Settings
from app.services.auth import service as auth_service
from app.services.auth.errors import LoginEnded
from app.services.organizations import service as organizations_service
from app.services.organizations.models import MemberRole, Organization
from app.services.users.models import Role, User


async def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_signer(request: Request) -> TokenSigner:
    signer: TokenSigner = request.app.state.signer
    return signer


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
SignerDep = Annotated[TokenSigner, Depends(get_signer)]


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


@dataclass(frozen=True, slots=True)
class PageParams:
    page: int
    size: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size


async def get_page_params(
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    size: Annotated[int, Query(ge=1, le=100)] = 20,
) -> PageParams:
    return PageParams(page=page, size=size)


PageDep = Annotated[PageParams, Depends(get_page_params)]


@dataclass(frozen=True, slots=True)
class OrgAccess:
    """Who is acting on an organization: its role there, or None for a platform admin."""

    organization: Organization
    user: User
    role: MemberRole | None


def require_org_role(minimum: MemberRole):  # type: ignore[no-untyped-def]
    """Gate for `/organizations/{organization_id}/...`: members of at least `minimum`, or admins.

    The organization itself is public, so an outsider gets 403 (not 404) here.
    """

    async def gate(organization_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> OrgAccess:
        organization = await organizations_service.get_or_raise(session, organization_id)
        role = await organizations_service.require_member_role(
            session, user=user, organization_id=organization.id, minimum=minimum
        )
        return OrgAccess(organization=organization, user=user, role=role)

    return Depends(gate)


OrgStaff = Annotated[OrgAccess, require_org_role(MemberRole.staff)]
OrgManager = Annotated[OrgAccess, require_org_role(MemberRole.manager)]
