"""SLA settings, stored due times, the `/sla` explanation and the breach pass, through HTTP."""

import asyncio
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.services.notifications.models import Notification
from app.services.tickets import workers
from app.services.tickets.models import TicketEvent
from app.services.webhooks.models import WebhookEvent
from tests.helpers import assert_problem
from tests.tickets.helpers import Clock, Desk, create_desk, move, open_ticket

POLICIES = [
    {"priority": "normal", "first_response_minutes": 60, "resolution_minutes": 240},
    {"priority": "high", "first_response_minutes": 15, "resolution_minutes": 60},
]


def at(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


async def put_sla(client: httpx.AsyncClient, desk: Desk, **body: Any) -> httpx.Response:
    body.setdefault("policies", POLICIES)
    return await client.put(f"/organizations/{desk.org.id}/sla", headers=desk.org.owner.headers, json=body)


async def test_sla_settings_validate_and_read_back(client: httpx.AsyncClient, session: AsyncSession) -> None:
    desk = await create_desk(client, session)
    weekly = [{"weekday": 0, "opens": "09:00", "closes": "12:00"}, {"weekday": 0, "opens": "13:00", "closes": "24:00"}]
    response = await put_sla(client, desk, weekly=weekly, holidays=["2026-12-24"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["weekly"] == weekly
    assert body["timezone"] == "Europe/Berlin"
    assert body["holidays"] == ["2026-12-24"]
    assert {p["priority"] for p in body["policies"]} == {"normal", "high"}
    read = await client.get(f"/organizations/{desk.org.id}/sla", headers=desk.org.staff.headers)
    assert read.json() == body
    overlapping = [
        {"weekday": 1, "opens": "09:00", "closes": "12:00"},
        {"weekday": 1, "opens": "11:00", "closes": "13:00"},
    ]
    assert_problem(await put_sla(client, desk, weekly=overlapping), 422, "validation_error")
    repeated = [POLICIES[0], POLICIES[0]]
    assert_problem(await put_sla(client, desk, policies=repeated), 422, "validation_error")
    for bad in (
        {"weekday": 7, "opens": "09:00", "closes": "10:00"},
        {"weekday": 1, "opens": "10:00", "closes": "09:00"},
        {"weekday": 1, "opens": "09:00", "closes": "24:30"},
    ):
        assert_problem(await put_sla(client, desk, weekly=[bad]), 422, "validation_error")
    too_long = [{"priority": "low", "first_response_minutes": 525_601, "resolution_minutes": 1}]
    assert_problem(await put_sla(client, desk, policies=too_long), 422, "validation_error")
    staff_put = await client.put(f"/organizations/{desk.org.id}/sla", headers=desk.org.staff.headers, json={})
    assert_problem(staff_put, 403, "forbidden")
    assert_problem(
        await client.get(f"/organizations/{desk.org.id}/sla", headers=desk.requester.headers), 403, "forbidden"
    )
    round_the_clock = await put_sla(client, desk)
    assert round_the_clock.json()["weekly"] is None


async def test_due_times_pause_while_pending_and_priority_change_keeps_the_count(
    client: httpx.AsyncClient, session: AsyncSession, clock: Clock
) -> None:
    desk = await create_desk(client, session)
    await put_sla(client, desk)  # round the clock
    t0 = clock.now
    ticket = await open_ticket(client, desk)
    url = f"/tickets/{ticket['id']}"
    staff = desk.org.staff.headers
    read = (await client.get(url, headers=staff)).json()
    assert at(read["first_response_due_at"]) == t0 + timedelta(minutes=60)
    assert at(read["resolution_due_at"]) == t0 + timedelta(minutes=240)
    clock.advance(minutes=30)
    paused = (await move(client, ticket["id"], desk.org.staff, "pending")).json()
    assert paused["sla_paused"] is True
    assert paused["first_response_due_at"] is None
    assert paused["resolution_due_at"] is None
    clock.advance(minutes=60)
    resumed = (await move(client, ticket["id"], desk.org.staff, "open")).json()
    assert resumed["sla_paused"] is False
    assert at(resumed["first_response_due_at"]) == t0 + timedelta(minutes=120)  # 30 counted, 30 to go
    assert at(resumed["resolution_due_at"]) == t0 + timedelta(minutes=300)
    clock.advance(minutes=10)  # 40 minutes counted
    high = (await client.patch(url, headers=staff, json={"priority": "high"})).json()
    assert at(high["first_response_due_at"]) == t0 + timedelta(minutes=15)  # reached while counting
    assert at(high["resolution_due_at"]) == clock.now + timedelta(minutes=20)
    explained = (await client.get(f"{url}/sla", headers=staff)).json()
    assert explained["counted_minutes"] == 40
    assert explained["policy"]["priority"] == "high"
    assert [(i["status"], i["clock"], i["hours"], i["counted_minutes"]) for i in explained["intervals"]] == [
        ("new", "running", "business", 30),
        ("pending", "paused", "business", 0),
        ("open", "running", "business", 10),
    ]
    assert at(explained["intervals"][0]["starts_at"]) == t0
    assert at(explained["intervals"][-1]["ends_at"]) == clock.now
    low = (await client.patch(url, headers=staff, json={"priority": "low"})).json()  # no policy: no targets
    assert low["first_response_due_at"] is None
    assert low["resolution_due_at"] is None
    assert_problem(await client.get(f"{url}/sla", headers=desk.requester.headers), 403, "forbidden")


async def test_after_hours_ticket_is_due_in_the_next_opening(
    client: httpx.AsyncClient, session: AsyncSession, clock: Clock
) -> None:
    desk = await create_desk(client, session)
    berlin = ZoneInfo("Europe/Berlin")
    weekdays = [{"weekday": d, "opens": "09:00", "closes": "17:00"} for d in range(5)]
    clock.now = datetime(2026, 12, 11, 20, tzinfo=berlin)  # a Friday evening
    await put_sla(client, desk, weekly=weekdays)
    ticket = await open_ticket(client, desk)
    read = (await client.get(f"/tickets/{ticket['id']}", headers=desk.org.staff.headers)).json()
    assert at(read["first_response_due_at"]) == datetime(2026, 12, 14, 10, tzinfo=berlin)
    assert at(read["resolution_due_at"]) == datetime(2026, 12, 14, 13, tzinfo=berlin)
    # A calendar change (from Saturday noon) keeps what was counted (nothing) and moves the due time.
    clock.now = datetime(2026, 12, 12, 12, tzinfo=berlin)
    await put_sla(client, desk, weekly=[*weekdays, {"weekday": 5, "opens": "12:00", "closes": "14:00"}])
    read = (await client.get(f"/tickets/{ticket['id']}", headers=desk.org.staff.headers)).json()
    assert at(read["first_response_due_at"]) == datetime(2026, 12, 12, 13, tzinfo=berlin)


async def test_breach_pass_marks_once_notifies_and_filters(
    client: httpx.AsyncClient, session: AsyncSession, clock: Clock, app: FastAPI
) -> None:
    desk = await create_desk(client, session)
    await put_sla(client, desk)
    ticket = await open_ticket(client, desk, by=desk.org.owner, assignee_id=str(desk.org.staff.id))
    url = f"/organizations/{desk.org.id}/tickets"
    staff = desk.org.staff.headers
    due_soon = await client.get(url, headers=staff, params={"due_within_minutes": 60})
    assert [t["id"] for t in due_soon.json()["items"]] == [ticket["id"]]
    assert (await client.get(url, headers=staff, params={"due_within_minutes": 59})).json()["total"] == 0
    clock.advance(minutes=61)
    assert await workers.run_pass(app.state.sessionmaker, settings=app.state.settings, now=clock.now) == 1
    assert await workers.run_pass(app.state.sessionmaker, settings=app.state.settings, now=clock.now) == 0
    read = (await client.get(f"/tickets/{ticket['id']}", headers=staff)).json()
    assert read["first_response_breached"] is True
    assert read["resolution_breached"] is False
    assert [t["id"] for t in (await client.get(url, headers=staff, params={"breached": "true"})).json()["items"]] == [
        ticket["id"]
    ]
    history = (await client.get(f"/tickets/{ticket['id']}/history", headers=staff)).json()["items"]
    assert [e["data"] for e in history if e["type"] == "sla_breached"] == [{"target": "first_response"}]
    for account in (desk.org.staff, desk.org.owner):
        notes = (await client.get("/notifications", headers=account.headers)).json()["items"]
        breaches = [n for n in notes if n["kind"] == "sla_breached"]
        assert [n["data"]["ticket_id"] for n in breaches] == [ticket["id"]]
    requester_notes = (await client.get("/notifications", headers=desk.requester.headers)).json()["items"]
    assert not [n for n in requester_notes if n["kind"] == "sla_breached"]


async def test_two_concurrent_breach_passes_mark_and_notify_each_breach_once(
    client: httpx.AsyncClient, session: AsyncSession, clock: Clock, app: FastAPI
) -> None:
    desk = await create_desk(client, session)
    await put_sla(client, desk)
    tickets = [await open_ticket(client, desk) for _ in range(6)]
    clock.advance(minutes=241)  # both targets of every ticket missed
    results = await asyncio.gather(
        *(workers.run_pass(app.state.sessionmaker, settings=app.state.settings, now=clock.now) for _ in range(2))
    )
    assert sum(results) == 2 * len(tickets)
    events = await session.scalar(
        select(func.count()).select_from(TicketEvent).where(TicketEvent.type == "sla_breached")
    )
    assert events == 2 * len(tickets)
    owner_notes = await session.scalar(
        select(func.count()).where(Notification.user_id == desk.org.owner.id, Notification.kind == "sla_breached")
    )
    assert owner_notes == 2 * len(tickets)


async def test_solved_ticket_closes_after_the_reopen_window(
    client: httpx.AsyncClient, session: AsyncSession, clock: Clock, app: FastAPI
) -> None:
    """The pass closes it, and the close is a status change like a member's: the webhooks hear of
    it in the pass's transaction."""
    desk = await create_desk(client, session)
    hook = await client.post(
        f"/organizations/{desk.org.id}/webhooks",
        headers=desk.org.owner.headers,
        json={"url": "http://127.0.0.1:9/hook", "events": ["ticket.status_changed"]},
    )
    assert hook.status_code == 201, hook.text
    ticket = await open_ticket(client, desk)
    await move(client, ticket["id"], desk.org.staff, "solved")
    settings = app.state.settings
    clock.advance(days=settings.ticket_reopen_days, seconds=-1)
    assert await workers.run_pass(app.state.sessionmaker, settings=settings, now=clock.now) == 0
    clock.advance(seconds=1)
    assert await workers.run_pass(app.state.sessionmaker, settings=settings, now=clock.now) == 1
    read = (await client.get(f"/tickets/{ticket['id']}", headers=desk.requester.headers)).json()
    assert read["status"] == "closed"
    assert at(read["closed_at"]) == clock.now
    announced = (
        await session.scalars(
            select(WebhookEvent.data)
            .where(WebhookEvent.organization_id == desk.org.id, WebhookEvent.type == "ticket.status_changed")
            .order_by(WebhookEvent.created_at)
        )
    ).all()
    assert [(data["from"], data["to"]) for data in announced] == [("new", "solved"), ("solved", "closed")]
    assert announced[-1]["ticket"]["status"] == "closed"
