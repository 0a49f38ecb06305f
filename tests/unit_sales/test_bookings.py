from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.helpers import assert_problem, register
from tests.properties.factories import (
    Clock,
    book,
    create_builder,
    create_plan,
    create_project,
    create_unit,
    hold,
    make_sale,
)


async def test_booking_reserves_the_unit_at_its_price_and_makes_the_schedule(
    client: httpx.AsyncClient, session: AsyncSession, clock: Clock
) -> None:
    sale = await make_sale(client, session, price="300000.00")
    body = sale.booking
    assert set(body) == {
        "id", "reference", "unit_id", "project_id", "organization_id", "customer_id", "payment_plan_id", "status",
        "price", "currency", "total", "paid", "balance", "overdue_amount", "delay_days", "sold_at", "cancelled_at",
        "created_at", "updated_at",
    }  # fmt: skip
    assert body["status"] == "reserved"
    assert (body["price"], body["total"], body["paid"], body["balance"]) == (
        "300000.00",
        "300000.00",
        "0.00",
        "300000.00",
    )
    assert body["overdue_amount"] == "0.00"
    assert (await client.get(f"/units/{sale.unit['id']}")).json()["status"] == "reserved"
    holds = (await client.get("/holds", headers=sale.buyer.headers)).json()["items"]
    assert holds[0]["status"] == "booked"
    schedule = (await client.get(f"/bookings/{body['id']}/schedule", headers=sale.buyer.headers)).json()
    amounts = [line["amount"] for line in schedule["instalments"]]
    assert amounts == ["30000.00", "120000.00", "150000.00"]
    today = clock.now.astimezone(ZoneInfo(sale.org.timezone)).date()
    assert [line["due_on"] for line in schedule["instalments"]] == [
        today.isoformat(),
        (today + timedelta(days=90)).isoformat(),
        None,
    ]
    assert {line["status"] for line in schedule["instalments"]} == {"unpaid"}
    history = (await client.get(f"/bookings/{body['id']}/history", headers=sale.buyer.headers)).json()
    assert [(h["from_status"], h["to_status"]) for h in history] == [(None, "reserved")]
    # A later price binds later bookings only.
    await client.patch(f"/units/{sale.unit['id']}", headers=sale.org.staff.headers, json={"price": "999999.00"})
    again = (await client.get(f"/bookings/{body['id']}", headers=sale.buyer.headers)).json()
    assert again["price"] == "300000.00"


@pytest.mark.parametrize(
    ("price", "currency", "percents", "expected"),
    [
        ("1000000.01", "EUR", ["33.3333", "33.3333", "33.3334"], ["333333.00", "333333.00", "333334.01"]),
        ("1000", "JPY", ["33.3333", "33.3333", "33.3334"], ["333", "333", "334"]),
        ("100", "JPY", ["0.5", "99.5"], ["0", "100"]),
        (
            "9999999999999.99",
            "EUR",
            ["12.5", "12.5", "75"],
            ["1249999999999.99", "1249999999999.99", "7500000000000.01"],
        ),
        ("0.01", "EUR", ["50", "50"], ["0.00", "0.01"]),
    ],
)
async def test_instalments_round_down_and_the_last_takes_the_rest(
    client: httpx.AsyncClient,
    session: AsyncSession,
    price: str,
    currency: str,
    percents: list[str],
    expected: list[str],
) -> None:
    plan = [{"label": f"Part {n}", "percent": p, "trigger": "booking"} for n, p in enumerate(percents, start=1)]
    sale = await make_sale(client, session, price=price, currency=currency, instalments=plan)
    schedule = (await client.get(f"/bookings/{sale.booking['id']}/schedule", headers=sale.buyer.headers)).json()
    assert [line["amount"] for line in schedule["instalments"]] == expected
    assert schedule["total"] == sale.booking["price"]
    assert sum(Decimal(a) for a in expected) == Decimal(price)


async def test_plan_percents_must_sum_to_exactly_one_hundred(client: httpx.AsyncClient, session: AsyncSession) -> None:
    org = await create_builder(client, session)
    project = await create_project(client, org)
    url = f"/projects/{project['id']}/payment-plans"
    for percents in (["50", "49.9999"], ["50", "50.0001"]):
        lines = [{"label": "x", "percent": p, "trigger": "booking"} for p in percents]
        response = await client.post(url, headers=org.staff.headers, json={"name": "Bad", "instalments": lines})
        assert_problem(response, 422, "percent_total")
    for bad in ({"percent": 100}, {"percent": "100.00001"}, {"percent": "0"}, {"trigger": "date"}):
        line = {"label": "x", "percent": "100", "trigger": "booking", **bad}
        response = await client.post(url, headers=org.staff.headers, json={"name": "Bad", "instalments": [line]})
        assert_problem(response, 422, "validation_error")
    buyer = await register(client)
    line = {"label": "x", "percent": "100", "trigger": "booking"}
    forbidden = await client.post(url, headers=buyer.headers, json={"name": "Mine", "instalments": [line]})
    assert_problem(forbidden, 403, "forbidden")


async def test_public_sees_active_plans_only(client: httpx.AsyncClient, session: AsyncSession) -> None:
    org = await create_builder(client, session)
    project = await create_project(client, org)
    plan = await create_plan(client, org, project["id"])
    assert [p["percent"] for p in plan["instalments"]] == ["10", "40", "50"]
    off = await client.patch(f"/payment-plans/{plan['id']}", headers=org.staff.headers, json={"active": False})
    assert off.json()["active"] is False
    assert (await client.get(f"/projects/{project['id']}/payment-plans")).json()["total"] == 0
    assert (await client.get(f"/projects/{project['id']}/payment-plans", headers=org.staff.headers)).json()[
        "total"
    ] == 1


async def test_only_the_holder_books_with_an_active_plan_of_the_project(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    org = await create_builder(client, session)
    project = await create_project(client, org)
    other_project = await create_project(client, org)
    unit = await create_unit(client, org, project["id"])
    plan = await create_plan(client, org, project["id"])
    foreign_plan = await create_plan(client, org, other_project["id"])
    inactive = await create_plan(client, org, project["id"])
    await client.patch(f"/payment-plans/{inactive['id']}", headers=org.staff.headers, json={"active": False})
    buyer, stranger = await register(client), await register(client)
    held = (await hold(client, buyer, unit["id"])).json()
    assert_problem(await book(client, stranger, held["id"], plan["id"]), 404, "not_found")
    assert_problem(await book(client, org.staff, held["id"], plan["id"]), 403, "forbidden")
    assert_problem(await book(client, buyer, held["id"], foreign_plan["id"]), 422, "invalid_payment_plan")
    assert_problem(await book(client, buyer, held["id"], inactive["id"]), 422, "invalid_payment_plan")
    booked = await book(client, buyer, held["id"], plan["id"])
    assert booked.status_code == 201
    assert_problem(await book(client, buyer, held["id"], plan["id"]), 409, "hold_not_active")


async def test_confirm_needs_the_down_payment_and_cancel_frees_the_unit(
    client: httpx.AsyncClient, session: AsyncSession, clock: Clock
) -> None:
    sale = await make_sale(client, session)
    booking_id = sale.booking["id"]
    staff = sale.org.staff.headers
    assert_problem(await client.post(f"/bookings/{booking_id}/confirm", headers=sale.buyer.headers), 403, "forbidden")
    assert_problem(await client.post(f"/bookings/{booking_id}/confirm", headers=staff), 409, "down_payment_missing")
    today = clock.now.astimezone(ZoneInfo(sale.org.timezone)).date().isoformat()
    paid = await client.post(
        f"/bookings/{booking_id}/payments",
        headers=staff,
        json={"amount": "30000.00", "paid_on": today, "method": "bank_transfer"},
    )
    assert paid.status_code == 201, paid.text
    assert_problem(
        await client.post(f"/bookings/{booking_id}/cancel", headers=sale.buyer.headers, json={}),
        409,
        "payments_recorded",
    )
    sold = await client.post(f"/bookings/{booking_id}/confirm", headers=staff)
    assert sold.status_code == 200
    assert sold.json()["status"] == "sold"
    assert sold.json()["sold_at"] is not None
    assert (await client.get(f"/units/{sale.unit['id']}")).json()["status"] == "sold"
    assert_problem(await client.post(f"/bookings/{booking_id}/confirm", headers=staff), 409, "invalid_transition")
    cancelled = await client.post(f"/bookings/{booking_id}/cancel", headers=staff, json={"reason": "buyer withdrew"})
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert (await client.get(f"/units/{sale.unit['id']}")).json()["status"] == "available"
    assert_problem(
        await client.post(f"/bookings/{booking_id}/cancel", headers=staff, json={}), 409, "invalid_transition"
    )
    history = (await client.get(f"/bookings/{booking_id}/history", headers=staff)).json()
    assert [(h["from_status"], h["to_status"]) for h in history] == [
        (None, "reserved"),
        ("reserved", "sold"),
        ("sold", "cancelled"),
    ]
    assert history[-1]["note"] == "buyer withdrew"
    assert history[-1]["actor_id"] == str(sale.org.staff.id)
    # The freed unit can be held and booked again.
    again = await register(client)
    assert (await hold(client, again, sale.unit["id"])).status_code == 201


async def test_the_buyer_cancels_while_nothing_is_paid(client: httpx.AsyncClient, session: AsyncSession) -> None:
    sale = await make_sale(client, session)
    cancelled = await client.post(f"/bookings/{sale.booking['id']}/cancel", headers=sale.buyer.headers, json={})
    assert cancelled.status_code == 200
    assert cancelled.json()["cancelled_at"] is not None
    assert (await client.get(f"/units/{sale.unit['id']}")).json()["status"] == "available"


async def test_a_booking_is_the_buyers_and_their_builders_only(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    sale = await make_sale(client, session)
    booking_id = sale.booking["id"]
    stranger = await register(client)
    other = await create_builder(client, session)
    for account in (stranger, other.staff):
        for path in ("", "/history", "/schedule", "/payments"):
            assert_problem(await client.get(f"/bookings/{booking_id}{path}", headers=account.headers), 404, "not_found")
        assert_problem(
            await client.post(f"/bookings/{booking_id}/cancel", headers=account.headers, json={}), 404, "not_found"
        )
    assert (await client.get(f"/bookings/{booking_id}", headers=sale.org.staff.headers)).status_code == 200
    assert (await client.get("/bookings", headers=sale.buyer.headers)).json()["total"] == 1
    assert (await client.get("/bookings", headers=stranger.headers)).json()["total"] == 0
    listed = await client.get(
        f"/projects/{sale.project['id']}/bookings",
        headers=sale.org.staff.headers,
        params={"q": sale.booking["reference"].lower()},
    )
    assert [b["id"] for b in listed.json()["items"]] == [booking_id]
    assert_problem(
        await client.get(f"/projects/{sale.project['id']}/bookings", headers=sale.buyer.headers), 403, "forbidden"
    )


async def test_overdue_follows_due_dates_in_the_builders_days(
    client: httpx.AsyncClient, session: AsyncSession, clock: Clock
) -> None:
    sale = await make_sale(client, session)
    schedule = (await client.get(f"/bookings/{sale.booking['id']}/schedule", headers=sale.buyer.headers)).json()
    first, second, handover = schedule["instalments"]
    assert not first["overdue"]
    # The day after the booking day, the unpaid down payment is overdue.
    clock.advance(days=1)
    schedule = (await client.get(f"/bookings/{sale.booking['id']}/schedule", headers=sale.buyer.headers)).json()
    assert schedule["instalments"][0]["overdue"] is True
    assert schedule["overdue_amount"] == "30000.00"
    today = clock.now.astimezone(ZoneInfo(sale.org.timezone)).date()
    moved = await client.patch(
        f"/instalments/{second['id']}",
        headers=sale.org.staff.headers,
        json={"due_on": (today - timedelta(days=3)).isoformat()},
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["overdue"] is True
    assert_problem(
        await client.patch(
            f"/instalments/{second['id']}", headers=sale.buyer.headers, json={"due_on": today.isoformat()}
        ),
        403,
        "forbidden",
    )
    booking = (await client.get(f"/bookings/{sale.booking['id']}", headers=sale.buyer.headers)).json()
    assert booking["overdue_amount"] == "150000.00"
    # The handover line falls due when the project is completed, plus its offset.
    assert handover["due_on"] is None
    await client.patch(f"/projects/{sale.project['id']}", headers=sale.org.staff.headers, json={"status": "completed"})
    schedule = (await client.get(f"/bookings/{sale.booking['id']}/schedule", headers=sale.buyer.headers)).json()
    assert schedule["instalments"][2]["due_on"] == today.isoformat()
    assert schedule["instalments"][2]["overdue"] is False
