"""The property demo, part 2: Harbourview's progress updates and buyers' change requests.

Runs after `app/demo/property.py` (it needs its projects, milestones and bookings). Idempotent:
fixed ids (`00000000-0000-4000-d9<kind>-<12 digits>`), nothing added once the first update exists.
An accepted change request is what the API makes of one: an instalment `kind: change_request` due
that day at the end of the schedule, and its days added to the booking's `delay_days`.
"""

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from app.demo import catalog
from app.services.change_requests.models import ChangeRequest, ChangeRequestEvent
from app.services.construction.models import ProgressUpdate
from app.services.organizations.models import Organization
from app.services.properties.models import Milestone, Project
from app.services.unit_sales.models import Booking, Instalment

if TYPE_CHECKING:
    from app.demo.seed import Progress

UPDATE, REQUEST, REQUEST_EVENT, REQUEST_LINE = "d920", "d930", "d940", "d950"
NEWS = (
    "Foundations are complete; the crane goes up next week.",
    "The frame has reached the top floor: topping-out ceremony on Friday.",
    "Windows are going in on the south side; the roof is watertight.",
)
# (title, description, how far it went)
REQUESTS = (
    ("Kitchen island", "Replace the breakfast bar with an island and a second sink.", "accepted"),
    ("Extra sockets", "Four more double sockets in the living room.", "quoted"),
    ("Move a wall", "Open the second bedroom into the living room.", "declined"),
    ("Bath instead of shower", "A bath in the main bathroom.", "requested"),
    ("Darker floor", "Oak floor in a darker stain.", "withdrawn"),
)


async def seed(conn: AsyncConnection, *, password_hash: str, progress: "Progress") -> None:
    from app.demo.seed import demo_uuid  # deferred: seed.py imports this module to list it

    organization = (
        await conn.execute(
            select(Organization.id, Organization.timezone).where(
                Organization.name == catalog.DEVELOPER.name, Organization.kind == "property"
            )
        )
    ).first()
    if organization is None:
        return
    if await conn.scalar(select(ProgressUpdate.id).where(ProgressUpdate.id == demo_uuid(UPDATE, 1))) is not None:
        progress.step("found the construction demo")
        return
    org_id, timezone = organization
    now = datetime.now(UTC).replace(microsecond=0)
    today = now.astimezone(ZoneInfo(timezone)).date()
    projects = (
        await conn.execute(
            select(Project.id, Project.status)
            .where(Project.organization_id == org_id, Project.published)
            .order_by(Project.id)
        )
    ).all()
    updates: list[dict[str, Any]] = []
    for number, (project_id, status) in enumerate(projects):
        ids: list[uuid.UUID | None] = list(
            await conn.scalars(
                select(Milestone.id).where(Milestone.project_id == project_id).order_by(Milestone.position)
            )
        ) or [None]
        news = len(NEWS) if status != "planned" else 1
        for index in range(news):
            updates.append(
                {
                    "id": demo_uuid(UPDATE, number * 10 + index + 1),
                    "project_id": project_id,
                    "organization_id": org_id,
                    "milestone_id": ids[min(index, len(ids) - 1)],
                    "body": NEWS[index],
                    "author_id": None,
                    "created_at": now - timedelta(days=30 * (news - index)),
                }
            )
    if updates:
        await conn.execute(insert(ProgressUpdate).values(updates).on_conflict_do_nothing())
    requests = await _change_requests(conn, demo_uuid, org_id=org_id, now=now, today=today)
    progress.step(f"added {len(updates)} progress updates and {requests} change requests")


async def _change_requests(
    conn: AsyncConnection, demo_uuid: Any, *, org_id: uuid.UUID, now: datetime, today: date
) -> int:
    bookings = (
        await conn.execute(
            select(Booking.id, Booking.unit_id, Booking.project_id, Booking.customer_id, Booking.currency)
            .where(Booking.organization_id == org_id, Booking.status.in_(["reserved", "sold"]))
            .order_by(Booking.id)
            .limit(len(REQUESTS))
        )
    ).all()
    for number, (booking, (title, description, reached)) in enumerate(zip(bookings, REQUESTS, strict=False), start=1):
        request_id = demo_uuid(REQUEST, number)
        quoted = reached in ("quoted", "accepted")
        amount, days = Decimal("3500.00") + number * 250, 7 * number
        await conn.execute(
            insert(ChangeRequest)
            .values(
                id=request_id,
                booking_id=booking.id,
                unit_id=booking.unit_id,
                project_id=booking.project_id,
                organization_id=org_id,
                customer_id=booking.customer_id,
                status=reached,
                title=title,
                description=description,
                amount=amount if quoted else None,
                days=days if quoted else None,
                quote_note="Materials and fitting included." if quoted else None,
                created_at=now - timedelta(days=20),
            )
            .on_conflict_do_nothing()
        )
        path = {
            "requested": [],
            "quoted": ["quoted"],
            "accepted": ["quoted", "accepted"],
            "declined": ["declined"],
            "withdrawn": ["withdrawn"],
        }[reached]
        moves: list[tuple[str | None, str, uuid.UUID | None]] = [(None, "requested", booking.customer_id)]
        for step in path:
            moves.append((moves[-1][1], step, None if step in ("quoted", "declined") else booking.customer_id))
        await conn.execute(
            insert(ChangeRequestEvent)
            .values(
                [
                    {
                        "id": demo_uuid(REQUEST_EVENT, number * 10 + index),
                        "change_request_id": request_id,
                        "from_status": before,
                        "to_status": after,
                        "actor_id": actor,
                        "note": "The wall carries the floor above." if after == "declined" else None,
                        "at": now - timedelta(days=20 - 5 * index),
                    }
                    for index, (before, after, actor) in enumerate(moves)
                ]
            )
            .on_conflict_do_nothing()
        )
        if reached == "accepted":
            last = await conn.scalar(
                select(func.coalesce(func.max(Instalment.position), 0)).where(Instalment.booking_id == booking.id)
            )
            line_id = demo_uuid(REQUEST_LINE, number)
            await conn.execute(
                insert(Instalment)
                .values(
                    id=line_id,
                    booking_id=booking.id,
                    position=(last or 0) + 1,
                    label=f"Change: {title}",
                    kind="change_request",
                    change_request_id=request_id,
                    trigger="date",
                    offset_days=0,
                    due_on=today - timedelta(days=10),
                    amount=amount,
                    paid=Decimal(0),
                )
                .on_conflict_do_nothing()
            )
            await conn.execute(
                update(ChangeRequest).where(ChangeRequest.id == request_id).values(instalment_id=line_id)
            )
            await conn.execute(
                update(Booking).where(Booking.id == booking.id).values(delay_days=Booking.delay_days + days)
            )
    return len(bookings)
