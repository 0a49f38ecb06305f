"""Bookings and cancellations, published by the features above appointments (webhooks) in the
statement or transaction that makes them.

Those features depend on appointments, never the reverse: they register a `Publisher` here
(`app/main.py` wires them). A publisher extends a statement with its own CTEs over `happened`, a
select of one row per event with `organization_id`, `data` (JSON) and `at`; what it writes
commits or rolls back with the change itself.

- A booking is one statement (`booking.py`); the publishers' CTEs ride in it, so it stays one
  round trip. For an organization without subscribers they read one index entry and write nothing;
  the event's body is only built for an event that is stored.
- A cancellation (every move to `cancelled`, by the owner, by staff or by key) runs the
  publishers' CTEs as one more statement of its transaction.

`data` is `{"appointment": <the body as staff read it (AppointmentRead)>}`, and for a
cancellation also `"reason"` (the note given with it, or null).
"""

from collections.abc import Mapping
from functools import cache
from typing import Any, Protocol

from sqlalchemy import CTE, Select, String, Uuid, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.services.appointments import queries
from app.services.appointments.models import Appointment

BOOKED, CANCELLED = "booked", "cancelled"


class Publisher(Protocol):
    def __call__(self, statement: Select[Any], *, kind: str, happened: Select[Any]) -> Select[Any]: ...


# A tuple, so that the statements built for one set of publishers can be cached by it.
publishers: tuple[Publisher, ...] = ()


def subscribe(publisher: Publisher) -> None:
    global publishers
    if publisher not in publishers:
        publishers = (*publishers, publisher)


def _published(statement: Select[Any], *, kind: str, happened: Select[Any], to: tuple[Publisher, ...]) -> Select[Any]:
    for publisher in to:
        statement = publisher(statement, kind=kind, happened=happened)
    return statement


def _data(columns: Mapping[str, Any], requirements: Any, *extra: Any) -> Any:
    """`{"appointment": <body>, <extra key, value>...}`, built by PostgreSQL."""
    return func.json_build_object("appointment", queries.body(columns, requirements), *extra)


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
