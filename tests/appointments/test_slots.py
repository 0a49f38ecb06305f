from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import create_org, create_service, future_day
from tests.helpers import assert_problem

BERLIN = ZoneInfo("Europe/Berlin")
NINE_TO_ELEVEN = [{"weekday": d, "opens": "09:00", "closes": "11:00"} for d in range(7)]


async def _slots(client: httpx.AsyncClient, service_id: str, first: date, last: date) -> list[dict]:
    response = await client.get(
        f"/services/{service_id}/slots", params={"from": first.isoformat(), "to": last.isoformat()}
    )
    assert response.status_code == 200, response.text
    return list(response.json())


@pytest.mark.parametrize(
    ("first", "change", "offsets"),
    [
        (date(2027, 3, 27), date(2027, 3, 28), ("+01:00", "+02:00")),
        (date(2027, 10, 30), date(2027, 10, 31), ("+02:00", "+01:00")),
    ],
    ids=["spring-forward", "fall-back"],
)
async def test_slots_stay_at_local_nine_across_daylight_saving(
    client: httpx.AsyncClient, session: AsyncSession, first: date, change: date, offsets: tuple[str, str]
) -> None:
    org = await create_org(client, session, timezone="Europe/Berlin")
    service = await create_service(client, org, duration=60, weekly=NINE_TO_ELEVEN)
    slots = await _slots(client, service["id"], first, first + timedelta(days=2))
    starts = [s["starts_at"] for s in slots]
    assert len(starts) == 6
    assert len(set(starts)) == 6
    local = [datetime.fromisoformat(s).astimezone(BERLIN) for s in starts]
    assert [(t.date(), t.hour) for t in local] == [(first + timedelta(days=d), h) for d in range(3) for h in (9, 10)]
    assert datetime.fromisoformat(starts[0]).utcoffset() == _offset(offsets[0])
    on_change_day = [
        datetime.fromisoformat(s) for s in starts if datetime.fromisoformat(s).astimezone(BERLIN).date() == change
    ]
    assert {t.utcoffset() for t in on_change_day} == {_offset(offsets[1])}


def _offset(text: str) -> timedelta:
    sign = 1 if text[0] == "+" else -1
    return sign * timedelta(hours=int(text[1:3]), minutes=int(text[4:6]))


async def test_wall_times_in_the_spring_gap_are_skipped(client: httpx.AsyncClient, session: AsyncSession) -> None:
    org = await create_org(client, session, timezone="Europe/Berlin")
    night = [{"weekday": 6, "opens": "01:00", "closes": "04:00"}]
    service = await create_service(client, org, duration=60, weekly=night)
    slots = await _slots(client, service["id"], date(2027, 3, 28), date(2027, 3, 28))
    local_hours = [datetime.fromisoformat(s["starts_at"]).astimezone(BERLIN).hour for s in slots]
    assert local_hours == [1, 3]  # 02:00 does not exist that night


async def test_slots_are_in_order_with_capacity_and_slot_length(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    org = await create_org(client, session)
    service = await create_service(client, org, duration=20, slot_minutes=30, capacity=4)
    day = future_day(org.timezone)
    slots = await _slots(client, service["id"], day, day)
    assert len(slots) == 6  # 09:00 .. 11:30 every 30 minutes
    assert [s["starts_at"] for s in slots] == sorted(s["starts_at"] for s in slots)
    first = slots[0]
    assert datetime.fromisoformat(first["ends_at"]) - datetime.fromisoformat(first["starts_at"]) == timedelta(
        minutes=20
    )
    assert first["capacity"] == 4
    assert first["available"] == 4


async def test_several_ranges_a_day(client: httpx.AsyncClient, session: AsyncSession) -> None:
    org = await create_org(client, session)
    day = future_day(org.timezone)
    weekly = [
        {"weekday": day.weekday(), "opens": "08:00", "closes": "09:00"},
        {"weekday": day.weekday(), "opens": "14:00", "closes": "15:00"},
    ]
    service = await create_service(client, org, duration=30, weekly=weekly)
    local = [
        datetime.fromisoformat(s["starts_at"]).astimezone(ZoneInfo(org.timezone)).strftime("%H:%M")
        for s in await _slots(client, service["id"], day, day)
    ]
    assert local == ["08:00", "08:30", "14:00", "14:30"]


async def test_past_notice_closures_and_window_are_left_out(client: httpx.AsyncClient, session: AsyncSession) -> None:
    org = await create_org(client, session)
    service = await create_service(client, org, duration=60, min_notice=2 * 24 * 60, max_days_ahead=5)
    closed = future_day(org.timezone, 3)
    await client.post(
        f"/services/{service['id']}/closures",
        headers=org.owner.headers,
        json={"starts_on": closed.isoformat(), "ends_on": closed.isoformat()},
    )
    today = future_day(org.timezone, 0)
    slots = await _slots(client, service["id"], today - timedelta(days=3), today + timedelta(days=10))
    days = sorted({datetime.fromisoformat(s["starts_at"]).astimezone(ZoneInfo(org.timezone)).date() for s in slots})
    expected = [today + timedelta(days=d) for d in (2, 4, 5)]
    # Day 2 may lose its earliest slots to the notice, but days 0-1, the closure and day 6+ are gone.
    assert days == expected or days == expected[1:]


@pytest.mark.parametrize(
    ("first", "last", "code"),
    [(0, 31, "range_too_long"), (5, 4, "invalid_range")],
)
async def test_bad_ranges_are_422(
    client: httpx.AsyncClient, session: AsyncSession, first: int, last: int, code: str
) -> None:
    org = await create_org(client, session)
    service = await create_service(client, org)
    day = future_day(org.timezone, 0)
    response = await client.get(
        f"/services/{service['id']}/slots",
        params={"from": (day + timedelta(days=first)).isoformat(), "to": (day + timedelta(days=last)).isoformat()},
    )
    assert_problem(response, 422, code)


async def test_thirty_one_days_is_allowed(client: httpx.AsyncClient, session: AsyncSession) -> None:
    org = await create_org(client, session)
    service = await create_service(client, org, duration=60)
    day = future_day(org.timezone, 1)
    slots = await _slots(client, service["id"], day, day + timedelta(days=30))
    assert len(slots) == 31 * 3


async def test_slots_of_unknown_service_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/services/00000000-0000-0000-0000-000000000000/slots", params={"from": "2030-01-01", "to": "2030-01-02"}
    )
    assert_problem(response, 404, "not_found")


def _slot_dicts(runs_json: str) -> list[dict[str, object]]:
    import json

    return list(json.loads(runs_json))


@pytest.mark.parametrize(
    ("zone", "first"),
    [
        ("Europe/Berlin", date(2027, 3, 26)),
        ("Europe/Berlin", date(2027, 10, 29)),
        ("America/Sao_Paulo", date(2027, 1, 4)),
    ],
)
def test_written_slots_match_their_datetimes_across_offset_changes(zone: str, first: date) -> None:
    """`to_json` writes uniform runs by arithmetic: it must say what the datetimes say, on the
    days of a daylight-saving change too (ranges across the 02:00-03:00 gap and fold)."""
    from datetime import time

    from app.services.appointments import slots

    rules = slots.Rules(
        zone=ZoneInfo(zone),
        duration=timedelta(minutes=45),
        step=timedelta(minutes=60),
        min_notice=timedelta(minutes=90),
        max_days_ahead=400,
        hours=[slots.OpeningRange(weekday=d, opens=time(0, 30), closes=time(5, 0)) for d in range(7)]
        + [slots.OpeningRange(weekday=d, opens=time(9, 0), closes=time(17, 15)) for d in range(7)],
        closed_days=frozenset({first + timedelta(days=1)}),
    )
    now = datetime.combine(first, time(10, 10), ZoneInfo(zone))
    last = first + timedelta(days=4)
    runs = slots.runs_between(first, last, rules, now)
    starts = [run.first + rules.step * k for run in runs for k in range(run.count)]
    # One seat taken, one slot full, one over capacity (shrunk since), and a start off the grid
    # (the schedule changed since it was booked): only the grid's slots show seats.
    booked = {
        int(starts[3].timestamp()): 1,
        int(starts[4].timestamp()): 2,
        int(starts[4].timestamp()) + 60: 1,
        int(starts[-1].timestamp()): 5,
    }
    expected = [
        {
            "starts_at": s.isoformat(),
            "ends_at": (s + rules.duration).isoformat(),
            "capacity": 2,
            "available": max(0, 2 - booked.get(int(s.timestamp()), 0)),
        }
        for s in starts
    ]
    written = _slot_dicts(slots.to_json(runs, rules=rules, capacity=2, booked=booked))
    assert written == expected
    assert all(s >= now + rules.min_notice for s in starts)
    assert len({s.utcoffset() for s in starts}) == (1 if zone == "America/Sao_Paulo" else 2)
