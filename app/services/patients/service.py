"""Patients of a clinic: demographics, search, archive, and who may act on them (`ClinicAccess`).

Uniqueness (MRN and national id per clinic, any case; one record per account and clinic) lives in
unique indexes; the service turns their violations into the contract's 409s.
"""

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from sqlalchemy import (
    CTE,
    Boolean,
    CompoundSelect,
    Integer,
    Select,
    String,
    Text,
    Uuid,
    and_,
    bindparam,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.core import paging, prepared
from app.core.database import violated_constraint
from app.core.errors import AppError, PermissionDenied
from app.core.prepared import Prepared
from app.core.security import AccessClaims
from app.services.auth import service as auth_service
from app.services.auth.errors import LoginEnded
from app.services.mfa.errors import MfaRequired
from app.services.organizations.models import ClinicalRole, MemberRole, Membership, Organization, OrganizationKind
from app.services.patients import queries as patients_queries
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
from app.services.patients.models import MRN_SEQUENCE, SUFFIX_CHARS, Patient, patient_name_suffixes
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


def judge(
    *,
    role: MemberRole | None,
    clinical_role: ClinicalRole | None,
    held_back: bool,
    linked: bool,
    refusal: type[AppError],
) -> tuple[MemberRole | None, ClinicalRole | None]:
    """The clinic gates' one rule: who acts, and as what (the ORM gates below and the hot paths'
    statements, `patients.queries` and `medical_records.queries`, all read it).

    A member (`role`, `clinical_role`) acts as one unless the clinic's MFA policy holds them back
    (`held_back`); the patient's linked account (`linked`, a held-back member's too) acts as the
    patient, with no roles; a held-back member otherwise gets 403 `mfa_required`, anyone else
    `refusal` (404: they learn nothing)."""
    if role is not None and not held_back:
        return role, clinical_role
    if linked:
        return None, None
    if role is not None:
        raise MfaRequired()
    raise refusal()


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
    role, clinical_role = judge(
        role=MemberRole(row.role) if row else None,
        clinical_role=ClinicalRole(row.clinical_role) if row and row.clinical_role else None,
        held_back=bool(row and row.require_mfa and not user.mfa_enabled),
        linked=False,
        refusal=ClinicNotFound,
    )
    return ClinicAccess(organization_id=organization_id, user=user, role=role, clinical_role=clinical_role)


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
    acting_role, acting_clinical_role = judge(
        role=MemberRole(role) if role else None,
        clinical_role=ClinicalRole(clinical_role) if clinical_role else None,
        held_back=require_mfa and not user.mfa_enabled,
        linked=patient.user_id == user.id,
        refusal=PatientNotFound,
    )
    return ClinicAccess(
        organization_id=patient.organization_id,
        user=user,
        role=acting_role,
        clinical_role=acting_clinical_role,
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


@dataclass(frozen=True, slots=True)
class Terms:
    """What a search's `q` is compared with: any part of the name (`name`, the range of its
    lowercased start in `patient_name_suffixes`, and `pattern`, for ILIKE), the whole MRN or
    national id (`folded`) and, for a `q` that looks like a phone number as people type it
    ("+49 30 1234-56"), any part of the phone's digits (`digits`, for LIKE; None otherwise).
    Values (`of`), or bind parameters (the hot path's statement)."""

    name: Any
    pattern: Any
    folded: Any
    digits: Any = None

    @classmethod
    def of(cls, q: str) -> "Terms":
        digits = re.sub(r"\D", "", q) if PHONE_LIKE.fullmatch(q) else ""
        return cls(
            name=q,
            pattern=paging.contains(q),
            folded=q.lower(),
            digits=paging.contains(digits) if digits else None,
        )

    def parameters(self) -> dict[str, Any]:
        return {"name": self.name, "pattern": self.pattern, "folded": self.folded, "digits": self.digits}


# A `q` shorter than this is looked for in every name of the clinic (ILIKE) rather than in
# `patient_name_suffixes`: one character starts a good part of all the suffixes (at 1,000,000
# patients, "a" 1.6 million of 13.5 million, read and deduplicated in ~1.5 s) and matches most
# names, which a scan of the clinic's patients tells in a third of that.
NAME_RANGE_FROM = 2


def _exact(terms: Terms) -> list[Any]:
    """The conditions on the patient's own row: the whole MRN or national id, the phone's digits."""
    conditions = [func.lower(Patient.mrn) == terms.folded, func.lower(Patient.national_id) == terms.folded]
    if terms.digits is not None:
        conditions.append(Patient.phone_digits.like(terms.digits))
    return conditions


def search_query(*, organization_id: Any, q: str | Terms | None, assigned_to: Any, archived: Any) -> Select[Any]:
    """The clinic's patients that the search's filters match, each name read and compared (ILIKE):
    values, or bind parameters (`search_statement`, for no `q` or a one-character one)."""
    query = select(Patient).where(Patient.organization_id == organization_id, Patient.archived == archived)
    if q:
        terms = Terms.of(q) if isinstance(q, str) else q
        query = query.where(or_(Patient.full_name.ilike(terms.pattern), *_exact(terms)))
    if assigned_to is not None:
        query = query.where(Patient.assigned_doctor_id == assigned_to)
    return query


def name_range_query(
    *, organization_id: Any, terms: Terms, assigned_to: Any, archived: Any
) -> CompoundSelect[Any, Any]:
    """The ids and names (`id`, `full_name`) of the clinic's patients that the search's filters
    match, a patient once: those whose name holds `terms.name` (one range of
    `ix_patient_name_suffixes`, from the index alone), united with those matched on their own row
    (`_exact`). Values, or bind parameters (`search_statement`)."""
    suffixes = patient_name_suffixes.c
    start = func.left(func.lower(terms.name), SUFFIX_CHARS, type_=Text)
    by_name = select(suffixes.patient_id.label("id"), suffixes.full_name).where(
        suffixes.organization_id == organization_id,
        suffixes.archived == archived,
        # The suffixes starting with `start`, bytewise (the column's collation, "C").
        suffixes.suffix >= select(start).scalar_subquery(),
        suffixes.suffix < select(start + func.chr(0x10FFFF)).scalar_subquery(),
        # Longer than the suffixes are kept: the range is of its start, the name is checked whole.
        or_(
            select(func.char_length(func.lower(terms.name)) <= SUFFIX_CHARS).scalar_subquery(),
            suffixes.full_name.ilike(terms.pattern),
        ),
    )
    by_row = select(Patient.id, Patient.full_name).where(
        Patient.organization_id == organization_id, Patient.archived == archived, or_(*_exact(terms))
    )
    if assigned_to is not None:
        assigned = select(Patient.id).where(Patient.assigned_doctor_id == assigned_to)
        by_name = by_name.where(suffixes.patient_id.in_(assigned))
        by_row = by_row.where(Patient.assigned_doctor_id == assigned_to)
    # A UNION of (id, name): duplicates (a name holding the part twice, or also matching its MRN)
    # are found by the id, which compares cheaply, before the name.
    return by_name.union(by_row)


@lru_cache(maxsize=32)
def search_statement(*, q: bool, phone: bool, assigned: bool, short: bool = False) -> Prepared:
    """The search's page (`PatientRead` bodies written by PostgreSQL, comma-separated) and its
    total, behind the login check and the clinic gate (`queries.clinic_standing`): one round trip.
    One statement per shape (which filters are given, and whether `q` is `short`: shorter than
    `NAME_RANGE_FROM`), compiled once.

    The terms of `q`, the offset and the limit are scalar subqueries, which PostgreSQL cannot look
    into while planning: so it keeps one generic plan per connection (the same indexes for any
    term) instead of planning every call, which cost about half as much again as the search
    itself. With `q`, the matches are collected once (a CTE) for both the page and the total:
    `name_range_query`'s, or for a `short` one, `search_query`'s (the clinic's every name)."""
    organization_id = bindparam("organization_id", type_=Uuid)
    terms = Terms(
        name=select(bindparam("name", type_=String)).scalar_subquery(),
        pattern=select(bindparam("pattern", type_=String)).scalar_subquery(),
        folded=select(bindparam("folded", type_=String)).scalar_subquery(),
        digits=select(bindparam("digits", type_=String)).scalar_subquery() if phone else None,
    )
    filters = {
        "organization_id": organization_id,
        "assigned_to": bindparam("assigned_to", type_=Uuid) if assigned else None,
        "archived": bindparam("archived", type_=Boolean),
    }
    matches: Any
    if q and not short:
        matches = name_range_query(terms=terms, **filters).cte("matches")
    else:
        # Without `q`, the clinic's list is read in index order, a page at a time.
        found = search_query(q=terms if q else None, **filters).with_only_columns(Patient.id, Patient.full_name)
        matches = found.cte("matches") if q else found.subquery("matches")

    def page(login: CTE) -> Select[Any]:
        # The page's ids first, then each one's body by its primary key (a subquery per row,
        # whatever size the planner guesses for the page): only the page's rows get one.
        rows = (
            select(matches.c.full_name, matches.c.id)
            .order_by(matches.c.full_name, matches.c.id)
            .offset(select(bindparam("offset", type_=Integer)).scalar_subquery())
            .limit(select(bindparam("limit", type_=Integer)).scalar_subquery())
            .subquery("page")
        )
        body = select(patients_queries.BODY_JSON).where(Patient.id == rows.c.id).scalar_subquery()
        items = func.string_agg(body, aggregate_order_by(literal(","), rows.c.full_name, rows.c.id))
        return select(func.coalesce(items, "").label("items")).select_from(rows)

    def total(login: CTE) -> Select[Any]:
        return select(func.count().label("total")).select_from(matches)

    return Prepared(
        auth_service.for_login(lambda login: patients_queries.clinic_standing(login, organization_id), page, total)
    )


def standing_roles(
    row: Mapping[str, Any], *, linked: bool, refusal: type[AppError]
) -> tuple[MemberRole | None, ClinicalRole | None]:
    """`judge` on a hot path's row (`queries.clinic_standing`'s columns): `refusal` for no such
    clinic."""
    if row["standing_organization_id"] is None:
        raise refusal()
    role, clinical_role = row["standing_role"], row["standing_clinical_role"]
    return judge(
        role=MemberRole(role) if role else None,
        clinical_role=ClinicalRole(clinical_role) if clinical_role else None,
        held_back=bool(row["standing_held_back"]),
        linked=linked,
        refusal=refusal,
    )


async def get_all(
    engine: AsyncEngine,
    *,
    claims: AccessClaims,
    organization_id: uuid.UUID,
    q: str | None,
    assigned_to: Literal["me"] | uuid.UUID | None,
    archived: bool,
    offset: int,
    limit: int,
) -> tuple[str, int]:
    """The clinic's members: its patients in `full_name`, then `id` order, as JSON text of
    `PatientRead` bodies, and the total; `q` matches any part of the name or of the phone's
    digits, or the whole MRN or national id, ignoring case. One round trip, the gate of
    `ClinicMember` included."""
    terms = Terms.of(q) if q else None
    statement = search_statement(
        q=terms is not None,
        phone=bool(terms and terms.digits),
        assigned=assigned_to is not None,
        short=0 < len(q or "") < NAME_RANGE_FROM,
    )
    row = await prepared.fetchrow(
        engine,
        statement,
        organization_id=organization_id,
        archived=archived,
        assigned_to=claims.user_id if assigned_to == "me" else assigned_to,
        offset=offset,
        limit=limit,
        **(terms.parameters() if terms else {}),
        **auth_service.login_parameters(claims),
    )
    if row is None:
        raise LoginEnded()
    standing_roles(row, linked=False, refusal=ClinicNotFound)
    return row["items"], row["total"]


async def get_linked(session: AsyncSession, *, user: User, offset: int, limit: int) -> tuple[Sequence[Patient], int]:
    """The patient records linked to `user`'s account, in every clinic."""
    query = (
        select(Patient)
        .join(Organization, Organization.id == Patient.organization_id)
        .where(Patient.user_id == user.id, Organization.kind == OrganizationKind.clinic)
    )
    return await paging.page_of(session, query, order_by=[Patient.created_at, Patient.id], offset=offset, limit=limit)
