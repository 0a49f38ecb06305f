import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from app.core.database import SessionDep
from app.core.dependencies import PageDep
from app.core.schemas import AwareDatetime, Page
from app.services.audit import service as audit_service
from app.services.audit.schemas import AuditEntryRead
from app.services.audit.service import AuditFilters
from app.services.auth.dependencies import AdminUser, CurrentUser
from app.services.organizations.dependencies import OrgManager

router = APIRouter(tags=["audit"])


async def get_audit_filters(
    action: Annotated[str | None, Query(max_length=64)] = None,
    actor_id: uuid.UUID | None = None,
    target_id: uuid.UUID | None = None,
    since: Annotated[AwareDatetime | None, Query(description="Inclusive, RFC 3339")] = None,
    until: Annotated[AwareDatetime | None, Query(description="Exclusive, RFC 3339")] = None,
) -> AuditFilters:
    return AuditFilters(action=action, actor_id=actor_id, target_id=target_id, since=since, until=until)


AuditFiltersDep = Annotated[AuditFilters, Depends(get_audit_filters)]


def _page(rows: list[AuditEntryRead], total: int, page: PageDep) -> Page[AuditEntryRead]:
    return Page.build(rows, total=total, page=page.page, size=page.size)


@router.get("/admin/audit")
async def list_audit_entries(
    _: AdminUser,
    session: SessionDep,
    page: PageDep,
    filters: AuditFiltersDep,
    organization_id: uuid.UUID | None = None,
) -> Page[AuditEntryRead]:
    """Administrators: every audit entry, newest first."""
    rows, total = await audit_service.get_all(
        session, filters=filters, organization_id=organization_id, offset=page.offset, limit=page.size
    )
    return _page([AuditEntryRead.model_validate(r) for r in rows], total, page)


@router.get("/organizations/{organization_id}/audit")
async def list_organization_audit_entries(
    access: OrgManager, session: SessionDep, page: PageDep, filters: AuditFiltersDep
) -> Page[AuditEntryRead]:
    """Owners, managers and administrators: the organization's audit entries, newest first."""
    rows, total = await audit_service.get_all(
        session, filters=filters, organization_id=access.organization.id, offset=page.offset, limit=page.size
    )
    return _page([AuditEntryRead.model_validate(r) for r in rows], total, page)


@router.get("/users/me/audit")
async def list_my_audit_entries(
    user: CurrentUser, session: SessionDep, page: PageDep, filters: AuditFiltersDep
) -> Page[AuditEntryRead]:
    """The audit entries about you (sign-ins, password and MFA changes, your memberships), newest first."""
    rows, total = await audit_service.get_all(
        session, filters=filters, target_id=user.id, offset=page.offset, limit=page.size
    )
    return _page([AuditEntryRead.model_validate(r) for r in rows], total, page)
