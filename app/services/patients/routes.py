import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response, status

from app.core.database import EngineDep, SessionDep
from app.core.dependencies import PageDep
from app.core.schemas import Page, page_response
from app.services.auth.dependencies import AccessDep, CurrentUser
from app.services.patients import service as patients_service
from app.services.patients.dependencies import ClinicMember, PatientReader, PatientWriter
from app.services.patients.schemas import PatientCreate, PatientRead, PatientUpdate

router = APIRouter(tags=["patients"])

_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "`not_found`: not a clinic, or not one of yours"}}


@router.post(
    "/organizations/{organization_id}/patients",
    status_code=status.HTTP_201_CREATED,
    responses={
        **_NOT_FOUND,
        409: {"description": "`mrn_taken`, `national_id_taken`, `user_already_linked`"},
        422: {"description": "`user_not_found`, `invalid_doctor`, `validation_error`"},
    },
)
async def create_patient(data: PatientCreate, access: ClinicMember, session: SessionDep) -> PatientRead:
    """The clinic's members: register a patient, with or without an account (`user_id`).

    `mrn` is assigned when omitted; it and `national_id` are unique in the clinic, ignoring case.
    """
    return PatientRead.model_validate(await patients_service.create(session, access=access, data=data))


@router.get("/organizations/{organization_id}/patients", response_model=Page[PatientRead], responses=_NOT_FOUND)
async def list_patients(
    organization_id: uuid.UUID,
    claims: AccessDep,
    engine: EngineDep,
    page: PageDep,
    q: Annotated[
        str | None,
        Query(max_length=200, description="Any part of the name or phone digits; the whole MRN or national id"),
    ] = None,
    assigned_to: Annotated[Literal["me"] | uuid.UUID | None, Query(description="`me` or a doctor's user id")] = None,
    archived: bool = False,
) -> Response:
    """The clinic's members: search the clinic's patients, by `full_name` then `id`.

    Archived patients are listed only with `archived=true` (and then only they are).
    """
    items, total = await patients_service.get_all(
        engine,
        claims=claims,
        organization_id=organization_id,
        q=q,
        assigned_to=assigned_to,
        archived=archived,
        offset=page.offset,
        limit=page.size,
    )
    return page_response(items, total=total, page=page.page, size=page.size)


@router.get("/patients")
async def list_my_patient_records(user: CurrentUser, session: SessionDep, page: PageDep) -> Page[PatientRead]:
    """The patient records that clinics have linked to your account."""
    rows, total = await patients_service.get_linked(session, user=user, offset=page.offset, limit=page.size)
    return Page.build([PatientRead.model_validate(r) for r in rows], total=total, page=page.page, size=page.size)


@router.get("/patients/{patient_id}", responses=_NOT_FOUND)
async def get_patient(access: PatientReader) -> PatientRead:
    """The clinic's members, and the patient's own linked account."""
    return PatientRead.model_validate(access.require_patient())


@router.patch(
    "/patients/{patient_id}",
    responses={
        **_NOT_FOUND,
        403: {"description": "`forbidden`: `archived` is for owners and managers; a patient cannot edit"},
        409: {"description": "`mrn_taken`, `national_id_taken`, `user_already_linked`"},
        422: {"description": "`user_not_found`, `invalid_doctor`, `validation_error`"},
    },
)
async def update_patient(data: PatientUpdate, access: PatientWriter, session: SessionDep) -> PatientRead:
    """The clinic's members: change demographics; owners and managers also (un)archive.

    There is no delete: `archived: true` drops the patient from lists and refuses new entries,
    amendments and bookings.
    """
    return PatientRead.model_validate(await patients_service.update(session, access=access, data=data))
