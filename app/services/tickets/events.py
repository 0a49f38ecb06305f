"""What happened to a ticket, told to the features that react to it (automation rules, webhooks)
in the transaction of the change.

The helpdesk's higher features depend on tickets, never the reverse: they register a listener
here (`app/main.py` wires them) and the tickets service calls `emit` after each change. A listener
runs in the caller's session; what it writes commits or rolls back with the change itself.
"""

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.services.tickets.models import Ticket

# The kinds of `TicketHappened.type`.
CREATED, STATUS_CHANGED, ASSIGNED, MESSAGE, SLA_BREACHED = (
    "created",
    "status_changed",
    "assigned",
    "message",
    "sla_breached",
)


@dataclass(frozen=True, slots=True)
class TicketHappened:
    type: str
    ticket: Ticket
    at: datetime
    data: dict[str, Any] = field(default_factory=dict)
    # Set when an automation rule made the change (rules never trigger rules).
    rule_id: uuid.UUID | None = None


Listener = Callable[[AsyncSession, TicketHappened], Awaitable[None]]
listeners: list[Listener] = []


def subscribe(listener: Listener) -> None:
    if listener not in listeners:
        listeners.append(listener)


async def emit(session: AsyncSession, event: TicketHappened) -> None:
    for listener in listeners:
        await listener(session, event)
