"""The helpdesk's gates, defined once. The organization routes take the organization's API keys
with `tickets:read` / `tickets:write` (`access.user` is then None: use `access.organization`,
`access.actor`, `access.user_id`); so do the routes reached by a ticket's id (`TicketViewer`,
`TicketWorker`, `TicketSender`) and filing a ticket, where the service decides and anyone who may
not see the ticket (another organization's key among them) gets 404.

Routes under `/organizations/{organization_id}/...` use the organization gates. The queue and a
ticket's read are hot paths: they take the token's claims or a key (`require_access`) and check
the login and the membership in their statement. Routes reached by a category's id take a
signed-in user or a key with `tickets:write` (`TicketWorker`).
"""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends

from app.core.security import AccessClaims
from app.services.apikeys.scopes import Scope
from app.services.apikeys.service import ApiKeyPrincipal
from app.services.auth.dependencies import (
    Caller,
    CurrentUser,
    Login,
    require_access,
    require_caller,
    require_login_or_key,
)
from app.services.organizations.dependencies import OrgAccess, require_org_role
from app.services.organizations.models import MemberRole

# Members reading an organization's tickets, reports and SLA settings.
TicketReader = Annotated[OrgAccess, require_org_role(MemberRole.staff, scope=Scope.tickets_read)]
# The hot paths (the queue, a ticket's read): the token's claims, whose login, membership or
# requester the statement checks, or a key holding `tickets:read`.
TicketHotReader = Annotated[AccessClaims | ApiKeyPrincipal, require_access(Scope.tickets_read)]
# Owners and managers changing categories and the SLA.
HelpdeskManager = Annotated[OrgAccess, require_org_role(MemberRole.manager, scope=Scope.tickets_write)]
# Anyone signed in, on routes reached by a category's id (members, admins: the service checks).
TicketUser = CurrentUser
# On routes reached by a ticket's id: anyone signed in (requester, members, admins: the service
# checks), or an organization's key with `tickets:read`, resp. `tickets:write`.
TicketViewer = Annotated[Caller, require_caller(Scope.tickets_read)]
TicketWorker = Annotated[Caller, require_caller(Scope.tickets_write)]
# The same for writing in a thread or filing a ticket, with the login (the send statement checks it).
TicketSender = Annotated[Login | ApiKeyPrincipal, require_login_or_key(Scope.tickets_write)]


async def get_now() -> datetime:
    """The time business rules read (SLA, reopen window). Tests override this dependency."""
    return datetime.now(UTC)


Now = Annotated[datetime, Depends(get_now)]
