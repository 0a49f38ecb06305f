"""The property vertical's gates, defined once: API-key scopes (`property:read`, `property:write`)
join here when `require_org_role` takes them.

- `PropertyReader` / `PropertyWriter` / `PropertyManager`: `/organizations/{organization_id}/...`
  routes of a property organization (any member reads and writes, owners and managers change the
  settings); another kind of organization is a 409 `wrong_organization_kind`.
- `ProjectStaff`, `UnitStaff`, `MilestoneStaff`: routes of a project (or its unit, milestone) that
  only the builder's members (or an admin) use; 404 for a project the caller cannot see, 403 for
  one they can.
- `Viewer`: the signed-in user if a token is sent, else None (public reads that show staff more);
  `ViewerClaims`: its token's claims only, for the hot reads that check the login in their statement.
- `Now`: the clock, replaced in tests.
"""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request

from app.core.database import SessionDep
from app.core.errors import NotAuthenticated, PermissionDenied
from app.core.security import AccessClaims, InvalidToken, TokenSigner
from app.services.auth import service as auth_service
from app.services.auth.dependencies import CurrentUser
from app.services.organizations.dependencies import OrgAccess, require_org_role
from app.services.organizations.models import MemberRole, OrganizationKind
from app.services.properties import milestones as milestones_service
from app.services.properties import service as properties_service
from app.services.properties.errors import WrongOrganizationKind
from app.services.properties.models import Milestone, Project, Unit
from app.services.users.models import User


async def get_now() -> datetime:
    return datetime.now(UTC)


Now = Annotated[datetime, Depends(get_now)]


async def get_viewer_claims(request: Request) -> AccessClaims | None:
    """The access token's claims on a public read (no database read): None without a token, 401
    for a bad one. Whether its login is still open is the read's own statement to check."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if not token or scheme.lower() != "bearer":
        return None
    signer: TokenSigner = request.app.state.signer
    try:
        return signer.verify_access(token)
    except InvalidToken as exc:
        raise NotAuthenticated("The access token is invalid or expired.") from exc


ViewerClaims = Annotated[AccessClaims | None, Depends(get_viewer_claims)]


async def get_viewer(claims: ViewerClaims, session: SessionDep) -> User | None:
    """The caller of a public read: None without a token, 401 for a bad one or an ended login."""
    if claims is None:
        return None
    user = await auth_service.get_user_for_access(session, claims=claims)
    if user is None:
        raise NotAuthenticated("The login has ended.")
    return user


Viewer = Annotated[User | None, Depends(get_viewer)]


def _property_kind(access: OrgAccess) -> OrgAccess:
    if access.organization.kind != OrganizationKind.property:
        raise WrongOrganizationKind()
    return access


async def _reader(access: Annotated[OrgAccess, require_org_role(MemberRole.staff)]) -> OrgAccess:
    return _property_kind(access)


async def _writer(access: Annotated[OrgAccess, require_org_role(MemberRole.staff)]) -> OrgAccess:
    return _property_kind(access)


async def _manager(access: Annotated[OrgAccess, require_org_role(MemberRole.manager)]) -> OrgAccess:
    return _property_kind(access)


PropertyReader = Annotated[OrgAccess, Depends(_reader)]
PropertyWriter = Annotated[OrgAccess, Depends(_writer)]
PropertyManager = Annotated[OrgAccess, Depends(_manager)]


@dataclass(frozen=True, slots=True)
class ProjectAccess:
    project: Project
    user: User


async def require_project_staff(project_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> ProjectAccess:
    project = await properties_service.get_visible_project(session, project_id=project_id, viewer=user)
    if not await properties_service.is_staff(session, user=user, organization_id=project.organization_id):
        raise PermissionDenied()
    return ProjectAccess(project=project, user=user)


ProjectStaff = Annotated[ProjectAccess, Depends(require_project_staff)]


@dataclass(frozen=True, slots=True)
class UnitAccess:
    unit: Unit
    project: Project
    user: User


async def require_unit_staff(unit_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> UnitAccess:
    unit, project = await properties_service.get_visible_unit(session, unit_id=unit_id, viewer=user, for_update=True)
    if not await properties_service.is_staff(session, user=user, organization_id=project.organization_id):
        raise PermissionDenied()
    return UnitAccess(unit=unit, project=project, user=user)


UnitStaff = Annotated[UnitAccess, Depends(require_unit_staff)]


@dataclass(frozen=True, slots=True)
class MilestoneAccess:
    milestone: Milestone
    project: Project
    user: User


async def require_milestone_staff(milestone_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> MilestoneAccess:
    milestone, project = await milestones_service.get_visible(
        session, milestone_id=milestone_id, viewer=user, for_update=True
    )
    if not await properties_service.is_staff(session, user=user, organization_id=project.organization_id):
        raise PermissionDenied()
    return MilestoneAccess(milestone=milestone, project=project, user=user)


MilestoneStaff = Annotated[MilestoneAccess, Depends(require_milestone_staff)]
