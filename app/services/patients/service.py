"""Patients of a clinic: demographics, search, archive, and who may act on them (`ClinicAccess`).

Uniqueness (MRN and national id per clinic, any case; one record per account and clinic) lives in
unique indexes; the service turns their violations into the contract's 409s.
"""

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import paging
from app.core.database import violated_constraint
from app.core.errors import AppError, PermissionDenied
from app.services.mfa.errors import MfaRequired
from app.services.organizations.models import ClinicalRole, MemberRole, Membership, Organization, OrganizationKind
from app.services.patients.errors import (
    ClinicNotFound,
    InvalidDoctor,
    MrnTaken,
    NationalIdTaken,
    PatientArchived,
    PatientNotFound,
    PatientUserNotFound,
    UserAlreadyLinked,
)
from app.services.patients.models import MRN_SEQUENCE, Patient
from app.services.patients.schemas import PatientCreate, PatientUpdate
from app.services.users.models import User

MRN_ATTEMPTS = 5
PHONE_LIKE = re.compile(r"[0-9 +()./-]+")
MANAGERS = frozenset({MemberRole.owner, MemberRole.manager})

_UNIQUE_ERRORS: dict[str, type[AppError]] = {
    "patients_organization_id_mrn_key": MrnTaken,
    "patients_organization_id_national_id_key": NationalIdTaken,
    "patients_organization_id_user_id_key": UserAlreadyLinked,
}


@dataclass(frozen=True, slots=True)
class ClinicAccess:
    """Who acts in one clinic, and as what; rights add up (an owner who is a doctor has both).

    `role` is None for someone who is not a member: then they reach `patient` only as its linked
    account.
    """

    organization_id: uuid.UUID
    user: User
    role: MemberRole | None
    clinical_role: ClinicalRole | None
    patient: Patient | None = None

    @property
    def is_member(self) -> bool:
        return self.role is not None

    @property
    def is_linked(self) -> bool:
        return self.patient is not None and self.patient.user_id == self.user.id

    @property
    def manages(self) -> bool:
        return self.role in MANAGERS

    @property
    def is_clinician(self) -> bool:
        return self.clinical_role is not None

    def require_member(self) -> None:
        """Demographics and bookings for the clinic's patients: any member."""
        if not self.is_member:
            raise PermissionDenied("Only the clinic's members can do this.")

    def require_manager(self) -> None:
        if not self.manages:
            raise PermissionDenied("Only the clinic's owners and managers can do this.")

    def require_patient(self) -> Patient:
        assert self.patient is not None, "a patient route"
        return self.patient


def _unique_violation(exc: IntegrityError) -> AppError | None:
    error = _UNIQUE_ERRORS.get(violated_constraint(exc) or "")
    return error() if error else None


async def clinic_access(session: AsyncSession, *, organization_id: uuid.UUID, user: User) -> ClinicAccess:
    """A member of a clinic; anyone else (and any organization that is not a clinic): 404."""
    row = (
        await session.execute(
            select(Membership.role, Membership.clinical_role, Organization.require_mfa)
            .join(Organization, Organization.id == Membership.organization_id)
            .where(
                Membership.organization_id == organization_id,
                Membership.user_id == user.id,
                Organization.kind == OrganizationKind.clinic,
            )
        )
    ).first()
    if row is None:
        raise ClinicNotFound()
    if row.require_mfa and not user.mfa_enabled:
        raise MfaRequired()
    return ClinicAccess(
        organization_id=organization_id,
        user=user,
        role=MemberRole(row.role),
        clinical_role=ClinicalRole(row.clinical_role) if row.clinical_role else None,
    )


async def patient_access(
    session: AsyncSession, *, patient_id: uuid.UUID, user: User, for_update: bool = False
) -> ClinicAccess:
    """The patient and the caller's rights on it: a member of its clinic or its linked account;
    anyone else gets 404 and learns nothing."""
    query = (
        select(Patient, Membership.role, Membership.clinical_role, Organization.require_mfa)
        .join(Organization, Organization.id == Patient.organization_id)
        .outerjoin(
            Membership, and_(Membership.organization_id == Patient.organization_id, Membership.user_id == user.id)
        )
        .where(Patient.id == patient_id, Organization.kind == OrganizationKind.clinic)
    )
    if for_update:
        query = query.with_for_update(of=Patient)
    row = (await session.execute(query)).first()
    if row is None:
        raise PatientNotFound()
    patient, role, clinical_role, require_mfa = row
    held_back = role is not None and require_mfa and not user.mfa_enabled
    if held_back and patient.user_id != user.id:
        raise MfaRequired()
    if held_back or role is None:  # held back as a member: still the patient of their own record
        if patient.user_id != user.id:
            raise PatientNotFound()
        return ClinicAccess(
            organization_id=patient.organization_id, user=user, role=None, clinical_role=None, patient=patient
        )
    return ClinicAccess(
        organization_id=patient.organization_id,
        user=user,
        role=MemberRole(role),
        clinical_role=ClinicalRole(clinical_role) if clinical_role else None,
        patient=patient,
    )


def require_active(patient: Patient) -> None:
    if patient.archived:
        raise PatientArchived()


async def _check_links(
    session: AsyncSession, *, organization_id: uuid.UUID, user_id: uuid.UUID | None, doctor_id: uuid.UUID | None
) -> None:
    if user_id is not None and await session.get(User, user_id) is None:
        raise PatientUserNotFound()
    if doctor_id is not None:
        clinical_role = await session.scalar(
            select(Membership.clinical_role).where(
                Membership.organization_id == organization_id, Membership.user_id == doctor_id
            )
        )
        if clinical_role != ClinicalRole.doctor:
            raise InvalidDoctor()


async def _flush_unique(session: AsyncSession, patient: Patient) -> None:
    try:
        async with session.begin_nested():
            session.add(patient)
            await session.flush()
    except IntegrityError as exc:
        if (error := _unique_violation(exc)) is None:
            raise
        raise error from exc


async def create(session: AsyncSession, *, access: ClinicAccess, data: PatientCreate) -> Patient:
    access.require_member()
    await _check_links(
        session, organization_id=access.organization_id, user_id=data.user_id, doctor_id=data.assigned_doctor_id
    )
    values = data.model_dump()
    if data.mrn is not None:
        patient = Patient(id=uuid.uuid4(), organization_id=access.organization_id, **values)
        await _flush_unique(session, patient)
        return patient
    for _ in range(MRN_ATTEMPTS):
        number = await session.scalar(MRN_SEQUENCE.next_value())
        values["mrn"] = f"Q{number:07d}"
        patient = Patient(id=uuid.uuid4(), organization_id=access.organization_id, **values)
        try:
            await _flush_unique(session, patient)
        except MrnTaken:
            if patient in session:
                session.expunge(patient)
            continue  # a number the clinic typed in by hand: take the next one
        return patient
    raise MrnTaken("No free MRN was found; give one.")


async def update(session: AsyncSession, *, access: ClinicAccess, data: PatientUpdate) -> Patient:
    access.require_member()
    patient = access.require_patient()
    changes = data.model_dump(exclude_unset=True)
    if "archived" in changes:
        access.require_manager()
    for required in ("full_name", "mrn", "archived"):
        if required in changes and changes[required] is None:
            del changes[required]
    if changes.get("user_id") is not None or changes.get("assigned_doctor_id") is not None:
        await _check_links(
            session,
            organization_id=patient.organization_id,
            user_id=changes.get("user_id"),
            doctor_id=changes.get("assigned_doctor_id"),
        )
    for field, value in changes.items():
        setattr(patient, field, value)
    await _flush_unique(session, patient)
    await session.refresh(patient)
    return patient


def _matches(q: str) -> Any:
    folded = q.lower()
    conditions = [
        Patient.full_name.ilike(paging.contains(q)),
        func.lower(Patient.mrn) == folded,
        func.lower(Patient.national_id) == folded,
    ]
    # A phone number as people type it ("+49 30 1234-56"): its digits match any part of a phone's.
    if PHONE_LIKE.fullmatch(q) and (digits := re.sub(r"\D", "", q)):
        conditions.append(Patient.phone_digits.like(paging.contains(digits)))
    return or_(*conditions)


def search_query(
    *, organization_id: uuid.UUID, q: str | None, assigned_to: uuid.UUID | None, archived: bool
) -> Select[Any]:
    query = select(Patient).where(Patient.organization_id == organization_id, Patient.archived.is_(archived))
    if q:
        query = query.where(_matches(q))
    if assigned_to is not None:
        query = query.where(Patient.assigned_doctor_id == assigned_to)
    return query


async def get_all(
    session: AsyncSession,
    *,
    access: ClinicAccess,
    q: str | None,
    assigned_to: uuid.UUID | None,
    archived: bool,
    offset: int,
    limit: int,
) -> tuple[Sequence[Patient], int]:
    """The clinic's patients in `full_name`, then `id` order; `q` matches any part of the name or
    of the phone's digits, or the whole MRN or national id, ignoring case."""
    access.require_member()
    query = search_query(organization_id=access.organization_id, q=q, assigned_to=assigned_to, archived=archived)
    return await paging.page_of(session, query, order_by=[Patient.full_name, Patient.id], offset=offset, limit=limit)


async def get_linked(session: AsyncSession, *, user: User, offset: int, limit: int) -> tuple[Sequence[Patient], int]:
    """The patient records linked to `user`'s account, in every clinic."""
    query = (
        select(Patient)
        .join(Organization, Organization.id == Patient.organization_id)
        .where(Patient.user_id == user.id, Organization.kind == OrganizationKind.clinic)
    )
    return await paging.page_of(session, query, order_by=[Patient.created_at, Patient.id], offset=offset, limit=limit)
