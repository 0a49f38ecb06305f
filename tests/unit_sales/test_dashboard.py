from datetime import UTC, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests.helpers import assert_problem, register
from tests.properties.factories import Clock, create_builder, create_project, create_unit, hold, make_sale

PLAN = [
    {"label": "Deposit", "percent": "10", "trigger": "booking"},
    {"label": "Second", "percent": "40", "trigger": "booking", "offset_days": 30},
    {"label": "Handover", "percent": "50", "trigger": "handover"},
]


async def test_dashboard_sums_the_active_bookings_schedules_on_a_day_boundary(
    client: httpx.AsyncClient, session: AsyncSession, clock: Clock
) -> None:
    zone = ZoneInfo("Pacific/Auckland")
    # 23:59:30 on a local day: the bookings are made that day.
    local = clock.now.astimezone(zone).replace(hour=23, minute=59, second=30)
    clock.now = local.astimezone(UTC)
    org = await create_builder(client, session, timezone="Pacific/Auckland")
    project = await create_project(client, org)
    first = await make_sale(client, session, org=org, project=project, price="100000.00", instalments=PLAN)
    second = await make_sale(client, session, org=org, project=project, price="50000.00", instalments=PLAN)
    gone = await make_sale(client, session, org=org, project=project, price="70000.00", instalments=PLAN)
    await create_unit(client, org, project["id"])
    held = await create_unit(client, org, project["id"])
    assert (await hold(client, await register(client), held["id"])).status_code == 201
    today = local.date().isoformat()
    staff = org.staff.headers
    for sale, amount in ((first, "15000.00"), (gone, "7000.00")):
        paid = await client.post(
            f"/bookings/{sale.booking['id']}/payments",
            headers=staff,
            json={"amount": amount, "paid_on": today, "method": "card"},
        )
        assert paid.status_code == 201, paid.text
    await client.post(f"/bookings/{gone.booking['id']}/cancel", headers=staff, json={})
    await client.post(f"/bookings/{first.booking['id']}/confirm", headers=staff)

    dashboard = (await client.get(f"/projects/{project['id']}/dashboard", headers=staff)).json()
    assert dashboard["as_of"] == today
    assert dashboard["units"] == {"available": 2, "held": 1, "reserved": 1, "sold": 1, "total": 5}
    assert dashboard["currency"] == "EUR"
    # Due today: both deposits (10000 + 5000); nothing is overdue yet.
    assert (dashboard["sales_value"], dashboard["collected"], dashboard["outstanding"]) == (
        "150000.00",
        "15000.00",
        "135000.00",
    )
    assert (dashboard["due"], dashboard["overdue"]) == ("15000.00", "0.00")

    # One minute later it is the next day in Auckland: the second buyer's deposit is overdue; the
    # first buyer's 5000 paid beyond the deposit went to the line due in 30 days.
    clock.advance(minutes=1)
    dashboard = (await client.get(f"/projects/{project['id']}/dashboard", headers=staff)).json()
    assert dashboard["as_of"] == (local.date() + timedelta(days=1)).isoformat()
    assert (dashboard["due"], dashboard["overdue"]) == ("15000.00", "5000.00")
    schedules = [
        (await client.get(f"/bookings/{s.booking['id']}/schedule", headers=staff)).json() for s in (first, second)
    ]
    assert Decimal(dashboard["overdue"]) == sum(Decimal(s["overdue_amount"]) for s in schedules)
    assert Decimal(dashboard["outstanding"]) == sum(Decimal(s["balance"]) for s in schedules)


async def test_dashboard_is_for_staff(client: httpx.AsyncClient, session: AsyncSession) -> None:
    sale = await make_sale(client, session)
    url = f"/projects/{sale.project['id']}/dashboard"
    assert_problem(await client.get(url, headers=sale.buyer.headers), 403, "forbidden")
    assert_problem(await client.get(url), 401, "not_authenticated")
    assert (await client.get(url, headers=sale.org.owner.headers)).status_code == 200
