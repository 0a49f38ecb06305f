"""The arithmetic of a booking's schedule, free of the database: instalment amounts, due dates,
the figures of a schedule and how a payment is spread over it.

- Instalment = price x percent / 100 rounded down to the minor unit; the last one takes the rest,
  so the instalments sum to the price exactly (`money.split`).
- Due dates, in the organization's days: booking -> the booking day + offset; date -> that date,
  or the booking day if later; handover -> the project's `completed_on` + offset; milestone ->
  that milestone's `completed_on` + offset; none till then.
  A date staff set on the instalment wins.
- A payment without a target fills open instalments by due date (undated last), then position.
"""

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from app.services.properties import money
from app.services.unit_sales.models import Instalment, PlanInstalment, Trigger

PlanLine = PlanInstalment
Line = Instalment


def first_due_on(line: PlanLine, *, booked_on: date) -> date | None:
    """The due date fixed at booking (booking and date triggers); None for the others."""
    if line.trigger == Trigger.booking:
        return booked_on + timedelta(days=line.offset_days)
    if line.trigger == Trigger.date:
        assert line.due_on is not None
        return max(line.due_on, booked_on)
    return None


def amounts(lines: Sequence[PlanLine], *, price: Decimal, currency: str) -> list[Decimal]:
    return money.split(price, [line.percent for line in sorted(lines, key=lambda x: x.position)], currency)


Milestones = Mapping[uuid.UUID, date | None]
NO_MILESTONES: Milestones = {}


def due_on(line: Line, *, completed_on: date | None, milestones: Milestones = NO_MILESTONES) -> date | None:
    """`completed_on` is the project's; `milestones` maps the project's milestones to theirs."""
    if line.due_on is not None:
        return line.due_on
    if line.trigger == Trigger.handover:
        reached = completed_on
    elif line.trigger == Trigger.milestone and line.milestone_id is not None:
        reached = milestones.get(line.milestone_id)
    else:
        reached = None
    return None if reached is None else reached + timedelta(days=line.offset_days)


@dataclass(frozen=True, slots=True)
class Figures:
    total: Decimal
    paid: Decimal
    balance: Decimal
    overdue: Decimal


def is_overdue(line: Line, *, completed_on: date | None, today: date, milestones: Milestones = NO_MILESTONES) -> bool:
    due = due_on(line, completed_on=completed_on, milestones=milestones)
    return due is not None and due < today and line.paid < line.amount


def figures(
    lines: Sequence[Line], *, completed_on: date | None, today: date, milestones: Milestones = NO_MILESTONES
) -> Figures:
    total = sum((line.amount for line in lines), Decimal(0))
    paid = sum((line.paid for line in lines), Decimal(0))
    overdue = sum(
        (
            line.amount - line.paid
            for line in lines
            if is_overdue(line, completed_on=completed_on, today=today, milestones=milestones)
        ),
        Decimal(0),
    )
    return Figures(total=total, paid=paid, balance=total - paid, overdue=overdue)


def allocation_order(
    lines: Sequence[Line], *, completed_on: date | None, milestones: Milestones = NO_MILESTONES
) -> list[Line]:
    """Open lines in the order a payment fills them: by due date, undated last, then position."""

    def key(line: Line) -> tuple[bool, date, int]:
        due = due_on(line, completed_on=completed_on, milestones=milestones)
        return (due is None, due or date.min, line.position)

    return sorted((line for line in lines if line.paid < line.amount), key=key)


def allocate(
    lines: Sequence[Line], amount: Decimal, *, completed_on: date | None, milestones: Milestones = NO_MILESTONES
) -> list[tuple[Line, Decimal]]:
    """How `amount` spreads over the open lines; the caller checks first that it fits the balance."""
    shares: list[tuple[Line, Decimal]] = []
    left = amount
    for line in allocation_order(lines, completed_on=completed_on, milestones=milestones):
        if left <= 0:
            break
        part = min(left, line.amount - line.paid)
        shares.append((line, part))
        left -= part
    assert left == 0, "the amount exceeds the balance"
    return shares
