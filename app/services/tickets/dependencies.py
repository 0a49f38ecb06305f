"""The helpdesk's gates, defined once: API-key scopes (`tickets:read`, `tickets:write`) are added
here when `require_org_role` takes them, and every ticket route follows.

Routes under `/organizations/{organization_id}/...` use the organization gates; routes reached by a
ticket's or category's own id take the signed-in user (`TicketUser`) and the service decides, so
that outsiders get 404 there.
"""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends

from app.services.auth.dependencies import CurrentLogin, CurrentUser
from app.services.organizations.dependencies import OrgAccess, require_org_role
from app.services.organizations.models import MemberRole

# Members reading an organization's tickets, reports and SLA settings.
TicketReader = Annotated[OrgAccess, require_org_role(MemberRole.staff)]
# Owners and managers changing categories and the SLA.
HelpdeskManager = Annotated[OrgAccess, require_org_role(MemberRole.manager)]
# Anyone signed in, on routes reached by a ticket's id (requester, members, admins: the service checks).
TicketUser = CurrentUser
# The same, with the login (sending a message checks the login in the send statement).
TicketLogin = CurrentLogin


async def get_now() -> datetime:
    """The time business rules read (SLA, reopen window). Tests override this dependency."""
    return datetime.now(UTC)


Now = Annotated[datetime, Depends(get_now)]
