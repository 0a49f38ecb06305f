"""Availability answers reused per process (`availability.Answers`): never a stale answer."""

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.services.appointments import slots
from app.services.appointments.availability import Answers
from tests.factories import book, create_org, create_service, future_day, local_slot
from tests.helpers import register


async def _available(client: httpx.AsyncClient, service_id: str, day: date) -> dict[str, int]:
    response = await client.get(
        f"/services/{service_id}/slots", params={"from": day.isoformat(), "to": day.isoformat()}
    )
    assert response.status_code == 200, response.text
    return {slot["starts_at"][11:16]: slot["available"] for slot in response.json()}


async def test_every_change_behind_an_answer_shows_at_once(client: httpx.AsyncClient, session: AsyncSession) -> None:
    org = await create_org(client, session)
    service = await create_service(client, org, capacity=2, duration=60)
    day = future_day(org.timezone, 3)
    assert await _available(client, service["id"], day) == {"09:00": 2, "10:00": 2, "11:00": 2}
    # Asked twice: the same answer.
    assert await _available(client, service["id"], day) == {"09:00": 2, "10:00": 2, "11:00": 2}

    booked = await book(client, await register(client), service["id"], local_slot(org.timezone, hour=10))
    assert booked.status_code == 201, booked.text
    assert await _available(client, service["id"], day) == {"09:00": 2, "10:00": 1, "11:00": 2}

    cancelled = await client.post(
        f"/appointments/{booked.json()['id']}/cancel", headers=org.staff.headers, json={"reason": "moved"}
    )
    assert cancelled.status_code == 200, cancelled.text
    assert await _available(client, service["id"], day) == {"09:00": 2, "10:00": 2, "11:00": 2}

    schedule = await client.put(
        f"/services/{service['id']}/schedule",
        headers=org.owner.headers,
        json={"weekly": [{"weekday": d, "opens": "14:00", "closes": "16:00"} for d in range(7)]},
    )
    assert schedule.status_code == 200, schedule.text
    assert await _available(client, service["id"], day) == {"14:00": 2, "15:00": 2}

    closed = await client.post(
        f"/services/{service['id']}/closures",
        headers=org.owner.headers,
        json={"starts_on": day.isoformat(), "ends_on": day.isoformat()},
    )
    assert closed.status_code == 201, closed.text
    assert await _available(client, service["id"], day) == {}


async def test_an_unchanged_calendar_is_written_once(
    client: httpx.AsyncClient, session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    org = await create_org(client, session)
    service = await create_service(client, org, capacity=2, duration=60)
    day = future_day(org.timezone, 3)
    written: list[int] = []
    to_json = slots.to_json

    def counting_to_json(*args: Any, **kwargs: Any) -> str:
        written.append(1)
        return to_json(*args, **kwargs)

    monkeypatch.setattr(slots, "to_json", counting_to_json)
    for _ in range(3):
        assert await _available(client, service["id"], day) == {"09:00": 2, "10:00": 2, "11:00": 2}
    assert len(written) == 1
    assert (await book(client, await register(client), service["id"], local_slot(org.timezone))).status_code == 201
    assert await _available(client, service["id"], day) == {"09:00": 1, "10:00": 2, "11:00": 2}
    assert len(written) == 2


def _rules(zone: str, *, min_notice: timedelta, max_days_ahead: int) -> slots.Rules:
    return slots.Rules(
        zone=ZoneInfo(zone),
        duration=timedelta(minutes=50),
        step=timedelta(hours=1),
        min_notice=min_notice,
        max_days_ahead=max_days_ahead,
        hours=[slots.OpeningRange(weekday=d, opens=time(1, 0), closes=time(4, 0)) for d in range(7)]
        + [slots.OpeningRange(weekday=d, opens=time(9, 0), closes=time(17, 0)) for d in range(7)],
        closed_days=frozenset(),
    )


@pytest.mark.parametrize(
    ("zone", "first", "min_notice", "max_days_ahead"),
    [
        ("Europe/Berlin", date(2027, 3, 27), timedelta(minutes=90), 400),  # spring forward
        ("Europe/Berlin", date(2027, 10, 30), timedelta(0), 400),  # fall back
        ("Europe/Berlin", date(2027, 6, 1), timedelta(hours=30), 2),  # the window's last day decides
        ("America/Santiago", date(2027, 9, 4), timedelta(minutes=20), 3),  # a clock change at midnight
    ],
)
def test_runs_do_not_change_before_unchanged_until(
    zone: str, first: date, min_notice: timedelta, max_days_ahead: int
) -> None:
    """Every 10 minutes over three days: the runs computed then stay the same until the moment
    `unchanged_until` gives."""
    rules = _rules(zone, min_notice=min_notice, max_days_ahead=max_days_ahead)
    last = first + timedelta(days=5)
    start = datetime.combine(first - timedelta(days=1), time(), ZoneInfo(zone)).astimezone(UTC)
    for step in range(3 * 24 * 6):
        now = start + timedelta(minutes=10 * step)
        runs = slots.runs_between(first, last, rules, now)
        until = slots.unchanged_until(runs, rules, now)
        assert until >= now  # equal when the first start is exactly at the notice's edge
        until = until.astimezone(UTC)  # and so is `later`: the slot functions take `now` in UTC
        for later in (now + (until - now) / 2, until - timedelta(microseconds=1)):
            if later > now:
                assert slots.runs_between(first, last, rules, later) == runs, (now, later)


def test_unchanged_until_is_when_the_first_start_enters_the_notice() -> None:
    rules = _rules("Europe/Berlin", min_notice=timedelta(hours=2), max_days_ahead=400)
    day = date(2027, 6, 1)
    now = datetime.combine(day, time(8, 30), ZoneInfo("Europe/Berlin"))
    runs = slots.runs_between(day, day, rules, now)
    until = slots.unchanged_until(runs, rules, now)
    # 09:00 and 10:00 are inside the notice; 11:00 enters it at 09:00.
    assert until == datetime.combine(day, time(9), ZoneInfo("Europe/Berlin"))
    assert slots.runs_between(day, day, rules, until + timedelta(microseconds=1)) != runs


NOW = datetime(2027, 6, 1, 12, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)


def test_an_answer_is_given_back_only_for_its_source_and_in_time() -> None:
    answers = Answers(max_bytes=1 << 20)
    answers.put("key", ("service", "1:1"), "[answer]", written_at=NOW, valid_until=LATER)
    assert answers.get("key", ("service", "1:1"), NOW) == "[answer]"
    assert answers.get("key", ("service", "1:2"), NOW) is None
    assert answers.get("other", ("service", "1:1"), NOW) is None
    assert answers.get("key", ("service", "1:1"), LATER) is None
    assert answers.get("key", ("service", "1:1"), NOW - timedelta(seconds=1)) is None  # the clock went back


def test_answers_stay_within_their_bytes_least_recently_used_first() -> None:
    text = "x" * 1000
    answers = Answers(max_bytes=3 * 3100)  # room for three entries (text + overhead)
    for key in "abc":
        answers.put(key, (key,), text, written_at=NOW, valid_until=LATER)
    assert answers.get("a", ("a",), NOW) == text  # "b" is now the least recently used
    answers.put("d", ("d",), text, written_at=NOW, valid_until=LATER)
    assert answers.get("b", ("b",), NOW) is None
    assert [answers.get(key, (key,), NOW) for key in "acd"] == [text] * 3
    answers.put(
        "huge", ("huge",), "x" * 10_000, written_at=NOW, valid_until=LATER
    )  # larger than the whole budget: not kept
    assert answers.get("huge", ("huge",), NOW) is None
    assert answers.get("d", ("d",), NOW) == text
