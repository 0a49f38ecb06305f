"""The helpdesk's gates, defined once: the organization routes take the organization's API keys
with `tickets:read` / `tickets:write` (`access.user` is then None: use `access.organization`,
`access.actor`, `access.user_id`).

Routes under `/organizations/{organization_id}/...` use the organization gates; routes reached by a
ticket's or category's own id take the signed-in user (`TicketUser`) and the service decides, so
that outsiders get 404 there. The queue and a ticket's read are hot paths: they take the token's
claims or a key (`require_access`) and check the login and the membership in their statement.
"""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends

from app.core.security import AccessClaims
from app.services.apikeys.scopes import Scope
from app.services.apikeys.service import ApiKeyPrincipal
from app.services.auth.dependencies import CurrentLogin, CurrentUser, require_access
from app.services.organizations.dependencies import OrgAccess, require_org_role
from app.services.organizations.models import MemberRole

# Members reading an organization's tickets, reports and SLA settings.
TicketReader = Annotated[OrgAccess, require_org_role(MemberRole.staff, scope=Scope.tickets_read)]
# The same gate on the queue's hot path: the token's claims (the statement checks the login and the
# membership) or a key holding `tickets:read`.
TicketQueueAccess = Annotated[AccessClaims | ApiKeyPrincipal, require_access(Scope.tickets_read)]
# A ticket's read, its hot path too: the statement decides requester, member or 404.
TicketReadAccess = TicketQueueAccess
# Owners and managers changing categories and the SLA.
HelpdeskManager = Annotated[OrgAccess, require_org_role(MemberRole.manager, scope=Scope.tickets_write)]
# Anyone signed in, on routes reached by a ticket's id (requester, members, admins: the service checks).
TicketUser = CurrentUser
# The same, with the login (sending a message checks the login in the send statement).
TicketLogin = CurrentLogin


async def get_now() -> datetime:
    """The time business rules read (SLA, reopen window). Tests override this dependency."""
    return datetime.now(UTC)


Now = Annotated[datetime, Depends(get_now)]
