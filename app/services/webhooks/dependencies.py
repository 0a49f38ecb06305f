"""Gates of the webhooks: owners and managers (API-key scopes go here)."""

from typing import Annotated

from app.services.organizations.dependencies import OrgAccess, require_org_role
from app.services.organizations.models import MemberRole
from app.services.tickets.dependencies import TicketUser

WebhookManager = Annotated[OrgAccess, require_org_role(MemberRole.manager)]
WebhookUser = TicketUser
