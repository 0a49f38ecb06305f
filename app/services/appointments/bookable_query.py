"""What availability and booking read about a service, in one statement.

The service, its organization's zone and names, its opening hours, its closures within the asked
dates and (for availability) the seats taken in them, aggregated by PostgreSQL so that one row
comes back. Parameters: `service_id`, `first` and `last` (local dates), and `low`/`high`, the UTC
bounds of the seats read (see `parameters`).
"""

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, Date, DateTime, Select, bindparam, cast, extract, func, literal_column, select
from sqlalchemy.dialects.postgresql import aggregate_order_by, insert

from app.services.appointments import slots
from app.services.appointments.errors import SlotUnavailable
from app.services.appointments.models import SlotLoad
from app.services.catalog.models import Closure, OpeningHours, Service
from app.services.organizations.models import Organization


@dataclass(frozen=True, slots=True)
class Bookable:
    service_id: uuid.UUID
    service_name: str
    organization_id: uuid.UUID
    organization_name: str
    timezone: str
    capacity: int
    is_active: bool
    rules: slots.Rules
    booked: dict[int, int] = field(default_factory=dict)  # slot start (Unix seconds) -> seats taken


def _json_array(*columns: Any) -> Any:
    return func.coalesce(func.json_agg(func.json_build_array(*columns)), literal_column("'[]'::json"))


def statement(*, with_seats: bool) -> Select[Any]:
    hours = select(_json_array(OpeningHours.weekday, OpeningHours.opens, OpeningHours.closes)).where(
        OpeningHours.service_id == Service.id
    )
    closures = select(_json_array(Closure.starts_on, Closure.ends_on)).where(
        Closure.service_id == Service.id,
        Closure.ends_on >= bindparam("first", type_=Date),
        Closure.starts_on <= bindparam("last", type_=Date),
    )
    columns: list[Any] = [
        Service.id,
        Service.name,
        Service.organization_id,
        Organization.name.label("organization_name"),
        Organization.timezone,
        Service.capacity,
        Service.is_active,
        Service.duration_minutes,
        func.coalesce(Service.slot_minutes, Service.duration_minutes).label("step_minutes"),
        Service.min_notice_minutes,
        Service.max_days_ahead,
        hours.scalar_subquery().label("hours"),
        closures.scalar_subquery().label("closures"),
    ]
    if with_seats:
        # "start:seats taken" pairs (start in Unix seconds), in time order, as one text: it is
        # compared whole when availability answers are reused (`availability`), and kept with them.
        pair = func.concat(cast(extract("epoch", SlotLoad.starts_at), BigInteger), ":", SlotLoad.booked)
        seats = select(func.string_agg(pair, aggregate_order_by(literal_column("','"), SlotLoad.starts_at))).where(
            SlotLoad.service_id == Service.id,
            SlotLoad.starts_at >= bindparam("low", type_=DateTime(timezone=True)),
            SlotLoad.starts_at < bindparam("high", type_=DateTime(timezone=True)),
            SlotLoad.booked > 0,
        )
        columns.append(seats.scalar_subquery().label("seats"))
    return (
        select(*columns)
        .join(Organization, Organization.id == Service.organization_id)
        .where(Service.id == bindparam("service_id"))
    )


def days_around(starts_at: datetime) -> tuple[date, date]:
    """The local dates a start may fall on, whatever offset it was written with: local dates lie
    within a day of the UTC date (offsets are at most 14 hours)."""
    day = starts_at.astimezone(UTC).date()
    return day - timedelta(days=1), day + timedelta(days=1)


def require_bookable(service: Bookable, starts_at: datetime) -> None:
    """Raise SlotUnavailable unless `starts_at` is one of the service's bookable slot starts now."""
    if not service.is_active or not slots.is_bookable(starts_at, service.rules, datetime.now(UTC)):
        raise SlotUnavailable()


def take_seat(service_id: Any, starts_at: Any, capacity: Any) -> Any:
    """Hold one seat of a slot: a row comes back, or none when the slot is full. This conditional
    upsert is the capacity guarantee; PostgreSQL serialises it per slot. Values or bind parameters."""
    return (
        insert(SlotLoad)
        .values(service_id=service_id, starts_at=starts_at, booked=1)
        .on_conflict_do_update(
            index_elements=[SlotLoad.service_id, SlotLoad.starts_at],
            set_={"booked": SlotLoad.booked + 1},
            where=SlotLoad.booked < capacity,
        )
        .returning(SlotLoad.booked)
    )


def parameters(*, service_id: uuid.UUID, first: date, last: date) -> dict[str, Any]:
    # UTC bounds one day wider than the local dates on each side cover every zone's offset.
    return {
        "service_id": service_id,
        "first": first,
        "last": last,
        "low": datetime.combine(first - timedelta(days=1), time(), UTC),
        "high": datetime.combine(last + timedelta(days=2), time(), UTC),
    }


def _seats_taken(pairs: str) -> dict[int, int]:
    """The pairs "start:taken,start:taken" as a map from start (Unix seconds) to seats taken."""
    numbers = list(map(int, pairs.replace(":", ",").split(",")))
    return dict(zip(numbers[::2], numbers[1::2], strict=True))


def from_row(row: Any, *, first: date, last: date) -> Bookable:
    """A row of `statement` (a SQLAlchemy row's mapping or an asyncpg record) as a Bookable."""
    closed: set[date] = set()
    for starts_on, ends_on in row["closures"]:
        # Only the days of the asked range matter, however long the closure.
        day, end = max(date.fromisoformat(starts_on), first), min(date.fromisoformat(ends_on), last)
        while day <= end:
            closed.add(day)
            day += timedelta(days=1)
    rules = slots.Rules(
        zone=ZoneInfo(row["timezone"]),
        duration=timedelta(minutes=row["duration_minutes"]),
        step=timedelta(minutes=row["step_minutes"]),
        min_notice=timedelta(minutes=row["min_notice_minutes"]),
        max_days_ahead=row["max_days_ahead"],
        hours=[
            slots.OpeningRange(weekday=w, opens=time.fromisoformat(o), closes=time.fromisoformat(c))
            for w, o, c in row["hours"]
        ],
        closed_days=frozenset(closed),
    )
    seats = row["seats"] if "seats" in row.keys() else None
    return Bookable(
        service_id=row["id"],
        service_name=row["name"],
        organization_id=row["organization_id"],
        organization_name=row["organization_name"],
        timezone=row["timezone"],
        capacity=row["capacity"],
        is_active=row["is_active"],
        rules=rules,
        booked=_seats_taken(seats) if seats else {},
    )
