"""Gates of the automation rules: owners and managers (API-key scopes go here)."""

from typing import Annotated

from app.services.organizations.dependencies import OrgAccess, require_org_role
from app.services.organizations.models import MemberRole
from app.services.tickets.dependencies import Now, TicketUser

AutomationManager = Annotated[OrgAccess, require_org_role(MemberRole.manager)]
AutomationUser = TicketUser

__all__ = ["AutomationManager", "AutomationUser", "Now"]
