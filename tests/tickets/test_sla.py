"""The SLA clock's pure functions: business hours, daylight saving, holidays, pauses, stops."""

from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from app.services.tickets import sla
from app.services.tickets.sla import Calendar, CalendarVersion, Clock, Hours, StatusChange

BERLIN = ZoneInfo("Europe/Berlin")
H = 3600


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


def weekdays(opens: int, closes: int, days: range = range(5)) -> tuple[tuple[int, int, int], ...]:
    return tuple((day, opens, closes) for day in days)


OFFICE = Calendar("Europe/Berlin", weekdays(9 * H, 17 * H))


def count(calendar: Calendar, start: datetime, end: datetime, *changes: tuple[datetime, str]) -> timedelta:
    timeline = [StatusChange(start, "new"), *(StatusChange(at, status) for at, status in changes)]
    return sla.counted(sla.intervals(changes=timeline, calendars=[CalendarVersion(start, calendar)], now=end))


def test_office_hours_count_only_inside_ranges() -> None:
    # Monday 7 Dec 2026 08:00 to Tuesday 10:30: 8 h on Monday and 1.5 h on Tuesday.
    assert count(OFFICE, berlin(2026, 12, 7, 8), berlin(2026, 12, 8, 10, 30)) == timedelta(hours=9.5)


def test_weekend_counts_nothing() -> None:
    assert count(OFFICE, berlin(2026, 12, 12, 0), berlin(2026, 12, 14, 0)) == timedelta(0)


def test_spring_forward_day_is_23_hours_round_the_clock_and_range_across_gap_is_shorter() -> None:
    sunday = 6  # 29 March 2026: 02:00 jumps to 03:00
    all_day = Calendar("Europe/Berlin", ((sunday, 0, 24 * H),))
    assert count(all_day, berlin(2026, 3, 29, 0), berlin(2026, 3, 30, 0)) == timedelta(hours=23)
    night = Calendar("Europe/Berlin", ((sunday, 1 * H, 4 * H),))
    assert count(night, berlin(2026, 3, 29, 0), berlin(2026, 3, 30, 0)) == timedelta(hours=2)


def test_fall_back_day_is_25_hours_and_the_repeated_hour_counts_twice() -> None:
    sunday = 6  # 25 October 2026: 03:00 goes back to 02:00
    all_day = Calendar("Europe/Berlin", ((sunday, 0, 24 * H),))
    assert count(all_day, berlin(2026, 10, 25, 0), berlin(2026, 10, 26, 0)) == timedelta(hours=25)
    night = Calendar("Europe/Berlin", ((sunday, 1 * H, 4 * H),))
    assert count(night, berlin(2026, 10, 25, 0), berlin(2026, 10, 26, 0)) == timedelta(hours=4)
    pieces = sla.day_pieces(night, date(2026, 10, 25))
    assert [p.hours for p in pieces] == [Hours.closed, Hours.business, Hours.closed]
    assert pieces[1].starts_at == datetime(2026, 10, 24, 23, tzinfo=UTC)  # 01:00 CEST
    assert pieces[1].ends_at == datetime(2026, 10, 25, 3, tzinfo=UTC)  # 04:00 CET


def test_range_to_midnight_counts_the_last_hour_and_days_join() -> None:
    late = Calendar("Europe/Berlin", weekdays(20 * H, 24 * H, range(7)))
    assert count(late, berlin(2026, 12, 7, 23), berlin(2026, 12, 8, 0, 30)) == timedelta(hours=1)
    intervals = sla.intervals(
        changes=[StatusChange(berlin(2026, 12, 7, 19), "new")],
        calendars=[CalendarVersion(berlin(2026, 12, 7), late)],
        now=berlin(2026, 12, 8, 21),
    )
    assert [(i.hours, i.starts_at) for i in intervals] == [
        (Hours.closed, berlin(2026, 12, 7, 19)),
        (Hours.business, berlin(2026, 12, 7, 20)),
        (Hours.closed, berlin(2026, 12, 8, 0)),
        (Hours.business, berlin(2026, 12, 8, 20)),
    ]


def test_holiday_counts_nothing_and_is_labelled() -> None:
    calendar = Calendar("Europe/Berlin", weekdays(9 * H, 17 * H), frozenset({date(2026, 12, 24)}))
    assert count(calendar, berlin(2026, 12, 24, 0), berlin(2026, 12, 25, 0)) == timedelta(0)
    assert count(calendar, berlin(2026, 12, 23, 0), berlin(2026, 12, 25, 0)) == timedelta(hours=8)
    spans = sla.intervals(
        changes=[StatusChange(berlin(2026, 12, 24, 10), "open")],
        calendars=[CalendarVersion(berlin(2026, 1, 1), calendar)],
        now=berlin(2026, 12, 24, 11),
    )
    assert [(i.hours, i.clock) for i in spans] == [(Hours.holiday, Clock.running)]


def test_pending_pauses_solved_stops_and_reopen_continues() -> None:
    start = berlin(2026, 12, 7, 9)
    total = count(
        OFFICE,
        start,
        berlin(2026, 12, 7, 17),
        (berlin(2026, 12, 7, 10), "pending"),  # 1 h counted
        (berlin(2026, 12, 7, 11), "open"),
        (berlin(2026, 12, 7, 12), "solved"),  # 1 h more
        (berlin(2026, 12, 7, 14), "open"),  # reopened: 3 h more
    )
    assert total == timedelta(hours=5)
    spans = sla.intervals(
        changes=[StatusChange(start, "new"), StatusChange(berlin(2026, 12, 7, 10), "pending")],
        calendars=[CalendarVersion(start, OFFICE)],
        now=berlin(2026, 12, 7, 11),
    )
    assert [(i.status, i.clock, sla.minutes(i.counted)) for i in spans] == [
        ("new", Clock.running, 60.0),
        ("pending", Clock.paused, 0.0),
    ]


def test_due_from_after_hours_lands_in_the_next_opening() -> None:
    created = berlin(2026, 12, 11, 20)  # Friday evening
    spans = sla.intervals(changes=[StatusChange(created, "new")], now=created)
    due = sla.due_at(spans, target=timedelta(minutes=60), calendar=OFFICE, now=created, clock=Clock.running)
    assert due == berlin(2026, 12, 14, 10)  # Monday 09:00 + 1 h


def test_due_is_null_while_paused_and_the_past_instant_once_reached() -> None:
    start = berlin(2026, 12, 7, 9)
    versions = [CalendarVersion(start, OFFICE)]
    changes = [StatusChange(start, "new"), StatusChange(berlin(2026, 12, 7, 12), "pending")]
    spans = sla.intervals(changes=changes, calendars=versions, now=berlin(2026, 12, 7, 13))
    assert (
        sla.due_at(spans, target=timedelta(hours=5), calendar=OFFICE, now=spans[-1].ends_at, clock=Clock.paused) is None
    )
    reached = sla.due_at(spans, target=timedelta(hours=2), calendar=OFFICE, now=spans[-1].ends_at, clock=Clock.paused)
    assert reached == berlin(2026, 12, 7, 11)


def test_due_runs_across_the_spring_forward_night() -> None:
    all_week = Calendar("Europe/Berlin", weekdays(0, 24 * H, range(7)))
    start = berlin(2026, 3, 29, 1)
    assert sla.advance(all_week, start, timedelta(hours=2)) == berlin(2026, 3, 29, 4)
    assert sla.advance(all_week, berlin(2026, 10, 25, 1), timedelta(hours=2)) == datetime(2026, 10, 25, 1, tzinfo=UTC)


def test_calendar_change_keeps_the_time_counted_so_far() -> None:
    start = berlin(2026, 12, 7, 9)
    changed = berlin(2026, 12, 7, 12)
    closed_all_week = Calendar("Europe/Berlin", ())
    spans = sla.intervals(
        changes=[StatusChange(start, "new")],
        calendars=[CalendarVersion(start, OFFICE), CalendarVersion(changed, closed_all_week)],
        now=berlin(2026, 12, 7, 16),
    )
    assert sla.counted(spans) == timedelta(hours=3)


def test_priority_change_keeps_the_count_and_only_the_target_moves() -> None:
    start = berlin(2026, 12, 7, 9)
    spans = sla.intervals(
        changes=[StatusChange(start, "new")], calendars=[CalendarVersion(start, OFFICE)], now=berlin(2026, 12, 7, 11)
    )
    now = spans[-1].ends_at
    high = sla.due_at(spans, target=timedelta(hours=4), calendar=OFFICE, now=now, clock=Clock.running)
    low = sla.due_at(spans, target=timedelta(hours=10), calendar=OFFICE, now=now, clock=Clock.running)
    assert high == berlin(2026, 12, 7, 13)
    assert low == berlin(2026, 12, 8, 11)


# --- properties ---------------------------------------------------------------------------------

ZONES = st.sampled_from(["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"])
STATUSES = st.sampled_from(["new", "open", "pending", "on_hold", "solved", "closed"])
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


@st.composite
def calendars(draw: st.DrawFn) -> Calendar:
    zone = draw(ZONES)
    if draw(st.booleans()):
        return Calendar(zone, None, frozenset(draw(st.sets(st.dates(date(2026, 1, 1), date(2027, 3, 1)), max_size=5))))
    weekly: list[tuple[int, int, int]] = []
    for day in range(7):
        edges = sorted(draw(st.sets(st.integers(0, 96), max_size=4)))
        for opens, closes in zip(edges[::2], edges[1::2], strict=False):
            weekly.append((day, opens * 900, closes * 900))
    holidays = frozenset(draw(st.sets(st.dates(date(2026, 1, 1), date(2027, 3, 1)), max_size=5)))
    return Calendar(zone, tuple(weekly), holidays)


@st.composite
def timelines(draw: st.DrawFn) -> tuple[list[StatusChange], datetime]:
    created = EPOCH + timedelta(seconds=draw(st.integers(0, 360 * 86400)))
    steps = draw(st.lists(st.tuples(st.integers(0, 5 * 86400), STATUSES), max_size=6))
    changes = [StatusChange(created, "new")]
    at = created
    for gap, status in steps:
        at += timedelta(seconds=gap)
        changes.append(StatusChange(at, status))
    return changes, at + timedelta(seconds=draw(st.integers(0, 3 * 86400)))


@settings(max_examples=150, deadline=None)
@given(calendar=calendars(), timeline=timelines(), later=st.integers(0, 86400))
def test_counted_time_never_decreases_and_intervals_cover_created_to_now(
    calendar: Calendar, timeline: tuple[list[StatusChange], datetime], later: int
) -> None:
    changes, now = timeline
    versions = [CalendarVersion(changes[0].at, calendar)]
    spans = sla.intervals(changes=changes, calendars=versions, now=now)
    if now > changes[0].at:
        assert spans[0].starts_at == changes[0].at
        assert spans[-1].ends_at == now
    for left, right in pairwise(spans):
        assert left.ends_at == right.starts_at
        assert (left.status, left.hours) != (right.status, right.hours)
    total = sla.counted(spans)
    assert total == sum(
        (i.ends_at - i.starts_at for i in spans if i.clock is Clock.running and i.hours is Hours.business), timedelta(0)
    )
    after = sla.intervals(changes=changes, calendars=versions, now=now + timedelta(seconds=later))
    assert sla.counted(after) >= total
    assert sla.counted_until(after, now) == total


@settings(max_examples=100, deadline=None)
@given(calendar=calendars(), timeline=timelines(), target=st.integers(1, 5000))
def test_due_time_is_where_the_count_reaches_the_target(
    calendar: Calendar, timeline: tuple[list[StatusChange], datetime], target: int
) -> None:
    changes, now = timeline
    versions = [CalendarVersion(changes[0].at, calendar)]
    spans = sla.intervals(changes=changes, calendars=versions, now=now)
    clock = sla.clock_of(changes[-1].status)
    due = sla.due_at(spans, target=timedelta(minutes=target), calendar=calendar, now=now, clock=clock)
    if due is None:
        assert clock is not Clock.running or calendar.weekly == ()
        return
    running_on = sla.intervals(changes=changes, calendars=versions, now=max(now, due))
    assert sla.counted_until(running_on, due) == timedelta(minutes=target)


def test_time_before_the_first_calendar_counts_round_the_clock_and_stays_counted() -> None:
    created = berlin(2026, 12, 12, 10)  # Saturday: closed in the office calendar
    first_calendar = berlin(2026, 12, 12, 12)
    spans = sla.intervals(
        changes=[StatusChange(created, "new")],
        calendars=[CalendarVersion(first_calendar, OFFICE)],
        now=berlin(2026, 12, 12, 18),
    )
    assert sla.counted(spans) == timedelta(hours=2)
    assert [(i.hours, i.starts_at) for i in spans] == [(Hours.business, created), (Hours.closed, first_calendar)]
