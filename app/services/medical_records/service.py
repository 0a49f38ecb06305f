"""The medical history: append-only entries, amendments as new versions, and the access log.

Rights (the contract's table; they add up): nurses and doctors read every entry, the linked
patient their own non-confidential ones; nurses write vital signs and notes, doctors every kind;
owners and managers read the access logs, the linked patient their own. Every successful read of
entries adds one access-log item in the read's own transaction (so a read that cannot be logged
is not served); a refused read raises before anything is written.
"""

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.core import paging, prepared
from app.core.database import violated_constraint
from app.core.errors import PermissionDenied
from app.core.security import AccessClaims
from app.services.auth import service as auth_service
from app.services.auth.errors import LoginEnded
from app.services.medical_records import queries as medical_records_queries
from app.services.medical_records import rights
from app.services.medical_records.errors import EntryNotFound, EntrySuperseded, FutureEffectiveAt
from app.services.medical_records.models import AccessAction, AccessLogItem, EntryKind, MedicalEntry, ReaderRole
from app.services.medical_records.rights import ReadRight
from app.services.medical_records.schemas import EntryData, EntryRead, stored
from app.services.patients import service as patients_service
from app.services.patients.errors import PatientNotFound
from app.services.patients.service import ClinicAccess
from app.services.users.models import User

SUPERSEDES_KEY = "medical_entries_supersedes_id_key"

_entries = MedicalEntry.__table__
_successor = _entries.alias("successor")


def _entry_rows() -> Select[Any]:
    """Entry bodies: the row and the id of the version that superseded it, if any."""
    return select(*_entries.c, _successor.c.id.label("superseded_by_id")).outerjoin(
        _successor, _successor.c.supersedes_id == _entries.c.id
    )


# --- rights (the table itself: `rights`) -----------------------------------------------------


def _reader(access: ClinicAccess) -> ReadRight:
    return rights.require_reader(access.clinical_role, linked=access.is_linked)


def _require_log_reader(access: ClinicAccess) -> None:
    if not (access.manages or access.is_linked):
        raise PermissionDenied("Only the clinic's owners and managers read the access log.")


def _check_effective(effective_at: datetime, now: datetime) -> None:
    if effective_at > now:
        raise FutureEffectiveAt()


async def _log(
    session: AsyncSession,
    *,
    access: ClinicAccess,
    role: ReaderRole,
    action: AccessAction,
    entry_id: uuid.UUID | None,
    request_id: str | None,
) -> None:
    patient = access.require_patient()
    await session.execute(
        insert(AccessLogItem).values(
            id=uuid.uuid4(),
            organization_id=patient.organization_id,
            patient_id=patient.id,
            actor_id=access.user.id,
            actor_name=access.user.full_name,
            actor_role=role,
            action=action,
            entry_id=entry_id,
            request_id=request_id,
        )
    )


# --- entries ------------------------------------------------------------------------------------


async def create(
    session: AsyncSession,
    *,
    access: ClinicAccess,
    kind: EntryKind,
    data: EntryData,
    confidential: bool,
    effective_at: datetime | None,
    now: datetime,
) -> EntryRead:
    """Add an entry to the record (the patient row is locked by the caller: `PatientWriter`)."""
    author_role = rights.require_writer(access.clinical_role, kind)
    patient = access.require_patient()
    patients_service.require_active(patient)
    effective_at = effective_at or now
    _check_effective(effective_at, now)
    entry_id = uuid.uuid4()
    await session.execute(
        insert(MedicalEntry).values(
            id=entry_id,
            patient_id=patient.id,
            chain_id=entry_id,
            version=1,
            kind=kind,
            data=stored(data),
            confidential=confidential,
            effective_at=effective_at,
            author_id=access.user.id,
            author_name=access.user.full_name,
            author_role=author_role,
        )
    )
    return await _read_one(session, entry_id)


async def _read_one(session: AsyncSession, entry_id: uuid.UUID) -> EntryRead:
    row = (await session.execute(_entry_rows().where(_entries.c.id == entry_id))).one()
    return EntryRead.model_validate(dict(row._mapping))


async def get_page(
    engine: AsyncEngine,
    *,
    claims: AccessClaims,
    patient_id: uuid.UUID,
    kind: EntryKind | None,
    include_superseded: bool,
    request_id: str | None,
    offset: int,
    limit: int,
) -> tuple[str, int]:
    """The patient's entries, newest `effective_at` first (current versions unless asked), as JSON
    text of `EntryRead` bodies, and the total. One round trip: the gate of `PatientReader`, the
    rights, the access-log item (logged by the statement only when the read is allowed) and the
    page (`queries.page_statement`)."""
    statement = medical_records_queries.page_statement(kind=kind is not None, include_superseded=include_superseded)
    row = await prepared.fetchrow(
        engine,
        statement,
        patient_id=patient_id,
        kind=kind,
        request_id=request_id,
        offset=offset,
        limit=limit,
        **auth_service.login_parameters(claims),
    )
    if row is None:
        raise LoginEnded()
    linked = bool(row["linked"])
    _, clinical_role = patients_service.standing_roles(row, linked=linked, refusal=PatientNotFound)
    right = rights.require_reader(clinical_role, linked=linked)
    assert row["reader_role"] == right.role, "the statement logged and read under the same rights"
    return row["items"], row["total"]


async def _entry_access(
    session: AsyncSession, *, entry_id: uuid.UUID, user: User, for_update: bool = False
) -> tuple[EntryRead, ClinicAccess]:
    row = (await session.execute(_entry_rows().where(_entries.c.id == entry_id))).first()
    if row is None:
        raise EntryNotFound()
    entry = EntryRead.model_validate(dict(row._mapping))
    try:
        access = await patients_service.patient_access(
            session, patient_id=entry.patient_id, user=user, for_update=for_update
        )
    except PatientNotFound as exc:
        raise EntryNotFound() from exc
    return entry, access


def _require_entry_reader(access: ClinicAccess, entry: EntryRead) -> ReadRight:
    right = _reader(access)
    if entry.confidential and not right.confidential:
        raise PermissionDenied("This entry is confidential.")
    return right


async def get(session: AsyncSession, *, entry_id: uuid.UUID, user: User, request_id: str | None) -> EntryRead:
    """One version of an entry (current or not)."""
    entry, access = await _entry_access(session, entry_id=entry_id, user=user)
    right = _require_entry_reader(access, entry)
    await _log(
        session,
        access=access,
        role=right.role,
        action=AccessAction.read_entry,
        entry_id=entry.id,
        request_id=request_id,
    )
    return entry


async def get_versions(
    session: AsyncSession, *, entry_id: uuid.UUID, user: User, request_id: str | None
) -> list[EntryRead]:
    """The entry's chain, version 1 first (a patient sees its non-confidential versions)."""
    entry, access = await _entry_access(session, entry_id=entry_id, user=user)
    right = _require_entry_reader(access, entry)
    query = _entry_rows().where(_entries.c.chain_id == (await _chain_id(session, entry.id)))
    if not right.confidential:
        query = query.where(_entries.c.confidential.is_(False))
    rows = await session.execute(query.order_by(_entries.c.version))
    versions = [EntryRead.model_validate(dict(row._mapping)) for row in rows]
    await _log(
        session,
        access=access,
        role=right.role,
        action=AccessAction.read_versions,
        entry_id=entry.id,
        request_id=request_id,
    )
    return versions


async def _chain_id(session: AsyncSession, entry_id: uuid.UUID) -> uuid.UUID:
    chain_id = await session.scalar(select(MedicalEntry.chain_id).where(MedicalEntry.id == entry_id))
    assert chain_id is not None
    return chain_id


async def amend(
    session: AsyncSession,
    *,
    entry_id: uuid.UUID,
    user: User,
    parse: Any,
    reason: str,
    confidential: bool | None,
    effective_at: datetime | None,
    now: datetime,
) -> EntryRead:
    """A new version of the entry's current version, of the same kind; the old one stays readable.

    `parse(kind)` gives the new `data` validated for the entry's kind. Of two amendments of one
    version, only the first to commit wins: the other violates the unique `supersedes_id` and is
    refused with `entry_superseded`, as is any amendment of a version already superseded.
    """
    old, access = await _entry_access(session, entry_id=entry_id, user=user, for_update=True)
    author_role = rights.require_writer(access.clinical_role, old.kind)
    patients_service.require_active(access.require_patient())
    if old.superseded_by_id is not None:
        raise EntrySuperseded()
    data: EntryData = parse(old.kind)
    effective_at = effective_at or old.effective_at
    _check_effective(effective_at, now)
    new_id = uuid.uuid4()
    try:
        async with session.begin_nested():
            await session.execute(
                insert(MedicalEntry).values(
                    id=new_id,
                    patient_id=old.patient_id,
                    chain_id=await _chain_id(session, old.id),
                    version=old.version + 1,
                    supersedes_id=old.id,
                    kind=old.kind,
                    data=stored(data),
                    confidential=old.confidential if confidential is None else confidential,
                    effective_at=effective_at,
                    author_id=user.id,
                    author_name=user.full_name,
                    author_role=author_role,
                    amendment_reason=reason,
                )
            )
    except IntegrityError as exc:
        if violated_constraint(exc) not in (SUPERSEDES_KEY, "ix_medical_entries_chain_id_version"):
            raise
        raise EntrySuperseded() from exc
    return await _read_one(session, new_id)


# --- access log ---------------------------------------------------------------------------------


async def get_patient_log(
    session: AsyncSession, *, access: ClinicAccess, offset: int, limit: int
) -> tuple[Sequence[AccessLogItem], int]:
    """Who read this patient's entries, newest first: the clinic's owners and managers, and the
    patient's own account."""
    _require_log_reader(access)
    query = select(AccessLogItem).where(AccessLogItem.patient_id == access.require_patient().id)
    order = [AccessLogItem.at.desc(), AccessLogItem.id]
    return await paging.page_of(session, query, order_by=order, offset=offset, limit=limit)


async def get_clinic_log(
    session: AsyncSession,
    *,
    access: ClinicAccess,
    patient_id: uuid.UUID | None,
    actor_id: uuid.UUID | None,
    offset: int,
    limit: int,
) -> tuple[Sequence[AccessLogItem], int]:
    """Every read of the clinic's records, newest first: owners and managers."""
    access.require_manager()
    query = select(AccessLogItem).where(AccessLogItem.organization_id == access.organization_id)
    if patient_id is not None:
        query = query.where(AccessLogItem.patient_id == patient_id)
    if actor_id is not None:
        query = query.where(AccessLogItem.actor_id == actor_id)
    order = [AccessLogItem.at.desc(), AccessLogItem.id]
    return await paging.page_of(session, query, order_by=order, offset=offset, limit=limit)
