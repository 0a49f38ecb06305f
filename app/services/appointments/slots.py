"""Slot arithmetic: pure functions from a schedule to the slots of a date range.

Opening hours are wall-clock times in the organization's zone, so a slot is a local date and
time turned into an aware datetime with `zoneinfo`. Across a daylight-saving change a 09:00 slot
stays at 09:00 local (its UTC time moves); a wall time that does not exist that day (inside the
spring-forward gap) is skipped, and one that happens twice (the autumn fold) is offered once, at
its first occurrence.
"""

from bisect import bisect_left
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
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


def _seconds(t: time) -> int:
    return t.hour * 3600 + t.minute * 60 + t.second


def _time(seconds: int) -> time:
    return time(seconds // 3600, seconds // 60 % 60, seconds % 60)


@dataclass(frozen=True, slots=True)
class Run:
    """`count` slot starts `step` apart from `first` (an aware local datetime).

    A run of more than one start lies on one local day at one UTC offset, starts and ends, so its
    slots can be written with plain arithmetic (`to_json`). The days of a daylight-saving change
    give runs of one start each.
    """

    first: datetime
    count: int


def _offset_at_midnight(day: date, zone: ZoneInfo) -> timedelta | None:
    return datetime.combine(day, time(), zone).utcoffset()


def _ranges_by_weekday(rules: Rules) -> list[list[range]]:
    """For each weekday, the slot starts (seconds after local midnight) of each opening range."""
    step, duration = int(rules.step.total_seconds()), int(rules.duration.total_seconds())
    days: list[list[range]] = [[] for _ in range(7)]
    for opening in sorted(rules.hours, key=lambda h: h.opens):
        seconds = range(_seconds(opening.opens), _seconds(opening.closes) - duration + 1, step)
        if seconds:
            days[opening.weekday].append(seconds)
    return days


def _runs(day: date, ranges: list[range], rules: Rules, *, steady: bool) -> Iterator[Run]:
    """The slot starts of one local day. `steady`: one offset from this midnight to the next, so
    every wall time of the day exists once (every day but two a year, in zones that change)."""
    if day in rules.closed_days:
        return
    for seconds in ranges:
        if steady:
            yield Run(datetime.combine(day, _time(seconds[0]), rules.zone), len(seconds))
            continue
        for second in seconds:
            starts_at = _local(day, _time(second), rules.zone)
            if starts_at is not None:
                yield Run(starts_at, 1)


def runs_in_day(day: date, rules: Rules) -> Iterator[Run]:
    """Every slot start of one local day, in time order, ignoring notice and window."""
    steady = _offset_at_midnight(day, rules.zone) == _offset_at_midnight(day + timedelta(days=1), rules.zone)
    return _runs(day, _ranges_by_weekday(rules)[day.weekday()], rules, steady=steady)


def _starts(run: Run, step: timedelta) -> Iterator[datetime]:
    return (run.first + step * k for k in range(run.count))


def bookable_window(rules: Rules, now: datetime) -> tuple[datetime, date]:
    """The earliest bookable start and the last bookable local date."""
    today = now.astimezone(rules.zone).date()
    return now + rules.min_notice, today + timedelta(days=rules.max_days_ahead)


def runs_between(first: date, last: date, rules: Rules, now: datetime) -> list[Run]:
    """Bookable slot starts from `first` to `last` (inclusive local dates), as runs."""
    earliest, last_day = bookable_window(rules, now)
    result: list[Run] = []
    day = max(first, earliest.astimezone(rules.zone).date())
    last = min(last, last_day)
    ranges = _ranges_by_weekday(rules)
    midnight = _offset_at_midnight(day, rules.zone)
    while day <= last:
        tomorrow = day + timedelta(days=1)
        next_midnight = _offset_at_midnight(tomorrow, rules.zone)
        for run in _runs(day, ranges[day.weekday()], rules, steady=midnight == next_midnight):
            if run.first >= earliest:
                result.append(run)
                continue
            # Drop the starts inside the minimum notice.
            skip = -(-(earliest - run.first) // rules.step)  # ceiling division
            if skip < run.count:
                result.append(Run(run.first + rules.step * skip, run.count - skip))
        day, midnight = tomorrow, next_midnight
    return result


def unchanged_until(runs: Sequence[Run], rules: Rules, now: datetime) -> datetime:
    """Until when `runs_between` gives the same runs as `runs` (what it gave at `now`) for the same
    dates and rules: time only takes starts away as they fall inside the minimum notice (the first
    one goes first) and adds a day to the booking window at the zone's next midnight."""
    tomorrow = now.astimezone(rules.zone).date() + timedelta(days=1)
    # A midnight that a clock change skips stands for the moment of the change (fold=0).
    midnight = datetime.combine(tomorrow, time(), rules.zone)
    if not runs:
        return midnight
    # The earliest start, whatever the order of the runs (ranges of a day may not be sorted by
    # start if they ever overlapped); in UTC, since an aware datetime minus a timedelta is
    # wall-clock arithmetic in its own zone.
    first = min(run.first.astimezone(UTC) for run in runs)
    return min(midnight, first - rules.min_notice)


def is_bookable(starts_at: datetime, rules: Rules, now: datetime) -> bool:
    """Whether `starts_at` is exactly one of the bookable slot starts."""
    earliest, last_day = bookable_window(rules, now)
    local = starts_at.astimezone(rules.zone)
    if starts_at < earliest or local.date() > last_day:
        return False
    return any(s == starts_at for run in runs_in_day(local.date(), rules) for s in _starts(run, rules.step))


def to_json(runs: Sequence[Run], *, rules: Rules, capacity: int, booked: Mapping[int, int]) -> str:
    """The `Slot` list as JSON text. `booked` maps a slot's start (Unix seconds) to its seats taken.

    A 31-day range has hundreds of slots: a uniform run (a day at one offset) is written from a
    cached text (`_run_shape`) rather than a datetime, a dict and a validation per slot.
    """
    step, duration = int(rules.step.total_seconds()), int(rules.duration.total_seconds())
    taken_at = sorted(booked)
    items: list[str] = []
    for run in runs:
        first = run.first
        if run.count == 1 or first.microsecond:
            for starts_at in _starts(run, rules.step):
                left = capacity - booked.get(int(starts_at.timestamp()), 0)
                items.append(_slot(starts_at.isoformat(), (starts_at + rules.duration).isoformat(), capacity, left))
            continue
        shape = _run_shape(_seconds(first.timetz()), run.count, step, duration, first.isoformat()[19:], capacity)
        text = shape.free
        if taken_at:
            # Only the few taken slots of the run are looked at.
            epoch = int(first.timestamp())
            low = bisect_left(taken_at, epoch)
            high = bisect_left(taken_at, epoch + run.count * step, lo=low)
            if low < high:
                seats_left = [capacity] * run.count
                for start in taken_at[low:high]:
                    index, off_grid = divmod(start - epoch, step)
                    if not off_grid:
                        seats_left[index] = max(0, capacity - booked[start])
                text = ",".join([f"{head}{left}}}" for head, left in zip(shape.heads, seats_left, strict=True)])
        items.append(text.replace(_DATE, first.date().isoformat()))
    return "[" + ",".join(items) + "]"


_DATE = "\x00"  # stands for the date in a run's text; it cannot occur in the JSON otherwise


@dataclass(frozen=True, slots=True)
class _RunShape:
    """A run's text, with `_DATE` where the date goes: `heads` are each slot's text up to its
    seats left, `free` the whole run with every seat free."""

    heads: tuple[str, ...]
    free: str


@lru_cache(maxsize=4096)
def _run_shape(second: int, count: int, step: int, duration: int, offset: str, capacity: int) -> _RunShape:
    """Services repeat the same few runs day after day, so a day costs a `replace` of the date
    (and, on a day with seats taken, a join of its slots)."""
    starts = range(second, second + count * step, step)
    ends = range(second + duration, second + duration + count * step, step)
    heads = tuple(
        f'{{"starts_at":"{_DATE}T{start}{offset}","ends_at":"{_DATE}T{end}{offset}","capacity":{capacity},"available":'
        for start, end in zip(_clock(starts), _clock(ends), strict=True)
    )
    return _RunShape(heads=heads, free=",".join(f"{head}{capacity}}}" for head in heads))


_CLOCK = [f"{minute // 60:02d}:{minute % 60:02d}:00" for minute in range(24 * 60)]


def _clock(seconds: range) -> list[str]:
    """`HH:MM:SS` of each time of the day in `seconds`; on a whole-minute grid, a slice of a table."""
    if seconds.start % 60 == 0 and seconds.step % 60 == 0:
        first, step = seconds.start // 60, seconds.step // 60
        return _CLOCK[first : first + len(seconds) * step : step]
    return [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in seconds]


def _slot(starts_at: str, ends_at: str, capacity: int, left: int) -> str:
    return f'{{"starts_at":"{starts_at}","ends_at":"{ends_at}","capacity":{capacity},"available":{max(0, left)}}}'
