import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from fastapi.responses import JSONResponse

from app.core.database import SessionDep
from app.core.dependencies import PageDep
from app.core.schemas import Page
from app.services.apikeys import service as apikeys_service
from app.services.apikeys.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyRead
from app.services.audit import service as audit_service
from app.services.audit.dependencies import AuditFiltersDep, audit_page
from app.services.audit.schemas import AuditEntryRead
from app.services.auth.dependencies import AdminUser
from app.services.organizations import service as organizations_service
from app.services.organizations.dependencies import (
    GATE_RESPONSES,
    OrgCatalogEditor,
    OrgManager,
    OrgMemberReader,
    OrgOwner,
)
from app.services.organizations.models import OrganizationKind
from app.services.organizations.schemas import (
    DepartmentCreate,
    DepartmentRead,
    MemberCreate,
    MemberRead,
    OrganizationCreate,
    OrganizationRead,
    OrganizationUpdate,
    SecurityRead,
    SecurityUpdate,
)

router = APIRouter(prefix="/organizations", tags=["organizations"])


@router.post(
    "", status_code=status.HTTP_201_CREATED, responses={403: {"description": "`forbidden`: administrators only"}}
)
async def create_organization(data: OrganizationCreate, _: AdminUser, session: SessionDep) -> OrganizationRead:
    """Platform administrators: register an organization. Add its first owner with `POST .../members`."""
    return OrganizationRead.model_validate(await organizations_service.create(session, data=data))


@router.get("")
async def list_organizations(
    session: SessionDep,
    page: PageDep,
    q: Annotated[str | None, Query(max_length=200)] = None,
    kind: OrganizationKind | None = None,
) -> Page[OrganizationRead]:
    """Public: search organizations by name and kind."""
    rows, total = await organizations_service.get_all(session, q=q, kind=kind, offset=page.offset, limit=page.size)
    return Page.build([OrganizationRead.model_validate(r) for r in rows], total=total, page=page.page, size=page.size)


@router.get("/{organization_id}", responses={404: {"description": "`not_found`"}})
async def get_organization(organization_id: uuid.UUID, session: SessionDep) -> OrganizationRead:
    """Public: one organization."""
    return OrganizationRead.model_validate(await organizations_service.get_or_raise(session, organization_id))


@router.patch("/{organization_id}", responses=GATE_RESPONSES)
async def update_organization(
    data: OrganizationUpdate, access: OrgCatalogEditor, session: SessionDep
) -> OrganizationRead:
    """Owners, managers and administrators: change the organization's details."""
    organization = await organizations_service.update(session, organization=access.organization, data=data)
    return OrganizationRead.model_validate(organization)


@router.post(
    "/{organization_id}/departments",
    status_code=status.HTTP_201_CREATED,
    responses={**GATE_RESPONSES, 409: {"description": "`department_exists`"}},
)
async def create_department(data: DepartmentCreate, access: OrgCatalogEditor, session: SessionDep) -> DepartmentRead:
    """Owners, managers and administrators: add a department (names are unique per organization)."""
    department = await organizations_service.create_department(
        session, organization=access.organization, name=data.name
    )
    return DepartmentRead.model_validate(department)


@router.get("/{organization_id}/departments", responses={404: {"description": "`not_found`"}})
async def list_departments(organization_id: uuid.UUID, session: SessionDep, page: PageDep) -> Page[DepartmentRead]:
    """Public: the organization's departments."""
    organization = await organizations_service.get_or_raise(session, organization_id)
    rows, total = await organizations_service.get_departments(
        session, organization=organization, offset=page.offset, limit=page.size
    )
    return Page.build([DepartmentRead.model_validate(r) for r in rows], total=total, page=page.page, size=page.size)


@router.post(
    "/{organization_id}/members",
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"description": "The person was already a member; their role, title and department were updated"},
        **GATE_RESPONSES,
        403: {"description": "`forbidden`: not a manager here, a role above your own, or your own clinical role"},
        409: {"description": "`last_owner`: demoting the only owner"},
        422: {"description": "`user_not_found`, `department_not_found`, `not_a_clinic`"},
    },
)
async def add_member(data: MemberCreate, access: OrgManager, session: SessionDep, response: Response) -> MemberRead:
    """Owners, managers and administrators: make a registered user a member, or change their membership
    (role, title, department and, in a clinic, `clinical_role`: `doctor`, `nurse` or null).

    Nobody can give a role above their own, nor change a member who ranks above them.
    """
    member, created = await organizations_service.add_member(
        session, organization=access.organization, actor=access.actor, actor_role=access.role, data=data
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return MemberRead.model_validate(member)


@router.get("/{organization_id}/members", responses=GATE_RESPONSES)
async def list_members(access: OrgMemberReader, session: SessionDep, page: PageDep) -> Page[MemberRead]:
    """Members and administrators: the organization's people."""
    rows, total = await organizations_service.get_members(
        session, organization=access.organization, offset=page.offset, limit=page.size
    )
    return Page.build([MemberRead.model_validate(r) for r in rows], total=total, page=page.page, size=page.size)


@router.delete(
    "/{organization_id}/members/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={
        **GATE_RESPONSES,
        403: {"description": "`forbidden`: not an owner or manager here, or a member above your own role"},
        404: {"description": "`not_found`: no such organization, or not a member of it"},
        409: {"description": "`last_owner`"},
    },
)
async def remove_member(user_id: uuid.UUID, access: OrgManager, session: SessionDep) -> None:
    """Owners, managers and administrators: remove a member (never the last owner)."""
    await organizations_service.remove_member(
        session, organization=access.organization, actor=access.actor, actor_role=access.role, user_id=user_id
    )


NO_STORE = {"Cache-Control": "no-store"}


@router.post(
    "/{organization_id}/api-keys",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiKeyCreated,
    responses={
        **GATE_RESPONSES,
        409: {"description": "`too_many_api_keys`"},
        422: {"description": "`validation_error`"},
    },
)
async def create_api_key(data: ApiKeyCreate, access: OrgManager, session: SessionDep) -> JSONResponse:
    """Owners, managers and administrators: a key that acts as the organization with exactly
    `scopes`. The `key` is in this answer only (`Cache-Control: no-store`); keep it secret."""
    api_key, key = await apikeys_service.create(
        session, organization_id=access.organization.id, actor=access.actor, created_by=access.user_id, data=data
    )
    body = ApiKeyCreated.model_validate({**ApiKeyRead.model_validate(api_key).model_dump(), "key": key})
    return JSONResponse(body.model_dump(mode="json"), status_code=status.HTTP_201_CREATED, headers=NO_STORE)


@router.get("/{organization_id}/api-keys", responses=GATE_RESPONSES)
async def list_api_keys(access: OrgManager, session: SessionDep, page: PageDep) -> Page[ApiKeyRead]:
    """Owners, managers and administrators: the organization's keys, newest first, revoked ones
    included (never their secret)."""
    rows, total = await apikeys_service.get_all(
        session, organization_id=access.organization.id, offset=page.offset, limit=page.size
    )
    return Page.build([ApiKeyRead.model_validate(r) for r in rows], total=total, page=page.page, size=page.size)


@router.delete(
    "/{organization_id}/api-keys/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**GATE_RESPONSES, 404: {"description": "`not_found`: no such organization, or no such key of it"}},
)
async def revoke_api_key(key_id: uuid.UUID, access: OrgManager, session: SessionDep) -> None:
    """Owners, managers and administrators: revoke a key at once. It stays listed."""
    await apikeys_service.revoke(session, organization_id=access.organization.id, actor=access.actor, key_id=key_id)


@router.get("/{organization_id}/security", responses=GATE_RESPONSES)
async def get_security(access: OrgManager) -> SecurityRead:
    """Owners, managers and administrators: the organization's security policy."""
    return SecurityRead(require_mfa=access.organization.require_mfa)


@router.patch("/{organization_id}/security", responses=GATE_RESPONSES)
async def update_security(data: SecurityUpdate, access: OrgOwner, session: SessionDep) -> SecurityRead:
    """Owners and administrators: require two-factor sign-in of every member. While it is on, a
    member without it gets 403 `mfa_required` on everything done through the membership (an
    owner must have it on to turn the policy on); citizens are not affected."""
    assert access.user is not None  # the gate refuses API keys
    organization = await organizations_service.set_security(
        session, organization=access.organization, actor=access.user, require_mfa=data.require_mfa
    )
    return SecurityRead(require_mfa=organization.require_mfa)


@router.get("/{organization_id}/audit", tags=["audit"], responses=GATE_RESPONSES)
async def list_organization_audit_entries(
    access: OrgManager, session: SessionDep, page: PageDep, filters: AuditFiltersDep
) -> Page[AuditEntryRead]:
    """Owners, managers and administrators: the organization's audit entries, newest first."""
    rows, total = await audit_service.get_all(
        session, filters=filters, organization_id=access.organization.id, offset=page.offset, limit=page.size
    )
    return audit_page(rows, total, page)
