"""Availability, booking, the status machine, cancel, reschedule, assignment and the lists.

The capacity guarantee lives in `slot_loads` (see its model); the no-overlap guarantee in the
`appointments_citizen_overlap_excl` exclusion constraint. Mutations lock the appointment row
first, so two staff members moving one appointment at once are serialised.
"""

import json
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, literal, literal_column, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import PermissionDenied
from app.services.appointments import queries, slots
from app.services.appointments.errors import (
    AppointmentNotFound,
    CheckinWindow,
    InvalidRange,
    InvalidTransition,
    NotAMember,
    OverlappingAppointment,
    RangeTooLong,
    SlotFull,
    SlotUnavailable,
    TooLate,
)
from app.services.appointments.models import (
    ACTIVE_STATUSES,
    TRANSITIONS,
    Appointment,
    AppointmentEvent,
    SlotLoad,
    Status,
)
from app.services.appointments.schemas import AppointmentRead, HistoryEntry
from app.services.catalog.models import Closure, OpeningHours, Service
from app.services.catalog.service import ServiceNotFound
from app.services.notifications import service as notifications_service
from app.services.organizations import service as organizations_service
from app.services.organizations.models import Organization
from app.services.users import service as users_service
from app.services.users.models import Role, User

MAX_RANGE_DAYS = 31
# Nothing is bookable outside these (the booking window is at most 730 days), and the calendar's
# far ends would overflow the date arithmetic.
EARLIEST_DAY, LATEST_DAY = date(1970, 1, 1), date(2200, 12, 31)
REFERENCE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, no 1/I
REFERENCE_LENGTH = 8


def new_reference() -> str:
    return "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(REFERENCE_LENGTH))


@dataclass(frozen=True, slots=True)
class Bookable:
    """What booking and availability need to know about a service, read in one query."""

    service_id: uuid.UUID
    organization_id: uuid.UUID
    capacity: int
    is_active: bool
    rules: slots.Rules
    loads: dict[datetime, int]


def _json_array(*columns: Any) -> Any:
    return func.coalesce(func.json_agg(func.json_build_array(*columns)), literal_column("'[]'::json"))


async def _load_bookable(
    session: AsyncSession, *, service_id: uuid.UUID, first: date, last: date, with_loads: bool
) -> Bookable:
    """The service, its zone, hours, closures in [first, last] and (optionally) slot loads: one round trip."""
    hours = select(_json_array(OpeningHours.weekday, OpeningHours.opens, OpeningHours.closes)).where(
        OpeningHours.service_id == Service.id
    )
    closures = select(_json_array(Closure.starts_on, Closure.ends_on)).where(
        Closure.service_id == Service.id, Closure.ends_on >= first, Closure.starts_on <= last
    )
    # UTC bounds one day wider than the local dates on each side cover every zone's offset.
    low = datetime.combine(first - timedelta(days=1), time(), UTC)
    high = datetime.combine(last + timedelta(days=2), time(), UTC)
    loads = select(_json_array(SlotLoad.starts_at, SlotLoad.booked)).where(
        SlotLoad.service_id == Service.id, SlotLoad.starts_at >= low, SlotLoad.starts_at < high, SlotLoad.booked > 0
    )
    # The entities (not just columns) land in the session's identity map, so that announcing a
    # booking (which names the service and the organization) needs no further query.
    columns: list[Any] = [Service, Organization, hours.scalar_subquery(), closures.scalar_subquery()]
    if with_loads:
        columns.append(loads.scalar_subquery())
    row = (
        await session.execute(
            select(*columns)
            .join(Organization, Organization.id == Service.organization_id)
            .where(Service.id == service_id)
        )
    ).first()
    if row is None:
        raise ServiceNotFound()
    service: Service = row[0]
    zone: str = row[1].timezone
    closed: set[date] = set()
    for starts_on, ends_on in _parse(row[3]):
        # Only the days of the asked range matter, however long the closure.
        day, end = max(date.fromisoformat(starts_on), first), min(date.fromisoformat(ends_on), last)
        while day <= end:
            closed.add(day)
            day += timedelta(days=1)
    rules = slots.Rules(
        zone=ZoneInfo(zone),
        duration=timedelta(minutes=service.duration_minutes),
        step=timedelta(minutes=service.step_minutes),
        min_notice=timedelta(minutes=service.min_notice_minutes),
        max_days_ahead=service.max_days_ahead,
        hours=[
            slots.OpeningRange(weekday=w, opens=time.fromisoformat(o), closes=time.fromisoformat(c))
            for w, o, c in _parse(row[2])
        ],
        closed_days=frozenset(closed),
    )
    load_map = {datetime.fromisoformat(s): int(n) for s, n in _parse(row[4])} if with_loads else {}
    return Bookable(
        service_id=service_id,
        organization_id=service.organization_id,
        capacity=service.capacity,
        is_active=service.is_active,
        rules=rules,
        loads=load_map,
    )


def _parse(value: Any) -> list[Any]:
    return json.loads(value) if isinstance(value, str) else list(value or [])


async def available_slots(
    session: AsyncSession, *, service_id: uuid.UUID, first: date, last: date
) -> list[dict[str, Any]]:
    """Slots as plain JSON-ready dicts (the `Slot` schema): a 31-day range has hundreds of them."""
    if last < first:
        raise InvalidRange()
    if first < EARLIEST_DAY or last > LATEST_DAY:
        raise InvalidRange(f"Dates run from {EARLIEST_DAY} to {LATEST_DAY}.")
    if (last - first).days >= MAX_RANGE_DAYS:
        raise RangeTooLong()
    bookable = await _load_bookable(session, service_id=service_id, first=first, last=last, with_loads=True)
    if not bookable.is_active:
        return []
    duration, capacity, loads = bookable.rules.duration, bookable.capacity, bookable.loads
    return [
        {
            "starts_at": starts_at.isoformat(),
            "ends_at": (starts_at + duration).isoformat(),
            "capacity": capacity,
            "available": max(0, capacity - loads.get(starts_at, 0)),
        }
        for starts_at in slots.starts_between(first, last, bookable.rules, datetime.now(UTC))
    ]


async def _bookable_at(session: AsyncSession, *, service_id: uuid.UUID, starts_at: datetime) -> Bookable:
    day = starts_at.date()
    bookable = await _load_bookable(
        session, service_id=service_id, first=day - timedelta(days=1), last=day + timedelta(days=1), with_loads=False
    )
    if not bookable.is_active or not slots.is_bookable(starts_at, bookable.rules, datetime.now(UTC)):
        raise SlotUnavailable()
    return bookable


async def _take_seat(session: AsyncSession, *, bookable: Bookable, starts_at: datetime) -> None:
    """Hold one seat of the slot, or raise SlotFull. The conditional upsert is the guarantee."""
    statement = (
        insert(SlotLoad)
        .values(service_id=bookable.service_id, starts_at=starts_at, booked=1)
        .on_conflict_do_update(
            index_elements=[SlotLoad.service_id, SlotLoad.starts_at],
            set_={"booked": SlotLoad.booked + 1},
            where=SlotLoad.booked < bookable.capacity,
        )
        .returning(SlotLoad.booked)
    )
    if await session.scalar(statement) is None:
        raise SlotFull()


async def _free_seat(session: AsyncSession, *, appointment: Appointment) -> None:
    await session.execute(
        update(SlotLoad)
        .where(SlotLoad.service_id == appointment.service_id, SlotLoad.starts_at == appointment.starts_at)
        .values(booked=SlotLoad.booked - 1)
    )


async def _overlaps(
    session: AsyncSession, *, citizen_id: uuid.UUID, starts_at: datetime, ends_at: datetime, ignore: uuid.UUID | None
) -> bool:
    query = select(Appointment.id).where(
        Appointment.citizen_id == citizen_id,
        Appointment.status.in_(ACTIVE_STATUSES),
        func.tstzrange(Appointment.starts_at, Appointment.ends_at).op("&&")(func.tstzrange(starts_at, ends_at)),
    )
    if ignore is not None:
        query = query.where(Appointment.id != ignore)
    return await session.scalar(query.limit(1)) is not None


def _record(
    session: AsyncSession,
    *,
    appointment_id: uuid.UUID,
    before: str | None,
    after: str,
    actor: User | None,
    note: str | None,
) -> None:
    session.add(
        AppointmentEvent(
            appointment_id=appointment_id,
            from_status=before,
            to_status=after,
            actor_id=actor.id if actor else None,
            note=note,
        )
    )


async def book(
    session: AsyncSession, *, citizen: User, service_id: uuid.UUID, starts_at: datetime, notes: str | None
) -> Appointment:
    bookable = await _bookable_at(session, service_id=service_id, starts_at=starts_at)
    ends_at = starts_at + bookable.rules.duration
    await _take_seat(session, bookable=bookable, starts_at=starts_at)
    for _ in range(3):
        appointment = await _insert_booked(
            session, citizen=citizen, bookable=bookable, starts_at=starts_at, ends_at=ends_at, notes=notes
        )
        if appointment is not None:
            await notifications_service.announce_appointment(
                session, appointment=appointment, kind="appointment_booked", actor=citizen
            )
            return appointment
        if await _overlaps(session, citizen_id=citizen.id, starts_at=starts_at, ends_at=ends_at, ignore=None):
            raise OverlappingAppointment()
        # otherwise the random reference collided with another: draw a new one
    raise OverlappingAppointment()


async def _insert_booked(
    session: AsyncSession,
    *,
    citizen: User,
    bookable: Bookable,
    starts_at: datetime,
    ends_at: datetime,
    notes: str | None,
) -> Appointment | None:
    """Insert the appointment and its first history row in one statement (one round trip).

    `ON CONFLICT DO NOTHING` without a target also covers the exclusion constraint: when the
    citizen already holds an overlapping active appointment (even one committed a moment ago by
    a concurrent request), nothing is inserted and None is returned.
    """
    inserted = (
        insert(Appointment)
        .values(
            id=uuid.uuid4(),
            reference=new_reference(),
            service_id=bookable.service_id,
            organization_id=bookable.organization_id,
            citizen_id=citizen.id,
            starts_at=starts_at,
            ends_at=ends_at,
            status=Status.booked,
            notes=notes,
        )
        .on_conflict_do_nothing()
        .returning(*Appointment.__table__.c)
        .cte("inserted")
    )
    history = (
        insert(AppointmentEvent)
        .from_select(
            ["appointment_id", "to_status", "actor_id"],
            select(inserted.c.id, literal(Status.booked.value), literal(citizen.id)),
        )
        .cte("history")
    )
    statement = select(Appointment).from_statement(select(inserted).add_cte(history))
    return (await session.execute(statement)).scalar_one_or_none()


async def get_visible(
    session: AsyncSession, *, appointment_id: uuid.UUID, user: User, for_update: bool = False
) -> Appointment:
    """The appointment if `user` owns it, is staff of its organization, or is an admin; else 404."""
    query = select(Appointment).where(Appointment.id == appointment_id, queries.visible_to(user))
    if for_update:
        query = query.with_for_update(of=Appointment)
    appointment = await session.scalar(query)
    if appointment is None:
        raise AppointmentNotFound()
    return appointment


async def is_staff_for(session: AsyncSession, *, user: User, appointment: Appointment) -> bool:
    if user.role == Role.admin:
        return True
    role = await organizations_service.get_role(session, organization_id=appointment.organization_id, user_id=user.id)
    return role is not None


async def get_for_staff(session: AsyncSession, *, appointment_id: uuid.UUID, user: User) -> Appointment:
    """Locked for update; 404 unless `user` is staff of its organization or an admin."""
    appointment = await session.get(Appointment, appointment_id, with_for_update=True)
    if appointment is None:
        raise AppointmentNotFound()
    if not await is_staff_for(session, user=user, appointment=appointment):
        if appointment.citizen_id == user.id:
            raise PermissionDenied("Only the organization's staff can do this.")  # they can see it
        raise AppointmentNotFound()
    return appointment


async def _move(
    session: AsyncSession, *, appointment: Appointment, to: Status, actor: User | None, note: str | None
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
    await notifications_service.announce_appointment(
        session, appointment=appointment, kind=_ANNOUNCEMENTS.get(to, "appointment_status"), actor=actor, note=note
    )
    if to is Status.completed:
        await notifications_service.announce_appointment(
            session, appointment=appointment, kind="rating_request", actor=None
        )
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
    actor: User,
    to: Status,
    note: str | None,
    checkin_opens_before: timedelta,
) -> Appointment:
    """Staff moves an appointment along the status machine (lock it first: `get_for_staff`)."""
    if to is Status.checked_in and Status(appointment.status) is Status.booked:
        _check_window(appointment, opens_before=checkin_opens_before)
    return await _move(session, appointment=appointment, to=to, actor=actor, note=note)


async def check_in(
    session: AsyncSession, *, appointment: Appointment, actor: User, opens_before: timedelta
) -> Appointment:
    """Check in at the counter. Idempotent: an appointment already checked in is returned unchanged."""
    if Status(appointment.status) is Status.checked_in:
        return appointment
    if Status(appointment.status) is not Status.booked:
        raise InvalidTransition(f"An appointment that is {appointment.status} cannot be checked in.")
    _check_window(appointment, opens_before=opens_before)
    return await _move(session, appointment=appointment, to=Status.checked_in, actor=actor, note=None)


async def cancel(session: AsyncSession, *, appointment: Appointment, actor: User, reason: str | None) -> Appointment:
    """The owner (before the start) or staff cancel; the seat is freed. Lock the row first."""
    is_owner = appointment.citizen_id == actor.id
    if (
        Status(appointment.status) is Status.booked
        and is_owner
        and not await is_staff_for(session, user=actor, appointment=appointment)
    ):
        if datetime.now(UTC) >= appointment.starts_at:
            raise TooLate()
    return await _move(session, appointment=appointment, to=Status.cancelled, actor=actor, note=reason)


async def reschedule(
    session: AsyncSession, *, appointment: Appointment, actor: User, starts_at: datetime
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
    if await _overlaps(
        session, citizen_id=appointment.citizen_id, starts_at=starts_at, ends_at=ends_at, ignore=appointment.id
    ):
        raise OverlappingAppointment()
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
    except IntegrityError as exc:  # a concurrent booking of the same citizen overlapped
        raise OverlappingAppointment() from exc
    note = f"rescheduled from {old.isoformat()} to {starts_at.isoformat()}"
    _record(session, appointment_id=appointment.id, before=Status.booked, after=Status.booked, actor=actor, note=note)
    await session.flush()
    await session.refresh(appointment)
    await notifications_service.announce_appointment(
        session, appointment=appointment, kind="appointment_rescheduled", actor=actor, previous_starts_at=old
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


async def get_read(session: AsyncSession, *, appointment_id: uuid.UUID, user: User) -> AppointmentRead:
    """The body of an appointment `user` may see (owner, staff, admin) in one query; else 404."""
    row = (
        await session.execute(
            select(*queries.BODY_COLUMNS).where(Appointment.id == appointment_id, queries.visible_to(user))
        )
    ).first()
    if row is None:
        raise AppointmentNotFound()
    return AppointmentRead.model_validate(row._mapping)


async def _total(session: AsyncSession, query: Select[Any], rows: Sequence[Any], offset: int) -> int:
    """The page's `count(*) OVER ()`, or a count of its own for a page past the end."""
    if rows:
        return int(rows[0].total)
    if offset == 0:
        return 0
    return await session.scalar(select(func.count()).select_from(query.subquery())) or 0


def _local_day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(), zone)
    return start, datetime.combine(day + timedelta(days=1), time(), zone)


def _local_date(column: Any) -> Any:
    return func.date(func.timezone(Organization.timezone, column))


async def get_own(
    session: AsyncSession,
    *,
    citizen: User,
    status: Status | None,
    first: date | None,
    last: date | None,
    offset: int,
    limit: int,
) -> tuple[list[AppointmentRead], int]:
    """The citizen's appointments, latest first; dates are local to each appointment's organization."""
    query: Select[Any] = select(*queries.BODY_COLUMNS, func.count().over().label("total")).where(
        Appointment.citizen_id == citizen.id
    )
    if status is not None:
        query = query.where(Appointment.status == status)
    if first is not None or last is not None:
        query = query.join(Organization, Organization.id == Appointment.organization_id)
        if first is not None:
            query = query.where(_local_date(Appointment.starts_at) >= first)
        if last is not None:
            query = query.where(_local_date(Appointment.starts_at) <= last)
    ordered = query.order_by(Appointment.starts_at.desc(), Appointment.id).offset(offset).limit(limit)
    rows = (await session.execute(ordered)).all()
    return [AppointmentRead.model_validate(row._mapping) for row in rows], await _total(session, query, rows, offset)


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
) -> tuple[list[dict[str, Any]], int]:
    """The organization's appointments for staff, in time order, with citizen and service names."""
    query: Select[Any] = (
        select(
            *queries.BODY_COLUMNS,
            User.full_name.label("citizen_name"),
            Service.name.label("service_name"),
            func.count().over().label("total"),
        )
        .join(User, User.id == Appointment.citizen_id)
        .join(Service, Service.id == Appointment.service_id)
        .where(Appointment.organization_id == organization.id)
    )
    if day is not None:
        low, high = _local_day_bounds(day, ZoneInfo(organization.timezone))
        query = query.where(Appointment.starts_at >= low, Appointment.starts_at < high)
    if status is not None:
        query = query.where(Appointment.status == status)
    if service_id is not None:
        query = query.where(Appointment.service_id == service_id)
    if q:
        pattern = f"%{users_service.escape_like(q)}%"
        query = query.where(or_(Appointment.reference == q.upper().replace("-", ""), User.full_name.ilike(pattern)))
    ordered = query.order_by(Appointment.starts_at, Appointment.id).offset(offset).limit(limit)
    rows = (await session.execute(ordered)).all()
    return [dict(row._mapping) for row in rows], await _total(session, query, rows, offset)
