"""The property demo: Harbourview Developments' projects, milestones, units, plans, holds, bookings and payments.

Idempotent: every row has a fixed id (`00000000-0000-4000-d<kind>-<12 digits>`) and is inserted
with `ON CONFLICT DO NOTHING`, so a second run adds nothing and never overwrites what the demo's
users have done since. The buyers are the demo citizens. Each project's units go through every
state: sold (down payment and more paid), reserved (partly paid, unpaid, overdue), cancelled (the
unit free again), held, a lapsed hold (the unit free again), a released hold, and available.
The schedules and allocations are made by the same functions the API uses (`money.split`,
`schedule.first_due_on`, `schedule.allocate`), so the demo agrees with what the API computes.
"""

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from app.demo import catalog
from app.services.organizations.models import Organization
from app.services.payments.models import Payment, PaymentAllocation, ReceiptCounter
from app.services.properties import money
from app.services.properties.models import Milestone, Project, PropertySettings, Unit
from app.services.unit_sales import schedule
from app.services.unit_sales.models import (
    Booking,
    BookingEvent,
    Hold,
    Instalment,
    PaymentPlan,
    PlanInstalment,
)
from app.services.users.models import User

if TYPE_CHECKING:
    from app.demo.seed import Progress

PROJECT, UNIT, PLAN, PLAN_LINE, HOLD, BOOKING, LINE, PAYMENT, EVENT, MILESTONE = (
    "d100", "d200", "d300", "d310", "d400", "d500", "d600", "d700", "d800", "d900"
)  # fmt: skip
MILESTONES = ("Groundworks", "Frame", "Envelope", "Fit-out")
PERCENTS = {"planned": (0, 0, 0, 0), "under_construction": (100, 100, 60, 0), "completed": (100, 100, 100, 100)}
UNITS_PER_PROJECT = 60
BUYERS = 250  # the first demo citizens (the demo makes 300 by default)


@dataclass(frozen=True)
class ProjectSpec:
    name: str
    city: str
    currency: str
    status: str
    base_price: int
    amenities: tuple[str, ...]


PROJECTS = (
    ProjectSpec("Harbourview Quay", "Riverton", "GBP", "under_construction", 285_000, ("concierge", "gym", "marina")),
    ProjectSpec("Quayside Lofts", "Riverton", "GBP", "completed", 210_000, ("roof terrace", "bike store")),
    ProjectSpec("Northern Mills", "Manchester", "GBP", "under_construction", 240_000, ("co-working", "gym")),
    ProjectSpec("Clifton Terraces", "Bristol", "GBP", "planned", 395_000, ("gardens", "parking")),
    ProjectSpec("Aire Gardens", "Leeds", "GBP", "completed", 190_000, ("courtyard",)),
    ProjectSpec("Tagus Riverside", "Lisbon", "EUR", "under_construction", 420_000, ("pool", "concierge")),
    ProjectSpec("Ribeira Views", "Porto", "EUR", "planned", 310_000, ("terraces", "parking")),
    ProjectSpec("Harbour Point", "Riverton", "GBP", "planned", 520_000, ("spa", "marina", "concierge")),
)
PLANS = (
    (
        "Standard 10/40/50",
        (
            ("Reservation deposit", "10", "booking", 0),
            ("Frame complete", "40", "booking", 90),
            ("Handover", "50", "handover", 14),
        ),
    ),
    (
        "Staged quarters",
        (
            ("Deposit", "25", "booking", 0),
            ("Second quarter", "25", "booking", 60),
            ("Third quarter", "25", "booking", 120),
            ("Completion", "25", "handover", 30),
        ),
    ),
)
TYPES = ("apartment", "apartment", "apartment", "villa", "house", "office", "retail", "parking")


async def seed(conn: AsyncConnection, *, password_hash: str, progress: "Progress") -> None:
    # Deferred: seed.py imports this module to list it in VERTICALS.
    from app.demo.seed import CITIZEN, demo_uuid

    organization = (
        await conn.execute(
            select(Organization.id, Organization.timezone).where(
                Organization.name == catalog.DEVELOPER.name, Organization.kind == "property"
            )
        )
    ).first()
    if organization is None:
        return
    org_id, timezone = organization
    if await conn.scalar(select(Project.id).where(Project.id == demo_uuid(PROJECT, 1))) is not None:
        progress.step("found the property demo")
        return
    now = datetime.now(UTC).replace(microsecond=0)
    today = now.astimezone(ZoneInfo(timezone)).date()
    citizens = await conn.scalars(
        select(User.id).where(User.id.between(demo_uuid(CITIZEN, 1), demo_uuid(CITIZEN, BUYERS))).order_by(User.id)
    )
    buyers = list(citizens)
    if not buyers:
        return
    rows = _Rows(demo_uuid, buyers=buyers)
    await conn.execute(
        insert(PropertySettings)
        .values(organization_id=org_id, hold_minutes=30, max_holds_per_customer=3)
        .on_conflict_do_nothing()
    )
    rng = random.Random(20)
    for number, spec in enumerate(PROJECTS, start=1):
        _project(rows, rng, org_id=org_id, number=number, spec=spec, now=now, today=today)
    for model, values in rows.tables():
        for chunk in range(0, len(values), 1000):
            await conn.execute(insert(model).values(values[chunk : chunk + 1000]).on_conflict_do_nothing())
    receipts = await conn.scalar(select(func.max(Payment.receipt_number)).where(Payment.organization_id == org_id))
    counter = insert(ReceiptCounter).values(organization_id=org_id, last_number=receipts or 0)
    await conn.execute(
        counter.on_conflict_do_update(
            index_elements=[ReceiptCounter.organization_id],
            set_={"last_number": func.greatest(ReceiptCounter.last_number, counter.excluded.last_number)},
        )
    )
    progress.step(
        f"added Harbourview's {len(PROJECTS)} projects, {len(rows.units)} units, {len(rows.bookings)} unit bookings"
        f" and {len(rows.payments)} payments"
    )


class _Rows:
    def __init__(self, demo_uuid: Callable[[str, int], uuid.UUID], *, buyers: list[uuid.UUID]) -> None:
        self.uuid = demo_uuid
        self.buyers = buyers
        self.projects: list[dict[str, Any]] = []
        self.milestones: list[dict[str, Any]] = []
        self.plans: list[dict[str, Any]] = []
        self.plan_lines: list[dict[str, Any]] = []
        self.units: list[dict[str, Any]] = []
        self.holds: list[dict[str, Any]] = []
        self.bookings: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.lines: list[dict[str, Any]] = []
        self.payments: list[dict[str, Any]] = []
        self.allocations: list[dict[str, Any]] = []
        self.counter = {"unit": 0, "hold": 0, "booking": 0, "line": 0, "payment": 0, "event": 0, "plan_line": 0}

    def next(self, kind: str) -> int:
        self.counter[kind] += 1
        return self.counter[kind]

    def new_id(self, kind: str, counter: str) -> uuid.UUID:
        return self.uuid(kind, self.next(counter))

    def tables(self) -> list[tuple[Any, list[dict[str, Any]]]]:
        return [
            (Project, self.projects),
            (Milestone, self.milestones),
            (PaymentPlan, self.plans),
            (PlanInstalment, self.plan_lines),
            (Unit, self.units),
            (Hold, self.holds),
            (Booking, self.bookings),
            (BookingEvent, self.events),
            (Instalment, self.lines),
            (Payment, self.payments),
            (PaymentAllocation, self.allocations),
        ]


def _project(
    rows: _Rows, rng: random.Random, *, org_id: uuid.UUID, number: int, spec: ProjectSpec, now: datetime, today: date
) -> None:
    project_id = rows.uuid(PROJECT, number)
    completed_on = today - timedelta(days=40) if spec.status == "completed" else None
    rows.projects.append(
        {
            "id": project_id,
            "organization_id": org_id,
            "name": spec.name,
            "city": spec.city,
            "address": f"{number} Harbour Street, {spec.city}",
            "description": f"{spec.name}: homes by Harbourview Developments in {spec.city}.",
            "status": spec.status,
            "starts_on": today - timedelta(days=400),
            "handover_on": today + timedelta(days=300),
            "completed_on": completed_on,
            "amenities": list(spec.amenities),
            "currency": spec.currency,
            "published": number != len(PROJECTS),  # the last one is still a draft
            "created_at": now - timedelta(days=500 - number),
        }
    )
    for position, (stage, done) in enumerate(zip(MILESTONES, PERCENTS[spec.status], strict=True), start=1):
        rows.milestones.append(
            {
                "id": rows.uuid(MILESTONE, number * 10 + position),
                "project_id": project_id,
                "name": stage,
                "position": position,
                "planned_on": today + timedelta(days=90 * position - 300),
                "percent_complete": done,
                "completed_on": today - timedelta(days=400 - 90 * position) if done == 100 else None,
            }
        )
    plans: list[tuple[uuid.UUID, list[PlanInstalment]]] = []
    for plan_number, (name, lines) in enumerate(PLANS, start=1):
        plan_id = rows.uuid(PLAN, number * 10 + plan_number)
        rows.plans.append({"id": plan_id, "project_id": project_id, "organization_id": org_id, "name": name})
        plan_lines = []
        for position, (label, percent, trigger, offset) in enumerate(lines, start=1):
            line = PlanInstalment(
                id=rows.new_id(PLAN_LINE, "plan_line"),
                plan_id=plan_id,
                position=position,
                label=label,
                percent=Decimal(percent),
                trigger=trigger,
                due_on=None,
                milestone_id=None,
                offset_days=offset,
            )
            plan_lines.append(line)
            rows.plan_lines.append({c: getattr(line, c) for c in _PLAN_LINE_COLUMNS})
        plans.append((plan_id, plan_lines))
    for index in range(UNITS_PER_PROJECT):
        unit_type = TYPES[index % len(TYPES)]
        bedrooms = 0 if unit_type in ("office", "retail", "parking") else 1 + index % 4
        price = Decimal(spec.base_price + bedrooms * 45_000 + rng.randrange(0, 400) * 250)
        if unit_type == "parking":
            price = Decimal(25_000 + rng.randrange(0, 40) * 500)
        unit = {
            "id": rows.new_id(UNIT, "unit"),
            "project_id": project_id,
            "organization_id": org_id,
            "code": f"{'ABCDEFGH'[index // 10 % 8]}-{index % 10 + 1:02d}{index // 10 + 1}",
            "type": unit_type,
            "floor": index // 6,
            "bedrooms": bedrooms,
            "area_m2": Decimal(35 + bedrooms * 28 + rng.randrange(0, 20)),
            "price": price,
            "hold_id": None,
            "held_until": None,
            "booking_id": None,
            "sale_status": None,
        }
        rows.units.append(unit)
        if number == len(PROJECTS):
            continue  # the draft has no sales yet
        state = index % 10
        buyer = rows.buyers[(rows.counter["unit"] * 7) % len(rows.buyers)]
        if state in (0, 1, 2, 3):
            plan_id, chosen = plans[index % 2]
            _booking(rows, rng, unit, org_id=org_id, buyer=buyer, plan_id=plan_id, plan_lines=chosen,
                     state=state, currency=spec.currency, completed_on=completed_on, now=now, today=today)  # fmt: skip
        elif state in (4, 5, 6):
            _hold(rows, unit, org_id=org_id, buyer=buyer, state=state, now=now)


_PLAN_LINE_COLUMNS = (
    "id",
    "plan_id",
    "position",
    "label",
    "percent",
    "trigger",
    "due_on",
    "milestone_id",
    "offset_days",
)


def _hold(rows: _Rows, unit: dict[str, Any], *, org_id: uuid.UUID, buyer: uuid.UUID, state: int, now: datetime) -> None:
    hold_id = rows.new_id(HOLD, "hold")
    created = now - timedelta(minutes=10) if state == 4 else now - timedelta(days=state)
    expires = created + timedelta(minutes=30)
    rows.holds.append(
        {
            "id": hold_id,
            "unit_id": unit["id"],
            "project_id": unit["project_id"],
            "organization_id": org_id,
            "customer_id": buyer,
            "state": "released" if state == 6 else "active",
            "expires_at": expires,
            "ended_at": created + timedelta(minutes=5) if state == 6 else None,
            "created_at": created,
            "updated_at": created,
        }
    )
    if state in (4, 5):  # running, or lapsed: the unit row names it either way, as the API leaves it
        unit["hold_id"], unit["held_until"] = hold_id, expires


def _booking(
    rows: _Rows,
    rng: random.Random,
    unit: dict[str, Any],
    *,
    org_id: uuid.UUID,
    buyer: uuid.UUID,
    plan_id: uuid.UUID,
    plan_lines: list[PlanInstalment],
    state: int,
    currency: str,
    completed_on: date | None,
    now: datetime,
    today: date,
) -> None:
    """state 0: sold; 1: reserved, partly paid; 2: reserved, nothing paid (overdue); 3: cancelled."""
    days_ago = rng.randrange(5, 200)
    booked_at = now - timedelta(days=days_ago)
    booked_on = today - timedelta(days=days_ago)
    hold_id = rows.new_id(HOLD, "hold")
    booking_id = rows.new_id(BOOKING, "booking")
    rows.holds.append(
        {
            "id": hold_id,
            "unit_id": unit["id"],
            "project_id": unit["project_id"],
            "organization_id": org_id,
            "customer_id": buyer,
            "state": "booked",
            "expires_at": booked_at + timedelta(minutes=20),
            "ended_at": booked_at,
            "created_at": booked_at - timedelta(minutes=10),
            "updated_at": booked_at,
        }
    )
    status = ("sold", "reserved", "reserved", "cancelled")[state]
    rows.bookings.append(
        {
            "id": booking_id,
            "reference": f"HV{rows.counter['booking']:08d}",
            "unit_id": unit["id"],
            "project_id": unit["project_id"],
            "organization_id": org_id,
            "customer_id": buyer,
            "hold_id": hold_id,
            "payment_plan_id": plan_id,
            "status": status,
            "price": unit["price"],
            "currency": currency,
            "booked_on": booked_on,
            "delay_days": 0,
            "sold_at": booked_at + timedelta(days=3) if status == "sold" else None,
            "cancelled_at": booked_at + timedelta(days=2) if status == "cancelled" else None,
            "created_at": booked_at,
        }
    )
    moves: list[tuple[str | None, str, datetime]] = [(None, "reserved", booked_at)]
    if status != "reserved":
        moves.append(("reserved", status, booked_at + timedelta(days=3 if status == "sold" else 2)))
    for from_status, to_status, at in moves:
        rows.events.append(
            {"id": rows.new_id(EVENT, "event"), "booking_id": booking_id, "from_status": from_status,
             "to_status": to_status, "actor_id": buyer if to_status != "sold" else None, "note": None, "at": at}
        )  # fmt: skip
    if status != "cancelled":
        unit["booking_id"], unit["sale_status"] = booking_id, status
    amounts = money.split(unit["price"], [line.percent for line in plan_lines], currency)
    lines = [
        Instalment(
            id=rows.new_id(LINE, "line"),
            booking_id=booking_id,
            position=plan_line.position,
            label=plan_line.label,
            kind="plan",
            change_request_id=None,
            trigger=plan_line.trigger,
            milestone_id=None,
            offset_days=plan_line.offset_days,
            due_on=schedule.first_due_on(plan_line, booked_on=booked_on),
            amount=amount,
            paid=Decimal(0),
        )
        for plan_line, amount in zip(plan_lines, amounts, strict=True)
    ]
    # What the buyer has paid: the deposit when sold (and often more), part of it when reserved.
    if state == 0:
        paid_parts = [lines[0].amount + (lines[1].amount if rng.random() < 0.5 else Decimal(0))]
    elif state == 1:
        paid_parts = [(lines[0].amount / 2).quantize(money.quantum(currency)), lines[0].amount / 4]
        paid_parts = [part.quantize(money.quantum(currency)) for part in paid_parts]
    else:
        paid_parts = []
    for offset, amount in enumerate(paid_parts):
        payment_id = rows.new_id(PAYMENT, "payment")
        shares = schedule.allocate(lines, amount, completed_on=completed_on)
        for line, part in shares:
            line.paid += part
            rows.allocations.append({"payment_id": payment_id, "instalment_id": line.id, "amount": part})
        balance = sum((line.amount - line.paid for line in lines), Decimal(0))
        paid_on = min(booked_on + timedelta(days=1 + offset * 7), today)
        rows.payments.append(
            {
                "id": payment_id,
                "booking_id": booking_id,
                "organization_id": org_id,
                "amount": amount,
                "currency": currency,
                "paid_on": paid_on,
                "method": ("bank_transfer", "card", "cheque")[offset % 3],
                "reference": f"BANK-{rows.counter['payment']:06d}",
                "receipt_number": rows.counter["payment"],
                "balance_after": balance,
                "recorded_by": None,
                "created_at": booked_at + timedelta(days=1 + offset * 7),
            }
        )
    rows.lines.extend({c: getattr(line, c) for c in _LINE_COLUMNS} for line in lines)


_LINE_COLUMNS = (
    "id", "booking_id", "position", "label", "kind", "change_request_id", "trigger", "milestone_id", "offset_days",
    "due_on", "amount", "paid",
)  # fmt: skip
