"""Bookings and cancellations, published by the features above appointments (webhooks) in the
statement or transaction that makes them.

Those features depend on appointments, never the reverse: they register a `Publisher` here
(`app/main.py` wires them). A publisher extends a statement with its own CTEs over `happened`, a
select of one row per event with `organization_id`, `data` (JSON) and `at`; what it writes
commits or rolls back with the change itself.

- A booking's first statement (its read) asks whether anyone listens (`listening`: for
  webhooks, one index probe); only then does its second (the write) carry the publishers' CTEs.
  So it stays two round trips, and an organization without subscribers writes as before. (A
  subscription made between the two statements hears the next booking, as one made a moment
  later would.)
- A cancellation (every move to `cancelled`, by the owner, by staff or by key) runs the
  publishers' CTEs as one more statement of its transaction.

`data` is `{"appointment": <the body as staff read it (AppointmentRead)>}`, and for a
cancellation also `"reason"` (the note given with it, or null).
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import CTE, JSON, ColumnElement, Select, String, Uuid, bindparam, cast, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.services.appointments import queries
from app.services.appointments.models import Appointment

BOOKED, CANCELLED = "booked", "cancelled"


@dataclass(frozen=True, slots=True)
class Publisher:
    """What a feature above registers: `listening(organization_id, kind)`, whether it would
    store anything for such an event (a SQL condition), and `publish(statement, kind=,
    happened=)`, the statement extended to store it."""

    listening: Callable[[Any, str], ColumnElement[bool]]
    publish: Callable[..., Select[Any]]


# A tuple, so that the statements built for one set of publishers can be cached by it.
publishers: tuple[Publisher, ...] = ()


def subscribe(publisher: Publisher) -> None:
    global publishers
    if publisher not in publishers:
        publishers = (*publishers, publisher)


def listening(organization_id: Any, *, kind: str, to: tuple[Publisher, ...]) -> ColumnElement[bool]:
    """Whether any of `to` would store an event of `kind` for the organization."""
    return or_(false(), *(publisher.listening(organization_id, kind) for publisher in to))


def _published(statement: Select[Any], *, kind: str, happened: Select[Any], to: tuple[Publisher, ...]) -> Select[Any]:
    for publisher in to:
        statement = publisher.publish(statement, kind=kind, happened=happened)
    return statement


def _data(columns: Mapping[str, Any], requirements: Any, *extra: Any) -> Any:
    """`{"appointment": <body>, <extra key, value>...}`, built by PostgreSQL."""
    return func.json_build_object("appointment", cast(queries.body(columns, requirements), JSON), *extra)


def booked(statement: Select[Any], *, appointment: CTE, to: tuple[Publisher, ...]) -> Select[Any]:
    """`statement`, which inserts the CTE `appointment`, extended to publish the booking (to
    `to`, the publishers of the moment the statement is built)."""
    happened = select(
        appointment.c.organization_id,
        _data(dict(appointment.c.items()), queries.new_requirements(appointment.c.service_id)).label("data"),
        appointment.c.created_at.label("at"),
    )
    return _published(statement, kind=BOOKED, happened=happened, to=to)


@cache
def _cancellation(to: tuple[Publisher, ...]) -> Select[Any]:
    reason = bindparam("reason", type_=String)
    happened = select(
        Appointment.organization_id,
        _data(dict(Appointment.__table__.c.items()), queries.linked_requirements(), "reason", reason).label("data"),
        func.now().label("at"),
    ).where(Appointment.id == bindparam("appointment_id", type_=Uuid))
    return _published(select(func.now()), kind=CANCELLED, happened=happened, to=to)


async def cancelled(session: AsyncSession, *, appointment: Appointment, reason: str | None) -> None:
    """Publish the cancellation of `appointment` (flushed) in the session's transaction."""
    if publishers:
        await session.execute(_cancellation(publishers), {"appointment_id": appointment.id, "reason": reason})
