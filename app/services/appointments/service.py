"""Availability, booking, the status machine, cancel, reschedule, assignment and the lists.

The capacity guarantee lives in `slot_loads` (see its model); the no-overlap guarantee in the
`appointments_citizen_overlap_excl` exclusion constraint. Mutations lock the appointment row
first, so two staff members moving one appointment at once are serialised.
"""

import secrets
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    CTE,
    ColumnElement,
    Date,
    Integer,
    Select,
    bindparam,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.core import paging, prepared
from app.core.errors import InvalidRange, PermissionDenied
from app.core.prepared import Prepared
from app.core.security import AccessClaims
from app.services.apikeys.service import ApiKeyPrincipal
from app.services.appointments import announcements, availability, bookable_query, events, queries, slots
from app.services.appointments.bookable_query import Bookable
from app.services.appointments.errors import (
    AppointmentNotFound,
    CheckinWindow,
    InvalidTransition,
    NotAMember,
    OverlappingAppointment,
    RangeTooLong,
    SlotFull,
    TooLate,
)
from app.services.appointments.models import (
    TRANSITIONS,
    Appointment,
    AppointmentEvent,
    SlotLoad,
    Status,
)
from app.services.appointments.schemas import AppointmentRead, HistoryEntry
from app.services.auth import service as auth_service
from app.services.auth.errors import LoginEnded
from app.services.catalog.errors import ServiceNotFound
from app.services.catalog.models import Service
from app.services.organizations import service as organizations_service
from app.services.organizations.models import Organization
from app.services.patients.models import Patient
from app.services.users.models import User

# Who acts on an appointment: a signed-in user or the organization's API key.
Caller = User | ApiKeyPrincipal

MAX_RANGE_DAYS = 31
# Nothing is bookable outside these (the booking window is at most 730 days), and the calendar's
# far ends would overflow the date arithmetic.
EARLIEST_DAY, LATEST_DAY = date(1970, 1, 1), date(2200, 12, 31)
REFERENCE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, no 1/I; 32 symbols (see new_reference)
REFERENCE_LENGTH = 8


def new_reference() -> str:
    """A random reference from one read of the system's randomness (`secrets.choice` reads it
    once per character): 32 symbols divide 256, so every symbol stays equally likely."""
    return "".join(REFERENCE_ALPHABET[byte % 32] for byte in secrets.token_bytes(REFERENCE_LENGTH))


_AVAILABILITY = Prepared(bookable_query.statement(with_seats=True))
# A month of an hourly service is ~45 KB of answer: the busiest few hundred calendars.
AVAILABILITY_CACHE_BYTES = 64 * 1024 * 1024
_ANSWERS = availability.Answers(max_bytes=AVAILABILITY_CACHE_BYTES)


async def available_slots(engine: AsyncEngine, *, service_id: uuid.UUID, first: date, last: date) -> str:
    """The `Slot` list as JSON text: a 31-day range has hundreds of slots. One round trip."""
    if last < first:
        raise InvalidRange("`to` must not be before `from`.")
    if first < EARLIEST_DAY or last > LATEST_DAY:
        raise InvalidRange(f"Dates run from {EARLIEST_DAY} to {LATEST_DAY}.")
    if (last - first).days >= MAX_RANGE_DAYS:
        raise RangeTooLong()
    row = await prepared.fetchrow(
        engine, _AVAILABILITY, **bookable_query.parameters(service_id=service_id, first=first, last=last)
    )
    if row is None:
        raise ServiceNotFound()
    key, source, now = (service_id, first, last), tuple(row), datetime.now(UTC)
    if (answer := _ANSWERS.get(key, source, now)) is not None:
        return answer
    service = bookable_query.from_row(row, first=first, last=last)
    if not service.is_active:
        return "[]"
    runs = slots.runs_between(first, last, service.rules, now)
    answer = slots.to_json(runs, rules=service.rules, capacity=service.capacity, booked=service.booked)
    _ANSWERS.put(key, source, answer, written_at=now, valid_until=slots.unchanged_until(runs, service.rules, now))
    return answer


_BOOKABLE = bookable_query.statement(with_seats=False)


async def _bookable_at(session: AsyncSession, *, service_id: uuid.UUID, starts_at: datetime) -> Bookable:
    first, last = bookable_query.days_around(starts_at)
    row = (
        await session.execute(_BOOKABLE, bookable_query.parameters(service_id=service_id, first=first, last=last))
    ).first()
    if row is None:
        raise ServiceNotFound()
    service = bookable_query.from_row(row._mapping, first=first, last=last)
    bookable_query.require_bookable(service, starts_at)
    return service


async def _take_seat(session: AsyncSession, *, bookable: Bookable, starts_at: datetime) -> None:
    """Hold one seat of the slot, or raise SlotFull."""
    if await session.scalar(bookable_query.take_seat(bookable.service_id, starts_at, bookable.capacity)) is None:
        raise SlotFull()


async def _free_seat(session: AsyncSession, *, appointment: Appointment) -> None:
    await session.execute(
        update(SlotLoad)
        .where(SlotLoad.service_id == appointment.service_id, SlotLoad.starts_at == appointment.starts_at)
        .values(booked=SlotLoad.booked - 1)
    )


def _record(
    session: AsyncSession,
    *,
    appointment_id: uuid.UUID,
    before: str | None,
    after: str,
    actor: Caller | None,
    note: str | None,
) -> None:
    session.add(
        AppointmentEvent(
            appointment_id=appointment_id,
            from_status=before,
            to_status=after,
            actor_id=actor.id if isinstance(actor, User) else None,
            api_key_id=actor.id if isinstance(actor, ApiKeyPrincipal) else None,
            note=note,
        )
    )


def _user(actor: Caller | None) -> User | None:
    """The acting user, for notifications ("by staff"); None for a key (the organization acts)."""
    return actor if isinstance(actor, User) else None


async def get_visible(
    session: AsyncSession, *, appointment_id: uuid.UUID, user: Caller, for_update: bool = False
) -> Appointment:
    """The appointment if `user` owns it, is staff of its organization, is an admin, or is the
    organization's API key; else 404."""
    sees = queries.user_sees(user) if isinstance(user, User) else Appointment.organization_id == user.organization_id
    query = select(Appointment).where(Appointment.id == appointment_id, sees)
    if for_update:
        query = query.with_for_update(of=Appointment)
    appointment = await session.scalar(query)
    if appointment is None:
        raise AppointmentNotFound()
    return appointment


async def is_staff_for(session: AsyncSession, *, user: Caller, appointment: Appointment) -> bool:
    return await organizations_service.is_staff(session, user=user, organization_id=appointment.organization_id)


async def get_for_staff(session: AsyncSession, *, appointment_id: uuid.UUID, user: Caller) -> Appointment:
    """Locked for update; 404 unless `user` is staff of its organization or an admin."""
    appointment = await session.get(Appointment, appointment_id, with_for_update=True)
    if appointment is None:
        raise AppointmentNotFound()
    staff = await organizations_service.is_staff(
        session, user=user, organization_id=appointment.organization_id, refuse_without_mfa=True
    )
    if not staff:
        if isinstance(user, User) and appointment.citizen_id == user.id:
            raise PermissionDenied("Only the organization's staff can do this.")  # they can see it
        raise AppointmentNotFound()
    return appointment


async def _move(
    session: AsyncSession, *, appointment: Appointment, to: Status, actor: Caller | None, note: str | None
) -> Appointment:
    before = Status(appointment.status)
    if to not in TRANSITIONS[before]:
        raise InvalidTransition(f"An appointment that is {before.value} cannot become {to.value}.")
    if to in (Status.cancelled, Status.no_show):
        await _free_seat(session, appointment=appointment)
    appointment.status = to
    if to is Status.checked_in:
        appointment.checked_in_at = datetime.now(UTC)
    _record(session, appointment_id=appointment.id, before=before, after=to, actor=actor, note=note)
    await session.flush()
    await session.refresh(appointment)
    if to is Status.cancelled:
        await events.cancelled(session, appointment=appointment, reason=note)
    await announcements.announce_appointment(
        session,
        appointment=appointment,
        kind=_ANNOUNCEMENTS.get(to, "appointment_status"),
        actor=_user(actor),
        note=note,
    )
    if to is Status.completed:
        await announcements.announce_appointment(session, appointment=appointment, kind="rating_request", actor=None)
    return appointment


_ANNOUNCEMENTS = {Status.cancelled: "appointment_cancelled", Status.checked_in: "appointment_checked_in"}


def _check_window(appointment: Appointment, *, opens_before: timedelta) -> None:
    now = datetime.now(UTC)
    if not appointment.starts_at - opens_before <= now <= appointment.ends_at:
        raise CheckinWindow()


async def change_status(
    session: AsyncSession,
    *,
    appointment: Appointment,
    actor: Caller,
    to: Status,
    note: str | None,
    checkin_opens_before: timedelta,
) -> Appointment:
    """Staff moves an appointment along the status machine (lock it first: `get_for_staff`)."""
    if to is Status.checked_in and Status(appointment.status) is Status.booked:
        _check_window(appointment, opens_before=checkin_opens_before)
    return await _move(session, appointment=appointment, to=to, actor=actor, note=note)


async def check_in(
    session: AsyncSession, *, appointment: Appointment, actor: Caller, opens_before: timedelta
) -> Appointment:
    """Check in at the counter. Idempotent: an appointment already checked in is returned unchanged."""
    if Status(appointment.status) is Status.checked_in:
        return appointment
    if Status(appointment.status) is not Status.booked:
        raise InvalidTransition(f"An appointment that is {appointment.status} cannot be checked in.")
    _check_window(appointment, opens_before=opens_before)
    return await _move(session, appointment=appointment, to=Status.checked_in, actor=actor, note=None)


async def cancel(session: AsyncSession, *, appointment: Appointment, actor: Caller, reason: str | None) -> Appointment:
    """The owner (before the start) or staff cancel; the seat is freed. Lock the row first."""
    is_owner = isinstance(actor, User) and appointment.citizen_id == actor.id
    if (
        Status(appointment.status) is Status.booked
        and is_owner
        and not await is_staff_for(session, user=actor, appointment=appointment)
    ):
        if datetime.now(UTC) >= appointment.starts_at:
            raise TooLate()
    return await _move(session, appointment=appointment, to=Status.cancelled, actor=actor, note=reason)


async def reschedule(
    session: AsyncSession, *, appointment: Appointment, actor: Caller, starts_at: datetime
) -> Appointment:
    """Move a booked appointment to another slot: the new seat is held and the old one freed, or nothing changes."""
    if Status(appointment.status) is not Status.booked:
        raise InvalidTransition(f"An appointment that is {appointment.status} cannot be rescheduled.")
    staff = await is_staff_for(session, user=actor, appointment=appointment)
    if not staff and datetime.now(UTC) >= appointment.starts_at:
        raise TooLate()
    if starts_at == appointment.starts_at:
        return appointment
    bookable = await _bookable_at(session, service_id=appointment.service_id, starts_at=starts_at)
    ends_at = starts_at + bookable.rules.duration
    # Touch the two slot rows in time order, so that two reschedules crossing each other
    # (9→10 and 10→9) lock them in the same order and cannot deadlock.
    if starts_at < appointment.starts_at:
        await _take_seat(session, bookable=bookable, starts_at=starts_at)
        await _free_seat(session, appointment=appointment)
    else:
        await _free_seat(session, appointment=appointment)
        await _take_seat(session, bookable=bookable, starts_at=starts_at)
    old = appointment.starts_at
    try:
        async with session.begin_nested():
            appointment.starts_at, appointment.ends_at = starts_at, ends_at
            await session.flush()
    except IntegrityError as exc:  # the citizen's exclusion constraint: another active appointment overlaps
        raise OverlappingAppointment() from exc
    note = f"rescheduled from {old.isoformat()} to {starts_at.isoformat()}"
    _record(session, appointment_id=appointment.id, before=Status.booked, after=Status.booked, actor=actor, note=note)
    await session.flush()
    await session.refresh(appointment)
    await announcements.announce_appointment(
        session, appointment=appointment, kind="appointment_rescheduled", actor=_user(actor), previous_starts_at=old
    )
    return appointment


async def assign(session: AsyncSession, *, appointment: Appointment, staff_id: uuid.UUID) -> Appointment:
    role = await organizations_service.get_role(session, organization_id=appointment.organization_id, user_id=staff_id)
    if role is None:
        raise NotAMember()
    appointment.staff_id = staff_id
    await session.flush()
    await session.refresh(appointment)
    return appointment


async def history(session: AsyncSession, *, appointment: Appointment) -> list[HistoryEntry]:
    rows = await session.scalars(
        select(AppointmentEvent).where(AppointmentEvent.appointment_id == appointment.id).order_by(AppointmentEvent.id)
    )
    return [HistoryEntry.model_validate(row) for row in rows]


async def to_reads(session: AsyncSession, appointments: Sequence[Appointment]) -> list[AppointmentRead]:
    """Appointment bodies (with requirements and linked documents) in one query, in input order."""
    ids = [a.id for a in appointments]
    rows = {row.id: row for row in await session.execute(queries.by_ids(ids))}
    return [AppointmentRead.model_validate(rows[i]._mapping) for i in ids]


async def to_read(session: AsyncSession, appointment: Appointment) -> AppointmentRead:
    return (await to_reads(session, [appointment]))[0]


_BY_ID = Prepared(
    auth_service.for_login(
        lambda login: select(queries.BODY_JSON).where(
            Appointment.id == bindparam("appointment_id"), queries.visible_to(login.c.id, login.c.is_admin)
        )
    )
)


async def get_read(engine: AsyncEngine, *, claims: AccessClaims, appointment_id: uuid.UUID) -> str:
    """The body (`AppointmentRead` as JSON text) of an appointment the signed-in user may see
    (owner, staff, admin); else 404. One round trip, the access check included."""
    row = await prepared.fetchrow(
        engine, _BY_ID, appointment_id=appointment_id, **auth_service.login_parameters(claims)
    )
    if row is None:
        raise LoginEnded()
    if row["body"] is None:
        raise AppointmentNotFound()
    body: str = row["body"]
    return body


async def _total(session: AsyncSession, query: Select[Any], rows: Sequence[Any], offset: int) -> int:
    """The page's `count(*) OVER ()`, or a count of its own for a page past the end."""
    if rows:
        return int(rows[0].total)
    if offset == 0:
        return 0
    return await paging.count(session, query)


def _local_day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(), zone)
    return start, datetime.combine(day + timedelta(days=1), time(), zone)


def _local_date(column: Any) -> Any:
    zone = select(Organization.timezone).where(Organization.id == Appointment.organization_id).scalar_subquery()
    return func.date(func.timezone(zone, column))


@cache
def _own_page(*, by_status: bool, from_day: bool, to_day: bool) -> Prepared:
    """The citizen's page statement for one combination of filters (at most 8, compiled once)."""

    def filters(login: CTE) -> list[ColumnElement[bool]]:
        where = [Appointment.citizen_id == login.c.id]
        if by_status:
            where.append(Appointment.status == bindparam("status"))
        if from_day:
            where.append(_local_date(Appointment.starts_at) >= bindparam("first", type_=Date))
        if to_day:
            where.append(_local_date(Appointment.starts_at) <= bindparam("last", type_=Date))
        return where

    def page(login: CTE) -> Select[Any]:
        # The page's ids first, the bodies after: PostgreSQL computes a select list below LIMIT
        # and OFFSET, so building the bodies in the same select would build the skipped ones too.
        rows = (
            select(Appointment.starts_at, Appointment.id)
            .where(*filters(login))
            .order_by(Appointment.starts_at.desc(), Appointment.id)
            .offset(bindparam("offset", type_=Integer))
            .limit(bindparam("limit", type_=Integer))
            .subquery("page")
        )
        in_order = aggregate_order_by(literal(","), rows.c.starts_at.desc(), rows.c.id)
        return select(func.string_agg(queries.BODY_JSON, in_order).label("items")).select_from(
            rows.join(Appointment, Appointment.id == rows.c.id)
        )

    def total(login: CTE) -> Select[Any]:
        return select(func.count().label("total")).where(*filters(login))

    return Prepared(auth_service.for_login(page, total))


async def get_own(
    engine: AsyncEngine,
    *,
    claims: AccessClaims,
    status: Status | None,
    first: date | None,
    last: date | None,
    offset: int,
    limit: int,
) -> tuple[str, int]:
    """The citizen's appointments (`AppointmentRead`s as JSON text, comma-separated), latest
    first, and their total; dates are local to each appointment's organization. One round trip,
    the access check and the total included."""
    statement = _own_page(by_status=status is not None, from_day=first is not None, to_day=last is not None)
    row = await prepared.fetchrow(
        engine,
        statement,
        status=status,
        first=first,
        last=last,
        offset=offset,
        limit=limit,
        **auth_service.login_parameters(claims),
    )
    if row is None:
        raise LoginEnded()
    return row["items"] or "", row["total"]


async def get_queue(
    session: AsyncSession,
    *,
    organization: Organization,
    day: date | None,
    status: Status | None,
    service_id: uuid.UUID | None,
    q: str | None,
    offset: int,
    limit: int,
    staff_id: uuid.UUID | None = None,
    patient_id: uuid.UUID | None = None,
    first: date | None = None,
    last: date | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """The organization's appointments for staff, in time order, with citizen and service names
    (a clinic patient without an account: the patient's name). `first`/`last` are inclusive local
    dates, like `day`."""
    query: Select[Any] = (
        select(
            *queries.BODY_COLUMNS,
            func.coalesce(User.full_name, Patient.full_name, "").label("citizen_name"),
            Service.name.label("service_name"),
            func.count().over().label("total"),
        )
        .outerjoin(User, User.id == Appointment.citizen_id)
        .outerjoin(Patient, Patient.id == Appointment.patient_id)
        .join(Service, Service.id == Appointment.service_id)
        .where(Appointment.organization_id == organization.id)
    )
    zone = ZoneInfo(organization.timezone)
    if day is not None:
        low, high = _local_day_bounds(day, zone)
        query = query.where(Appointment.starts_at >= low, Appointment.starts_at < high)
    if first is not None:
        query = query.where(Appointment.starts_at >= _local_day_bounds(first, zone)[0])
    if last is not None:
        query = query.where(Appointment.starts_at < _local_day_bounds(last, zone)[1])
    if staff_id is not None:
        query = query.where(Appointment.staff_id == staff_id)
    if patient_id is not None:
        query = query.where(Appointment.patient_id == patient_id)
    if status is not None:
        query = query.where(Appointment.status == status)
    if service_id is not None:
        query = query.where(Appointment.service_id == service_id)
    if q:
        pattern = paging.contains(q)
        query = query.where(
            or_(
                Appointment.reference == q.upper().replace("-", ""),
                User.full_name.ilike(pattern),
                Patient.full_name.ilike(pattern),
            )
        )
    ordered = query.order_by(Appointment.starts_at, Appointment.id).offset(offset).limit(limit)
    rows = (await session.execute(ordered)).all()
    return [dict(row._mapping) for row in rows], await _total(session, query, rows, offset)


async def get_read_for_key(engine: AsyncEngine, *, api_key: ApiKeyPrincipal, appointment_id: uuid.UUID) -> str:
    """The body of one of the key's organization's appointments (as JSON text); else 404."""
    async with AsyncSession(engine) as session:
        appointment = await get_visible(session, appointment_id=appointment_id, user=api_key)
        return (await to_read(session, appointment)).model_dump_json()
