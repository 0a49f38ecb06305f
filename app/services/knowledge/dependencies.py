"""Gates of the knowledge base: members write (signed-in members only: an API key gets 403
`insufficient_scope`, as `tickets:read` must not write articles), anyone reads published articles
and asks the assistant."""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request

from app.core.database import SessionDep
from app.core.errors import NotAuthenticated
from app.core.security import AccessClaims, InvalidToken, TokenSigner
from app.services.auth import service as auth_service
from app.services.auth.errors import LoginEnded
from app.services.organizations.dependencies import OrgAccess, require_org_role
from app.services.organizations.models import MemberRole
from app.services.tickets.dependencies import TicketUser
from app.services.users.models import User

ArticleWriter = Annotated[OrgAccess, require_org_role(MemberRole.staff)]
ArticleEditor = TicketUser


async def get_optional_access(request: Request) -> AccessClaims | None:
    """The access token's claims when a bearer token is sent (a bad one is a 401), else None: public
    reads show members their organization's drafts too. No database read: the hot path checks the
    login in its own statement (`get_optional_user` for the rest)."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        return None
    if scheme.lower() != "bearer" or not token:
        raise NotAuthenticated()
    signer: TokenSigner = request.app.state.signer
    try:
        return signer.verify_access(token.strip())
    except InvalidToken as exc:
        raise NotAuthenticated("The access token is invalid or expired.") from exc


OptionalAccess = Annotated[AccessClaims | None, Depends(get_optional_access)]


async def get_optional_user(claims: OptionalAccess, session: SessionDep) -> User | None:
    """The signed-in user behind `get_optional_access`, else None."""
    if claims is None:
        return None
    user = await auth_service.get_user_for_access(session, claims=claims)
    if user is None:
        raise LoginEnded()
    return user


OptionalUser = Annotated[User | None, Depends(get_optional_user)]


async def get_now() -> datetime:
    return datetime.now(UTC)


Now = Annotated[datetime, Depends(get_now)]
