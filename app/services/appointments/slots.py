"""Slot arithmetic: pure functions from a schedule to the slots of a date range.

Opening hours are wall-clock times in the organization's zone, so a slot is a local date and
time turned into an aware datetime with `zoneinfo`. Across a daylight-saving change a 09:00 slot
stays at 09:00 local (its UTC time moves); a wall time that does not exist that day (inside the
spring-forward gap) is skipped, and one that happens twice (the autumn fold) is offered once, at
its first occurrence.
"""

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True, slots=True)
class OpeningRange:
    weekday: int
    opens: time
    closes: time


@dataclass(frozen=True, slots=True)
class Rules:
    zone: ZoneInfo
    duration: timedelta
    step: timedelta
    min_notice: timedelta
    max_days_ahead: int
    hours: Sequence[OpeningRange]
    closed_days: frozenset[date]


def _local(day: date, at: time, zone: ZoneInfo) -> datetime | None:
    """The aware datetime of a wall time, or None when that wall time does not exist that day."""
    candidate = datetime.combine(day, at, tzinfo=zone)  # fold=0: the first of two occurrences
    round_trip = candidate.astimezone(UTC).astimezone(zone)
    if round_trip.replace(tzinfo=None) != candidate.replace(tzinfo=None):
        return None
    return candidate


def _minutes(t: time) -> int:
    return t.hour * 60 + t.minute


def starts_in_day(day: date, rules: Rules) -> Iterator[datetime]:
    """Every slot start of one local day, in time order, ignoring notice and window."""
    if day in rules.closed_days:
        return
    step = int(rules.step.total_seconds() // 60)
    duration = int(rules.duration.total_seconds() // 60)
    for opening in sorted((h for h in rules.hours if h.weekday == day.weekday()), key=lambda h: h.opens):
        start, end = _minutes(opening.opens), _minutes(opening.closes)
        minutes = range(start, end - duration + 1, step)
        if not minutes:
            continue
        first = _local(day, opening.opens, rules.zone)
        last = _local(day, time(minutes[-1] // 60, minutes[-1] % 60), rules.zone)
        if first is not None and last is not None and first.utcoffset() == last.utcoffset():
            # No offset change inside the range (every day but two a year): plain arithmetic.
            yield from (first + timedelta(minutes=m - start) for m in minutes)
            continue
        for minute in minutes:
            starts_at = _local(day, time(minute // 60, minute % 60), rules.zone)
            if starts_at is not None:
                yield starts_at


def bookable_window(rules: Rules, now: datetime) -> tuple[datetime, date]:
    """The earliest bookable start and the last bookable local date."""
    today = now.astimezone(rules.zone).date()
    return now + rules.min_notice, today + timedelta(days=rules.max_days_ahead)


def starts_between(first: date, last: date, rules: Rules, now: datetime) -> list[datetime]:
    """Bookable slot starts from `first` to `last` (inclusive local dates)."""
    earliest, last_day = bookable_window(rules, now)
    result: list[datetime] = []
    day = max(first, earliest.astimezone(rules.zone).date())
    last = min(last, last_day)
    while day <= last:
        result.extend(s for s in starts_in_day(day, rules) if s >= earliest)
        day += timedelta(days=1)
    return result


def is_bookable(starts_at: datetime, rules: Rules, now: datetime) -> bool:
    """Whether `starts_at` is exactly one of the bookable slot starts."""
    earliest, last_day = bookable_window(rules, now)
    local = starts_at.astimezone(rules.zone)
    if starts_at < earliest or local.date() > last_day:
        return False
    return any(s == starts_at for s in starts_in_day(local.date(), rules))
