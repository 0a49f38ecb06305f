"""The project dashboard: its figures equal what this test computes from the sales it made."""

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests.helpers import Account, assert_problem, register
from tests.properties.factories import Clock, book, create_builder, create_plan, create_project, create_unit, hold

ZONE = "Pacific/Auckland"  # UTC+12 or +13: its midnight falls in the middle of a UTC day


async def sell(
    client: httpx.AsyncClient, org: Any, project: dict[str, Any], plan: dict[str, Any], price: str
) -> tuple[Account, dict[str, Any]]:
    buyer = await register(client)
    unit = await create_unit(client, org, project["id"], price=price)
    held = await hold(client, buyer, unit["id"])
    booked = await book(client, buyer, held.json()["id"], plan["id"])
    assert booked.status_code == 201, booked.text
    return buyer, booked.json()


async def pay(client: httpx.AsyncClient, staff: Account, booking_id: str, amount: str, paid_on: str) -> None:
    response = await client.post(
        f"/bookings/{booking_id}/payments",
        headers=staff.headers,
        json={"amount": amount, "paid_on": paid_on, "method": "bank_transfer"},
    )
    assert response.status_code == 201, response.text


async def lines(client: httpx.AsyncClient, account: Account, booking_id: str) -> list[dict[str, Any]]:
    return list((await client.get(f"/bookings/{booking_id}/schedule", headers=account.headers)).json()["instalments"])


async def test_dashboard_figures_match_the_sales_including_overdue_across_the_builders_midnight(
    client: httpx.AsyncClient, session: AsyncSession, clock: Clock
) -> None:
    # 23:30 in Auckland (10:30 or 11:30 UTC, the same calendar day there and in UTC).
    day = clock.now.date()
    clock.now = datetime.combine(day, time(23, 30), tzinfo=ZoneInfo(ZONE)).astimezone(UTC)
    assert clock.now.date() == day
    org = await create_builder(client, session, timezone=ZONE)
    settings = await client.patch(
        f"/organizations/{org.id}/property-settings", headers=org.owner.headers, json={"hold_minutes": 240}
    )
    assert settings.status_code == 200, settings.text
    project = await create_project(client, org)
    plan = await create_plan(client, org, project["id"])  # 10 % at booking, 40 % booking + 90 days, 50 % handover

    a_buyer, a = await sell(client, org, project, plan, "300000.00")  # reserved, nothing paid
    b_buyer, b = await sell(client, org, project, plan, "200000.01")  # sold, 25000.00 paid
    await pay(client, org.staff, b["id"], "20000.00", str(day))
    assert (await client.post(f"/bookings/{b['id']}/confirm", headers=org.staff.headers)).status_code == 200
    await pay(client, org.staff, b["id"], "5000.00", str(day))
    _, c = await sell(client, org, project, plan, "150000.00")  # cancelled after a payment: not counted
    await pay(client, org.staff, c["id"], "15000.00", str(day))
    cancelled = await client.post(f"/bookings/{c['id']}/cancel", headers=org.staff.headers, json={"reason": "x"})
    assert cancelled.status_code == 200
    holder = await register(client)
    held_unit = await create_unit(client, org, project["id"])
    assert (await hold(client, holder, held_unit["id"])).status_code == 201
    await create_unit(client, org, project["id"])  # available

    # A's down payment fell due yesterday; B's second instalment falls due today (the builder's day).
    a_lines, b_lines = await lines(client, a_buyer, a["id"]), await lines(client, b_buyer, b["id"])
    for line, due in ((a_lines[0], day - timedelta(days=1)), (b_lines[1], day)):
        patched = await client.patch(f"/instalments/{line['id']}", headers=org.staff.headers, json={"due_on": str(due)})
        assert patched.status_code == 200, patched.text

    # What the test knows of its own sales (the plan's shares, rounded down; the last takes the rest).
    a_down, b_down, b_frame = Decimal("30000.00"), Decimal("20000.00"), Decimal("80000.00")
    sales_value = Decimal("300000.00") + Decimal("200000.01")
    collected = Decimal("20000.00") + Decimal("5000.00")
    b_frame_outstanding = b_frame - Decimal("5000.00")  # the 5000.00 went to the next instalment by due date

    def expected(as_of: Any, overdue: Decimal) -> dict[str, Any]:
        return {
            "currency": "EUR",
            "as_of": str(as_of),
            "units": {"available": 2, "held": 1, "reserved": 1, "sold": 1, "total": 5},
            "sales_value": str(sales_value),
            "collected": str(collected),
            "due": str(a_down + b_down + b_frame),
            "overdue": str(overdue),
            "outstanding": str(sales_value - collected),
        }

    url = f"/projects/{project['id']}/dashboard"
    before_midnight = (await client.get(url, headers=org.staff.headers)).json()
    assert before_midnight == expected(day, a_down)  # due today is not yet overdue

    clock.advance(hours=1)  # still `day` in UTC, but 00:30 the next day in Auckland
    assert clock.now.date() == day
    after_midnight = (await client.get(url, headers=org.staff.headers)).json()
    assert after_midnight == expected(day + timedelta(days=1), a_down + b_frame_outstanding)

    # The figures agree with the bookings' own.
    bookings = [(await client.get(f"/bookings/{x['id']}", headers=org.staff.headers)).json() for x in (a, b)]
    assert str(sum(Decimal(x["total"]) for x in bookings)) == after_midnight["sales_value"]
    assert str(sum(Decimal(x["overdue_amount"]) for x in bookings)) == after_midnight["overdue"]
    assert str(sum(Decimal(x["balance"]) for x in bookings)) == after_midnight["outstanding"]


async def test_the_dashboard_is_for_the_builders_staff(client: httpx.AsyncClient, session: AsyncSession) -> None:
    org = await create_builder(client, session)
    project = await create_project(client, org)
    draft = await create_project(client, org, published=False)
    other = await create_builder(client, session)
    stranger = await register(client)
    empty = (await client.get(f"/projects/{project['id']}/dashboard", headers=org.owner.headers)).json()
    assert (empty["sales_value"], empty["units"]["total"], empty["overdue"]) == ("0.00", 0, "0.00")
    for account in (stranger, other.staff):
        assert_problem(
            await client.get(f"/projects/{project['id']}/dashboard", headers=account.headers), 403, "forbidden"
        )
        assert_problem(
            await client.get(f"/projects/{draft['id']}/dashboard", headers=account.headers), 404, "not_found"
        )
    assert_problem(await client.get(f"/projects/{project['id']}/dashboard"), 401, "not_authenticated")
