"""The SLA clock, as pure functions: no database, no HTTP, no reading of the system clock.

The clock counts *business time*: the instants whose local wall time (in the calendar's IANA
zone) falls in one of that weekday's opening ranges, on a day that is not a holiday, while the
ticket's status keeps the clock running (new, open, on_hold). It is paused while pending and
stopped while solved or closed; a reopen simply runs it again, so the count continues.

Business time is defined on instants, not on wall-clock arithmetic: a range 01:00-04:00 lasts two
real hours on the day clocks spring forward (02:00-03:00 does not exist) and four on the day they
fall back (02:00-03:00 happens twice). Each local day is cut into spans of constant UTC offset and
each range is intersected with them, which gives exactly that.

A calendar change keeps the time counted so far: the clock is given every version of the
calendar with the moment it took effect, and each stretch of time is measured with the version in
force then. A priority or policy change does not touch the count at all: targets are compared with
the count, they do not shape it.
"""

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from itertools import pairwise
from zoneinfo import ZoneInfo

DAY_SECONDS = 24 * 60 * 60
ZERO = timedelta(0)
# Zones are within UTC-12 and UTC+14: a local day lies within this margin around its UTC day.
_MARGIN = timedelta(hours=15)
# How far ahead a due time is looked for (a calendar open one hour a year still finds it).
MAX_DAYS_AHEAD = 3 * 366


class Clock(StrEnum):
    running = "running"
    paused = "paused"
    stopped = "stopped"


class Hours(StrEnum):
    business = "business"
    closed = "closed"
    holiday = "holiday"


RUNNING_STATUSES = frozenset({"new", "open", "on_hold"})
PAUSED_STATUSES = frozenset({"pending"})


def clock_of(status: str) -> Clock:
    if status in RUNNING_STATUSES:
        return Clock.running
    if status in PAUSED_STATUSES:
        return Clock.paused
    return Clock.stopped


@dataclass(frozen=True, slots=True)
class Calendar:
    """Opening ranges by weekday (0 = Monday) in seconds from local midnight, `closes` up to
    86400 (24:00); `weekly=None` is open round the clock. Holidays are closed all day."""

    timezone: str = "UTC"
    weekly: tuple[tuple[int, int, int], ...] | None = None
    holidays: frozenset[date] = frozenset()

    def ranges(self, weekday: int) -> list[tuple[int, int]]:
        if self.weekly is None:
            return [(0, DAY_SECONDS)]
        return sorted((opens, closes) for day, opens, closes in self.weekly if day == weekday)


ROUND_THE_CLOCK = Calendar()


@dataclass(frozen=True, slots=True)
class CalendarVersion:
    """A calendar and the moment it took effect."""

    effective_from: datetime
    calendar: Calendar


@dataclass(frozen=True, slots=True)
class StatusChange:
    at: datetime
    status: str


@dataclass(frozen=True, slots=True)
class Piece:
    starts_at: datetime
    ends_at: datetime
    hours: Hours


@dataclass(frozen=True, slots=True)
class Interval:
    starts_at: datetime
    ends_at: datetime
    status: str
    clock: Clock
    hours: Hours

    @property
    def counted(self) -> timedelta:
        if self.clock is Clock.running and self.hours is Hours.business:
            return self.ends_at - self.starts_at
        return ZERO


# --- the calendar: local days as UTC pieces -----------------------------------------------------


def _offset(zone: ZoneInfo, timestamp: int) -> timedelta:
    offset = datetime.fromtimestamp(timestamp, zone).utcoffset()
    assert offset is not None
    return offset


def _constant_offsets(zone: ZoneInfo, start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime, timedelta]]:
    """[start, end) cut where the zone's UTC offset changes (found by bisection to the second;
    zones change offset on whole seconds)."""
    lo_ts, end_ts = int(start.timestamp()), int(end.timestamp())
    while lo_ts < end_ts:
        offset = _offset(zone, lo_ts)
        if _offset(zone, end_ts - 1) == offset:
            yield _at(lo_ts), _at(end_ts), offset
            return
        lo, hi = lo_ts, end_ts - 1  # offset(lo) == offset, offset(hi) != offset
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if _offset(zone, mid) == offset:
                lo = mid
            else:
                hi = mid
        yield _at(lo_ts), _at(hi), offset
        lo_ts = hi


def _at(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


def _wall_spans(zone: ZoneInfo, day: date, ranges: Sequence[tuple[int, int]]) -> list[tuple[datetime, datetime]]:
    """The instants whose local wall time on `day` falls in one of `ranges` (seconds from
    midnight), as sorted, merged UTC spans."""
    base = datetime(day.year, day.month, day.day, tzinfo=UTC)
    spans: list[tuple[datetime, datetime]] = []
    for seg_start, seg_end, offset in _constant_offsets(zone, base - _MARGIN, base + timedelta(days=1) + _MARGIN):
        for opens, closes in ranges:
            start = max(seg_start, base + timedelta(seconds=opens) - offset)
            end = min(seg_end, base + timedelta(seconds=closes) - offset)
            if start < end:
                spans.append((start, end))
    spans.sort()
    merged: list[tuple[datetime, datetime]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


@lru_cache(maxsize=8192)
def day_pieces(calendar: Calendar, day: date) -> tuple[Piece, ...]:
    """The local `day` of `calendar`, from its first instant to the next day's, cut into
    business, closed and holiday pieces."""
    zone = ZoneInfo(calendar.timezone)
    bounds = _wall_spans(zone, day, [(0, DAY_SECONDS)])
    if not bounds:  # a day the zone skipped (Samoa, 30 December 2011)
        return ()
    day_start, day_end = bounds[0][0], bounds[-1][1]
    if day in calendar.holidays:
        return (Piece(day_start, day_end, Hours.holiday),)
    pieces: list[Piece] = []
    cursor = day_start
    for start, end in _wall_spans(zone, day, calendar.ranges(day.weekday())):
        if cursor < start:
            pieces.append(Piece(cursor, start, Hours.closed))
        pieces.append(Piece(start, end, Hours.business))
        cursor = end
    if cursor < day_end:
        pieces.append(Piece(cursor, day_end, Hours.closed))
    return tuple(pieces)


def _local_date(calendar: Calendar, instant: datetime) -> date:
    return instant.astimezone(ZoneInfo(calendar.timezone)).date()


def pieces_between(calendar: Calendar, start: datetime, end: datetime) -> Iterator[Piece]:
    """Business, closed and holiday pieces covering [start, end), clipped to it."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    day = _local_date(calendar, start)
    last = _local_date(calendar, end)
    while day <= last:
        for piece in day_pieces(calendar, day):
            lo, hi = max(piece.starts_at, start), min(piece.ends_at, end)
            if lo < hi:
                yield Piece(lo, hi, piece.hours)
        day += timedelta(days=1)


def advance(calendar: Calendar, start: datetime, business_time: timedelta) -> datetime | None:
    """The instant when `business_time` of business hours has run from `start` (landing in the
    next opening when `start` is after hours); None if the calendar never opens long enough."""
    remaining = business_time
    start = start.astimezone(UTC)  # arithmetic on UTC: an aware local time adds wall-clock hours
    day = _local_date(calendar, start)
    for _ in range(MAX_DAYS_AHEAD):
        for piece in day_pieces(calendar, day):
            if piece.hours is not Hours.business or piece.ends_at <= start:
                continue
            lo = max(piece.starts_at, start)
            available = piece.ends_at - lo
            if available >= remaining:
                return lo + remaining
            remaining -= available
        day += timedelta(days=1)
    return None


# --- the ticket's clock -------------------------------------------------------------------------


def _calendar_at(calendars: Sequence[CalendarVersion], instant: datetime) -> Calendar:
    """The version in force at `instant`; before the first one, round the clock (what an
    organization without a calendar has), so setting a first calendar keeps the time counted."""
    chosen = ROUND_THE_CLOCK
    for version in calendars:
        if version.effective_from <= instant:
            chosen = version.calendar
        else:
            break
    return chosen


def intervals(
    *,
    changes: Sequence[StatusChange],
    calendars: Sequence[CalendarVersion] = (),
    now: datetime,
) -> list[Interval]:
    """The ticket's life from its creation (`changes[0]`) to `now`: contiguous intervals, cut at
    status changes, calendar changes and the edges of business hours, equal neighbours merged.

    `changes` are in time order, the first one the status the ticket was created with;
    `calendars` in order of `effective_from`.
    """
    if not changes:
        return []
    # Arithmetic on UTC only: Python adds wall-clock time to an aware local datetime.
    changes = [StatusChange(change.at.astimezone(UTC), change.status) for change in changes]
    calendars = [CalendarVersion(v.effective_from.astimezone(UTC), v.calendar) for v in calendars]
    now = now.astimezone(UTC)
    created_at = changes[0].at
    cuts = sorted(
        {created_at, now}
        | {change.at for change in changes if created_at < change.at < now}
        | {version.effective_from for version in calendars if created_at < version.effective_from < now}
    )
    result: list[Interval] = []
    change_index = 0
    for start, end in pairwise(cuts):
        while change_index + 1 < len(changes) and changes[change_index + 1].at <= start:
            change_index += 1
        status = changes[change_index].status
        clock = clock_of(status)
        for piece in pieces_between(_calendar_at(calendars, start), start, end):
            interval = Interval(piece.starts_at, piece.ends_at, status, clock, piece.hours)
            last = result[-1] if result else None
            if (
                last is not None
                and last.ends_at == interval.starts_at
                and (last.status, last.clock, last.hours) == (status, clock, piece.hours)
            ):
                result[-1] = Interval(last.starts_at, interval.ends_at, status, clock, piece.hours)
            else:
                result.append(interval)
    return result


def counted(spans: Sequence[Interval]) -> timedelta:
    return sum((interval.counted for interval in spans), ZERO)


def counted_until(spans: Sequence[Interval], instant: datetime) -> timedelta:
    """The business time counted from the start of `spans` to `instant`."""
    total = ZERO
    for interval in spans:
        if interval.starts_at >= instant:
            break
        if interval.counted:
            total += min(interval.ends_at, instant) - interval.starts_at
    return total


def reached_at(spans: Sequence[Interval], target: timedelta) -> datetime | None:
    """The instant within `spans` when the count reached `target`, or None if it has not."""
    total = ZERO
    for interval in spans:
        step = interval.counted
        if step and total + step >= target:
            return interval.starts_at + (target - total)
        total += step
    return None


def due_at(
    spans: Sequence[Interval], *, target: timedelta, calendar: Calendar, now: datetime, clock: Clock
) -> datetime | None:
    """When the count reaches `target`: the past instant if it already has, else running on from
    `now` in `calendar`'s business hours; None while the clock is paused or stopped."""
    reached = reached_at(spans, target)
    if reached is not None:
        return reached
    if clock is not Clock.running:
        return None
    return advance(calendar, now, target - counted(spans))


def minutes(duration: timedelta) -> float:
    """A duration as minutes, to the second (two decimals)."""
    return round(duration.total_seconds() / 60, 2)
