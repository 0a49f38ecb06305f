"""Who posts an inbound message: the organization of an API key holding `tickets:write`
(`X-API-Key`) or of an inbound secret (`X-Inbound-Secret`), never both."""

from typing import Annotated

from fastapi import Depends, Header, Request

from app.core.database import SessionDep
from app.services.apikeys.errors import AmbiguousCredentials, InsufficientScope
from app.services.apikeys.scopes import Scope
from app.services.auth.dependencies import API_KEY_HEADER, get_api_key
from app.services.inbound_mail import service as inbound_mail_service
from app.services.organizations import service as organizations_service
from app.services.organizations.models import Organization


async def get_inbound_organization(
    request: Request,
    session: SessionDep,
    x_inbound_secret: Annotated[str | None, Header(max_length=200)] = None,
) -> Organization:
    """The organization the message is for. Both headers: 401 `ambiguous_credentials` (checked
    before the key is counted against its rate limit); neither: 401 `not_authenticated`."""
    if API_KEY_HEADER not in request.headers:
        return await inbound_mail_service.organization_of(session, secret=x_inbound_secret)
    if x_inbound_secret is not None:
        raise AmbiguousCredentials("Send either X-API-Key or X-Inbound-Secret, not both.")
    api_key = await get_api_key(request)
    assert api_key is not None
    if not api_key.allows(Scope.tickets_write):
        raise InsufficientScope(f"Posting inbound e-mail needs the `{Scope.tickets_write}` scope.")
    return await organizations_service.get_or_raise(session, api_key.organization_id)


InboundOrganization = Annotated[Organization, Depends(get_inbound_organization)]
