import uuid
from typing import Any

from fastapi import APIRouter, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from app.core.database import EngineDep, SessionDep
from app.core.dependencies import PageDep
from app.core.schemas import Page, page_response
from app.services.auth.dependencies import AccessDep, CurrentUser
from app.services.medical_records import service as medical_records_service
from app.services.medical_records.dependencies import Now, RequestId
from app.services.medical_records.models import EntryKind
from app.services.medical_records.schemas import (
    AccessLogRead,
    EntryAmend,
    EntryCreate,
    EntryData,
    EntryRead,
    parse_data,
)
from app.services.patients.dependencies import ClinicMember, PatientReader, PatientWriter

router = APIRouter(tags=["medical records"])

_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "`not_found`: no such record, or not one you may reach"}
}
_READ_ERRORS: dict[int | str, dict[str, Any]] = {
    **_NOT_FOUND,
    403: {"description": "`forbidden`: not a nurse or doctor; a confidential entry of your own record"},
}
_WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    **_NOT_FOUND,
    403: {"description": "`forbidden`: nurses write vital signs and notes, doctors every kind"},
    409: {"description": "`patient_archived`, `entry_superseded`"},
    422: {"description": "`validation_error`: `data` of the wrong shape for its kind, an effective time in the future"},
}


@router.post("/patients/{patient_id}/entries", status_code=status.HTTP_201_CREATED, responses=_WRITE_ERRORS)
async def create_entry(data: EntryCreate, access: PatientWriter, session: SessionDep, now: Now) -> EntryRead:
    """Nurses (`vital_signs`, `note`) and doctors (every kind): add an entry to the patient's history.

    `data` is typed by `kind`; unknown fields are refused. The history is append-only: to correct
    an entry, amend it.
    """
    return await medical_records_service.create(
        session,
        access=access,
        kind=EntryKind(data.kind),
        data=data.data,
        confidential=data.confidential,
        effective_at=data.effective_at,
        now=now,
    )


@router.get("/patients/{patient_id}/entries", response_model=Page[EntryRead], responses=_READ_ERRORS)
async def list_entries(
    patient_id: uuid.UUID,
    claims: AccessDep,
    engine: EngineDep,
    page: PageDep,
    request_id: RequestId,
    kind: EntryKind | None = None,
    include_superseded: bool = False,
) -> Response:
    """Nurses and doctors; the patient's own account sees its non-confidential entries.

    Current versions, newest `effective_at` first (`include_superseded=true` adds the old ones).
    Each read is recorded in the access log.
    """
    items, total = await medical_records_service.get_page(
        engine,
        claims=claims,
        patient_id=patient_id,
        kind=kind,
        include_superseded=include_superseded,
        request_id=request_id,
        offset=page.offset,
        limit=page.size,
    )
    return page_response(items, total=total, page=page.page, size=page.size)


@router.get("/entries/{entry_id}", responses=_READ_ERRORS)
async def get_entry(entry_id: uuid.UUID, user: CurrentUser, session: SessionDep, request_id: RequestId) -> EntryRead:
    """One version of an entry; `superseded_by_id` marks an old one. Recorded in the access log."""
    return await medical_records_service.get(session, entry_id=entry_id, user=user, request_id=request_id)


@router.get("/entries/{entry_id}/versions", responses=_READ_ERRORS)
async def list_entry_versions(
    entry_id: uuid.UUID, user: CurrentUser, session: SessionDep, request_id: RequestId
) -> list[EntryRead]:
    """The entry's versions, version 1 first. Recorded in the access log."""
    return await medical_records_service.get_versions(session, entry_id=entry_id, user=user, request_id=request_id)


@router.post("/entries/{entry_id}/amend", status_code=status.HTTP_201_CREATED, responses=_WRITE_ERRORS)
async def amend_entry(
    entry_id: uuid.UUID, data: EntryAmend, user: CurrentUser, session: SessionDep, now: Now
) -> EntryRead:
    """Correct an entry: a new version of the same kind, with a `reason`; the old one stays readable.

    Only the current version can be amended (409 `entry_superseded`, also for the loser of two
    concurrent amendments).
    """

    def parse(kind: EntryKind) -> EntryData:
        try:
            return parse_data(kind, data.data)
        except ValidationError as exc:
            errors = [{**error, "loc": ("body", "data", *error["loc"])} for error in exc.errors()]
            raise RequestValidationError(errors) from exc

    return await medical_records_service.amend(
        session,
        entry_id=entry_id,
        user=user,
        parse=parse,
        reason=data.reason,
        confidential=data.confidential,
        effective_at=data.effective_at,
        now=now,
    )


@router.get(
    "/patients/{patient_id}/access-log",
    responses={**_NOT_FOUND, 403: {"description": "`forbidden`: owners, managers and the patient only"}},
)
async def list_patient_access_log(access: PatientReader, session: SessionDep, page: PageDep) -> Page[AccessLogRead]:
    """Who read this patient's entries, newest first: the clinic's owners and managers, and the
    patient's own account."""
    rows, total = await medical_records_service.get_patient_log(
        session, access=access, offset=page.offset, limit=page.size
    )
    return Page.build([AccessLogRead.model_validate(r) for r in rows], total=total, page=page.page, size=page.size)


@router.get(
    "/organizations/{organization_id}/access-log",
    responses={**_NOT_FOUND, 403: {"description": "`forbidden`: owners and managers only"}},
)
async def list_clinic_access_log(
    access: ClinicMember,
    session: SessionDep,
    page: PageDep,
    patient_id: uuid.UUID | None = None,
    actor_id: uuid.UUID | None = None,
) -> Page[AccessLogRead]:
    """Owners and managers: every read of the clinic's records, newest first."""
    rows, total = await medical_records_service.get_clinic_log(
        session, access=access, patient_id=patient_id, actor_id=actor_id, offset=page.offset, limit=page.size
    )
    return Page.build([AccessLogRead.model_validate(r) for r in rows], total=total, page=page.page, size=page.size)
