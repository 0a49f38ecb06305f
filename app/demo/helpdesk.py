"""The helpdesk demo: each demo organization gets a support desk.

Categories, an SLA calendar (weekdays 08:00-17:00 in the organization's zone) with policies per
priority, and `TICKETS_PER_ORG` tickets over the last 60 days in every status, each with its
thread (the requester's description, replies, internal notes), its history and SLA due times and
breaches computed by the real clock (`app/services/tickets/sla.py`). Idempotent: tickets have
fixed ids (`demo_uuid(TICKET, n)`), and an organization whose first ticket exists is skipped.
"""

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from app.demo import catalog
from app.services.appointments.service import REFERENCE_ALPHABET
from app.services.chat.models import ChatMessage, Conversation
from app.services.organizations.models import Membership, Organization
from app.services.tickets import sla
from app.services.tickets.models import SlaCalendar, SlaPolicy, Ticket, TicketCategory, TicketEvent
from app.services.users.models import User

if TYPE_CHECKING:
    from app.demo.seed import Progress

TICKETS_PER_ORG = 300
MAX_REQUESTERS = 300
# Fixed ids: a second run finds the tickets it made.
_IDS = uuid.UUID("7c0b7a8e-4d1e-4a51-9a57-2f1f3f0de5a1")
HISTORY_DAYS = 60
CATEGORIES = ("Access and accounts", "Appointments", "Billing", "Documents", "Other")
POLICIES = {"low": (480, 4800), "normal": (240, 2400), "high": (60, 960), "urgent": (30, 240)}
OFFICE = [(day, 8 * 3600, 17 * 3600) for day in range(5)]
SUBJECTS = (
    "Cannot sign in",
    "Where is my document?",
    "Wrong amount on my invoice",
    "Need to move my appointment",
    "Form rejected without a reason",
    "Question about opening hours",
    "Upload keeps failing",
    "Please call me back",
)
REPLIES = ("Thank you, we are looking into it.", "Could you send us a photo of the form?", "This is fixed now.")
NOTES = ("Checked the logs: looks like a duplicate account.", "Escalated to the back office.")


@dataclass
class _Plan:
    """One ticket's life: status moves and messages, in time order."""

    moves: list[tuple[datetime, str, uuid.UUID | None]] = field(default_factory=list)
    messages: list[tuple[datetime, uuid.UUID, str, bool]] = field(default_factory=list)


def _reference(number: int) -> str:
    """`D` and seven symbols of the demo number (real references are eight random symbols; the
    unique index would refuse a clash)."""
    symbols = []
    for _ in range(7):
        number, rest = divmod(number, 32)
        symbols.append(REFERENCE_ALPHABET[rest])
    return "D" + "".join(symbols)


def _demo_id(kind: str, organization_id: uuid.UUID, number: int) -> uuid.UUID:
    return uuid.uuid5(_IDS, f"{kind}:{organization_id}:{number}")


async def seed(conn: AsyncConnection, *, password_hash: str, progress: "Progress") -> None:
    orgs = []
    for spec in catalog.ORGANIZATIONS:
        row = (
            await conn.execute(
                select(Organization.id, Organization.timezone, Organization.email).where(
                    Organization.email.like(f"{spec.key}@%")
                )
            )
        ).first()
        if row is not None:
            orgs.append(row)
    for index, (org_id, timezone, email) in enumerate(orgs):
        domain = (email or "").partition("@")[2]
        requesters = list(
            (
                await conn.execute(
                    select(User.id)
                    .where(User.email.like(f"citizen%@{domain}"))
                    .order_by(User.email)
                    .limit(MAX_REQUESTERS)
                )
            ).scalars()
        )
        if not requesters:
            continue
        await _ensure_desk(conn, organization_id=org_id)
        added = await _ensure_tickets(
            conn, organization_id=org_id, timezone=timezone, base=index * TICKETS_PER_ORG, requesters=requesters
        )
        if added:
            progress.step(f"helpdesk: {added} tickets with threads for one demo organization")
        await conn.commit()


async def _ensure_desk(conn: AsyncConnection, *, organization_id: uuid.UUID) -> None:
    await conn.execute(
        pg_insert(TicketCategory)
        .values([{"id": uuid.uuid4(), "organization_id": organization_id, "name": name} for name in CATEGORIES])
        .on_conflict_do_nothing()
    )
    has_calendar = await conn.scalar(select(SlaCalendar.id).where(SlaCalendar.organization_id == organization_id))
    if has_calendar is None:
        await conn.execute(
            insert(SlaCalendar).values(
                id=uuid.uuid4(),
                organization_id=organization_id,
                weekly=[{"weekday": d, "opens": o, "closes": c} for d, o, c in OFFICE],
                holidays=[],
                effective_from=datetime.now(UTC) - timedelta(days=HISTORY_DAYS + 1),
            )
        )
    await conn.execute(
        pg_insert(SlaPolicy)
        .values(
            [
                {
                    "organization_id": organization_id,
                    "priority": p,
                    "first_response_minutes": f,
                    "resolution_minutes": r,
                }
                for p, (f, r) in POLICIES.items()
            ]
        )
        .on_conflict_do_nothing()
    )


def _plan(
    rng: random.Random, *, created: datetime, now: datetime, requester: uuid.UUID, staff: list[uuid.UUID]
) -> tuple[str, _Plan, uuid.UUID | None]:
    """A believable life ending in a random status; returns (status, plan, assignee)."""
    plan = _Plan()
    final = rng.choices(["new", "open", "pending", "on_hold", "solved", "closed"], weights=[10, 25, 12, 8, 20, 25])[0]
    at = created
    assignee = None if final == "new" else rng.choice(staff)

    def later(hours: float) -> datetime:
        nonlocal at
        at = min(now, at + timedelta(hours=rng.uniform(0.1, hours)))
        return at

    if final == "new":
        return final, plan, None
    agent = assignee or staff[0]
    plan.moves.append((later(30), "open", agent))
    plan.messages.append((later(2), agent, rng.choice(REPLIES), False))
    if rng.random() < 0.5:
        plan.messages.append((later(4), agent, rng.choice(NOTES), True))
    if final in ("pending", "on_hold"):
        plan.moves.append((later(8), final, agent))
    elif final in ("solved", "closed"):
        plan.messages.append((later(24), requester, "Thanks, that worked.", False))
        plan.moves.append((later(8), "solved", agent))
        if final == "closed":
            plan.moves.append((min(now, at + timedelta(days=7)), "closed", None))
    return final, plan, assignee


async def _ensure_tickets(
    conn: AsyncConnection, *, organization_id: uuid.UUID, timezone: str, base: int, requesters: list[uuid.UUID]
) -> int:
    if await conn.scalar(select(Ticket.id).where(Ticket.id == _demo_id("ticket", organization_id, 1))) is not None:
        return 0
    staff = list(
        (await conn.execute(select(Membership.user_id).where(Membership.organization_id == organization_id))).scalars()
    )
    categories = list(
        (
            await conn.execute(select(TicketCategory.id).where(TicketCategory.organization_id == organization_id))
        ).scalars()
    )
    calendar = sla.Calendar(timezone, tuple(OFFICE))
    versions = [sla.CalendarVersion(datetime.now(UTC) - timedelta(days=HISTORY_DAYS + 1), calendar)]
    rng = random.Random(base)
    now = datetime.now(UTC).replace(microsecond=0)
    tickets: list[dict[str, Any]] = []
    conversations: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    for number in range(1, TICKETS_PER_ORG + 1):
        n = base + number
        ticket_id = _demo_id("ticket", organization_id, number)
        conversation_id = _demo_id("conversation", organization_id, number)
        requester = rng.choice(requesters)
        created = now - timedelta(seconds=rng.randrange(HISTORY_DAYS * 86400))
        subject = rng.choice(SUBJECTS)
        priority = rng.choices(list(POLICIES), weights=[2, 6, 2, 1])[0]
        status, plan, assignee = _plan(rng, created=created, now=now, requester=requester, staff=staff)
        conversations.append(
            {
                "id": conversation_id,
                "organization_id": organization_id,
                "citizen_id": requester,
                "subject": subject,
                "status": "closed" if status == "closed" else "open",
                "created_at": created,
                "last_activity_at": created,
            }
        )
        thread = [(created, requester, f"{subject}. Can you help?", False), *plan.messages]
        for at, sender, body, internal in thread:
            messages.append(
                {
                    "conversation_id": conversation_id,
                    "sender_id": sender,
                    "body": body,
                    "internal": internal,
                    "created_at": at,
                }
            )
        events.append(
            {
                "ticket_id": ticket_id,
                "type": "created",
                "actor_id": requester,
                "data": {"status": "new", "priority": priority},
                "at": created,
            }
        )
        changes = [sla.StatusChange(created, "new")]
        previous = "new"
        solved_at = closed_at = None
        for at, to, actor in plan.moves:
            events.append(
                {
                    "ticket_id": ticket_id,
                    "type": "status_changed",
                    "actor_id": actor,
                    "data": {"from": previous, "to": to},
                    "at": at,
                }
            )
            changes.append(sla.StatusChange(at, to))
            previous = to
            solved_at = at if to == "solved" else solved_at
            closed_at = at if to == "closed" else closed_at
        for at, sender, _body, internal in plan.messages:
            kind = "note_added" if internal else "replied"
            events.append({"ticket_id": ticket_id, "type": kind, "actor_id": sender, "data": {}, "at": at})
        first_reply = next(
            (at for at, sender, _b, internal in plan.messages if sender != requester and not internal), None
        )
        spans = sla.intervals(changes=changes, calendars=versions, now=now)
        first_minutes, resolution_minutes = POLICIES[priority]
        clock = sla.clock_of(status)
        first_due = sla.due_at(spans, target=timedelta(minutes=first_minutes), calendar=calendar, now=now, clock=clock)
        resolution_due = sla.due_at(
            spans, target=timedelta(minutes=resolution_minutes), calendar=calendar, now=now, clock=clock
        )
        first_breached = first_due is not None and (first_reply or now) > first_due
        resolution_breached = resolution_due is not None and (solved_at or now) > resolution_due
        for breached, target, due in (
            (first_breached, "first_response", first_due),
            (resolution_breached, "resolution", resolution_due),
        ):
            if breached and due is not None:
                events.append(
                    {
                        "ticket_id": ticket_id,
                        "type": "sla_breached",
                        "actor_id": None,
                        "data": {"target": target},
                        "at": due,
                    }
                )
        tickets.append(
            {
                "id": ticket_id,
                "reference": _reference(n),
                "organization_id": organization_id,
                "subject": subject,
                "description": f"{subject}. Can you help?",
                "status": status,
                "priority": priority,
                "category_id": rng.choice(categories) if categories else None,
                "assignee_id": assignee,
                "requester_id": requester,
                "requester_email": None,
                "tags": rng.sample(["vip", "phone", "repeat", "press"], k=rng.randrange(3)),
                "channel": "web",
                "conversation_id": conversation_id,
                "first_response_due_at": None if first_reply else first_due,
                "resolution_due_at": None if clock is sla.Clock.stopped else resolution_due,
                "first_responded_at": first_reply,
                "solved_at": solved_at,
                "closed_at": closed_at,
                "first_response_breached": first_breached,
                "resolution_breached": resolution_breached,
                "sla_paused": clock is sla.Clock.paused,
                "first_response_minutes": sla.minutes(sla.counted_until(spans, first_reply)) if first_reply else None,
                "resolution_minutes": sla.minutes(sla.counted_until(spans, solved_at)) if solved_at else None,
                "created_at": created,
                "updated_at": max([created, *(at for at, _t, _a in plan.moves)]),
            }
        )
    # Conversations of this demo left without their tickets (the helpdesk migration downgraded and
    # upgraded again) are replaced: their ids are the demo's own.
    await conn.execute(delete(Conversation).where(Conversation.id.in_([c["id"] for c in conversations])))
    await conn.execute(insert(Conversation), conversations)
    await conn.execute(insert(ChatMessage), sorted(messages, key=lambda m: m["created_at"]))
    await conn.execute(
        text("""
        UPDATE conversations c SET last_message_id = m.id, last_activity_at = m.created_at
        FROM (SELECT DISTINCT ON (conversation_id) conversation_id, id, created_at FROM chat_messages
              WHERE conversation_id = ANY(CAST(:ids AS uuid[])) AND NOT internal
              ORDER BY conversation_id, id DESC) AS m
        WHERE c.id = m.conversation_id
        """),
        {"ids": [c["id"] for c in conversations]},
    )
    await conn.execute(insert(Ticket), tickets)
    await conn.execute(insert(TicketEvent), sorted(events, key=lambda e: e["at"]))
    return len(tickets)
