"""The audit log's query filters and page, shared by the routes that read it (accounts: admins
and the user's own entries; organizations: an organization's entries). Those routes live with
their gates, above this feature, which every feature that records an action imports."""

import uuid
from collections.abc import Sequence
from typing import Annotated

from fastapi import Depends, Query

from app.core.dependencies import PageDep
from app.core.schemas import AwareDatetime, Page
from app.services.audit.models import AuditEntry
from app.services.audit.schemas import AuditEntryRead
from app.services.audit.service import AuditFilters


async def get_audit_filters(
    action: Annotated[str | None, Query(max_length=64)] = None,
    actor_id: uuid.UUID | None = None,
    target_id: uuid.UUID | None = None,
    since: Annotated[AwareDatetime | None, Query(description="Inclusive, RFC 3339")] = None,
    until: Annotated[AwareDatetime | None, Query(description="Exclusive, RFC 3339")] = None,
) -> AuditFilters:
    return AuditFilters(action=action, actor_id=actor_id, target_id=target_id, since=since, until=until)


AuditFiltersDep = Annotated[AuditFilters, Depends(get_audit_filters)]


def audit_page(rows: Sequence[AuditEntry], total: int, page: PageDep) -> Page[AuditEntryRead]:
    return Page.build([AuditEntryRead.model_validate(r) for r in rows], total=total, page=page.page, size=page.size)
