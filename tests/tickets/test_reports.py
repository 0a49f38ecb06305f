"""Ticket reports over local days, as JSON and CSV."""

import csv
import io
from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests.helpers import assert_problem
from tests.tickets.helpers import Clock, create_desk, move, open_ticket


async def test_ticket_reports_count_created_solved_breached_and_medians(
    client: httpx.AsyncClient, session: AsyncSession, clock: Clock
) -> None:
    desk = await create_desk(client, session)
    owner = desk.org.owner.headers
    berlin = ZoneInfo("Europe/Berlin")
    clock.now = datetime(2026, 12, 7, 23, 30, tzinfo=berlin)  # 22:30 UTC: counts on the local 7th
    await client.put(
        f"/organizations/{desk.org.id}/sla",
        headers=owner,
        json={"policies": [{"priority": "normal", "first_response_minutes": 10, "resolution_minutes": 600}]},
    )
    category = (
        await client.post(f"/organizations/{desk.org.id}/ticket-categories", headers=owner, json={"name": "Billing"})
    ).json()
    fast = await open_ticket(client, desk, category_id=category["id"])
    slow = await open_ticket(client, desk)
    await open_ticket(client, desk, by=desk.org.owner, priority="low", assignee_id=str(desk.org.staff.id))  # no policy
    clock.advance(minutes=5)
    await client.post(f"/tickets/{fast['id']}/messages", headers=desk.org.staff.headers, json={"body": "on it"})
    clock.advance(minutes=15)  # local 7 Dec 23:50
    await client.post(f"/tickets/{slow['id']}/messages", headers=desk.org.staff.headers, json={"body": "late"})
    clock.advance(minutes=20)  # local 8 Dec 00:10
    await move(client, fast["id"], desk.org.staff, "solved")
    params = {"from": "2026-12-07", "to": "2026-12-08"}
    base = f"/organizations/{desk.org.id}/insights/tickets"
    summary = (await client.get(base, headers=desk.org.staff.headers, params=params)).json()
    assert summary == {
        "created": 3,
        "solved": 1,
        "breached": 1,
        "breach_rate": 0.5,  # one of the two tickets with a policy
        "median_first_response_minutes": 12.5,  # 5 and 20
        "median_resolution_minutes": 40.0,
    }
    daily = (await client.get(f"{base}/daily", headers=desk.org.staff.headers, params=params)).json()
    assert daily == [
        {"date": "2026-12-07", "created": 3, "solved": 0},
        {"date": "2026-12-08", "created": 0, "solved": 1},
    ]
    categories = (await client.get(f"{base}/categories", headers=desk.org.staff.headers, params=params)).json()
    assert [(c["name"], c["created"], c["solved"]) for c in categories] == [(None, 2, 0), ("Billing", 1, 1)]
    assignees = (await client.get(f"{base}/assignees", headers=desk.org.staff.headers, params=params)).json()
    assert {(a["name"], a["created"]) for a in assignees} == {(None, 2), ("Sam Staff", 1)}
    as_csv = await client.get(f"{base}/categories", headers=desk.org.staff.headers, params={**params, "format": "csv"})
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(as_csv.text)))
    assert rows[0] == [
        "category_id",
        "name",
        "created",
        "solved",
        "breached",
        "breach_rate",
        "median_first_response_minutes",
        "median_resolution_minutes",
    ]
    assert len(rows) == 3
    summary_csv = await client.get(base, headers=desk.org.staff.headers, params={**params, "format": "csv"})
    assert summary_csv.text.splitlines()[1] == "3,1,1,0.5,12.5,40.0"
    outside = await client.get(base, headers=desk.org.staff.headers, params={"from": "2026-12-08", "to": "2026-12-08"})
    assert outside.json()["created"] == 0
    assert outside.json()["breach_rate"] is None
    assert_problem(await client.get(base, headers=desk.requester.headers), 403, "forbidden")
    assert_problem(
        await client.get(base, headers=owner, params={"from": "2026-12-09", "to": "2026-12-08"}), 422, "invalid_range"
    )
