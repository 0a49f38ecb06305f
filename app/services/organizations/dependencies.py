"""Organization role gates for `/organizations/{organization_id}/...` and the like."""

import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends

from app.core.database import SessionDep
from app.services.apikeys.scopes import Scope
from app.services.apikeys.service import ApiKeyPrincipal
from app.services.audit import service as audit_service
from app.services.auth.dependencies import Caller, CurrentUser, require_caller
from app.services.organizations import service as organizations_service
from app.services.organizations.errors import OrganizationNotFound
from app.services.organizations.models import MemberRole, Organization
from app.services.users.models import User


@dataclass(frozen=True, slots=True)
class OrgAccess:
    """Who is acting on an organization: a user with their role there (None for a platform
    admin), or one of the organization's API keys (`user` and `role` None)."""

    organization: Organization
    user: User | None
    role: MemberRole | None
    api_key: ApiKeyPrincipal | None = None

    @property
    def actor(self) -> audit_service.Actor:
        if self.api_key is not None:
            return self.api_key.actor
        assert self.user is not None
        return audit_service.Actor.user(self.user.id)

    @property
    def user_id(self) -> uuid.UUID | None:
        """The acting user's id; None for an API key."""
        return self.user.id if self.user is not None else None


async def _access(session: SessionDep, *, organization_id: uuid.UUID, caller: Caller, minimum: MemberRole) -> OrgAccess:
    if isinstance(caller, ApiKeyPrincipal):
        if caller.organization_id != organization_id:
            raise OrganizationNotFound()  # another organization's: 404
        organization = await organizations_service.get_or_raise(session, organization_id)
        return OrgAccess(organization=organization, user=None, role=None, api_key=caller)
    organization = await organizations_service.get_or_raise(session, organization_id)
    role = await organizations_service.require_member_role(
        session, user=caller, organization_id=organization.id, minimum=minimum
    )
    return OrgAccess(organization=organization, user=caller, role=role)


def require_org_role(minimum: MemberRole, *, scope: str | None = None) -> Any:
    """Gate for `/organizations/{organization_id}/...`: members of at least `minimum`, or admins;
    with `scope`, also the organization's API keys holding it (another organization's key: 404).
    Without `scope` every API key is refused (403 `insufficient_scope`).

    The organization itself is public, so an outsider gets 403 (not 404) here.
    """
    if scope is None:

        async def user_gate(organization_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> OrgAccess:
            return await _access(session, organization_id=organization_id, caller=user, minimum=minimum)

        return Depends(user_gate)

    async def gate(
        organization_id: uuid.UUID, session: SessionDep, caller: Annotated[Caller, require_caller(scope)]
    ) -> OrgAccess:
        return await _access(session, organization_id=organization_id, caller=caller, minimum=minimum)

    return Depends(gate)


OrgStaff = Annotated[OrgAccess, require_org_role(MemberRole.staff)]
OrgManager = Annotated[OrgAccess, require_org_role(MemberRole.manager)]
OrgOwner = Annotated[OrgAccess, require_org_role(MemberRole.owner)]
# The organization's own staff operations, with the scope an API key needs for them.
OrgCatalogEditor = Annotated[OrgAccess, require_org_role(MemberRole.manager, scope=Scope.catalog_write)]
OrgMemberReader = Annotated[OrgAccess, require_org_role(MemberRole.staff, scope=Scope.members_read)]

# What the gates answer, for the `responses=` of the routes that use them (the OpenAPI document).
GATE_RESPONSES: dict[int | str, dict[str, Any]] = {
    403: {
        "description": "`forbidden`: not a member of this organization with the role needed; "
        "`mfa_required`: the organization requires two-factor sign-in and yours is off; "
        "`insufficient_scope`: an API key without the scope this operation needs"
    },
    404: {"description": "`not_found`: no such organization"},
}
