"""The appointments' gates, each with the scope an organization's API key needs for it."""

from typing import Annotated

from app.core.security import AccessClaims
from app.services.apikeys.scopes import Scope
from app.services.apikeys.service import ApiKeyPrincipal
from app.services.auth.dependencies import Caller, require_access, require_caller
from app.services.organizations.dependencies import OrgAccess, require_org_role
from app.services.organizations.models import MemberRole

# A user (owner, staff, admin: the service decides) or a key with the scope.
AppointmentReader = Annotated[Caller, require_caller(Scope.appointments_read)]
AppointmentWriter = Annotated[Caller, require_caller(Scope.appointments_write)]
# The same for the hot read by id: the access token's claims, no database read.
AppointmentReadAccess = Annotated[AccessClaims | ApiKeyPrincipal, require_access(Scope.appointments_read)]
QueueReader = Annotated[OrgAccess, require_org_role(MemberRole.staff, scope=Scope.appointments_read)]
