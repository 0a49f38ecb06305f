"""Gates of the e-mail templates: owners and managers (API-key scopes go here)."""

from typing import Annotated

from app.services.organizations.dependencies import OrgAccess, require_org_role
from app.services.organizations.models import MemberRole
from app.services.tickets.dependencies import Now

TemplateManager = Annotated[OrgAccess, require_org_role(MemberRole.manager)]

__all__ = ["Now", "TemplateManager"]
