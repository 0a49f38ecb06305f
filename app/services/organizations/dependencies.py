"""Organization role gates for `/organizations/{organization_id}/...` and the like."""

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from app.core.database import SessionDep
from app.services.audit import service as audit_service
from app.services.auth.dependencies import CurrentUser
from app.services.organizations import service as organizations_service
from app.services.organizations.models import MemberRole, Organization
from app.services.users.models import User


@dataclass(frozen=True, slots=True)
class OrgAccess:
    """Who is acting on an organization: its role there, or None for a platform admin."""

    organization: Organization
    user: User
    role: MemberRole | None

    @property
    def actor(self) -> audit_service.Actor:
        return audit_service.Actor.user(self.user.id)


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
