import asyncio
from datetime import timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tests.helpers import Account, assert_problem, register
from tests.properties.factories import Clock, Sale, make_sale

PLAN = [
    {"label": "Down payment", "percent": "10", "trigger": "booking"},
    {"label": "Later", "percent": "30", "trigger": "booking", "offset_days": 60},
    {"label": "Handover", "percent": "30", "trigger": "handover"},
    {"label": "Sooner", "percent": "30", "trigger": "booking", "offset_days": 30},
]


def _today(sale: Sale, clock: Clock) -> str:
    return clock.now.astimezone(ZoneInfo(sale.org.timezone)).date().isoformat()


async def _pay(
    client: httpx.AsyncClient, sale: Sale, amount: str, clock: Clock, *, by: Account | None = None, **extra: Any
) -> httpx.Response:
    return await client.post(
        f"/bookings/{sale.booking['id']}/payments",
        headers=(by or sale.org.staff).headers,
        json={"amount": amount, "paid_on": _today(sale, clock), "method": "bank_transfer", **extra},
    )


async def _schedule(client: httpx.AsyncClient, sale: Sale) -> dict[str, Any]:
    response = await client.get(f"/bookings/{sale.booking['id']}/schedule", headers=sale.buyer.headers)
    body: dict[str, Any] = response.json()
    return body


async def test_partial_payments_fill_instalments_by_due_date(
    client: httpx.AsyncClient, session: AsyncSession, clock: Clock
) -> None:
    sale = await make_sale(client, session, price="100000.00", instalments=PLAN)
    lines = {line["label"]: line for line in (await _schedule(client, sale))["instalments"]}
    first = await _pay(client, sale, "25000.00", clock, reference="TX-1")
    assert first.status_code == 201, first.text
    body = first.json()
    assert set(body) == {
        "id", "booking_id", "amount", "currency", "paid_on", "method", "reference", "receipt_number", "allocations",
        "created_at", "updated_at",
    }  # fmt: skip
    # Down payment (due today), then the line due in 30 days (position 4), before the one in 60.
    assert body["allocations"] == [
        {"instalment_id": lines["Down payment"]["id"], "amount": "10000.00"},
        {"instalment_id": lines["Sooner"]["id"], "amount": "15000.00"},
    ]
    second = (await _pay(client, sale, "45000.00", clock)).json()
    assert second["allocations"] == [
        {"instalment_id": lines["Sooner"]["id"], "amount": "15000.00"},
        {"instalment_id": lines["Later"]["id"], "amount": "30000.00"},
    ]
    # The undated handover line comes last.
    third = (await _pay(client, sale, "0.01", clock)).json()
    assert third["allocations"] == [{"instalment_id": lines["Handover"]["id"], "amount": "0.01"}]
    assert second["receipt_number"] == first.json()["receipt_number"] + 1
    schedule = await _schedule(client, sale)
    assert (schedule["paid"], schedule["balance"], schedule["total"]) == ("70000.01", "29999.99", "100000.00")
    statuses = {line["label"]: line["status"] for line in schedule["instalments"]}
    assert statuses == {"Down payment": "paid", "Sooner": "paid", "Later": "paid", "Handover": "partial"}
    receipt = (await client.get(f"/payments/{first.json()['id']}/receipt", headers=sale.buyer.headers)).json()
    assert receipt["booking_reference"] == sale.booking["reference"]
    assert receipt["buyer_name"] == "Bea Buyer"
    assert receipt["unit_code"] == sale.unit["code"]
    assert receipt["project_name"] == sale.project["name"]
    assert receipt["organization_name"] == sale.org.body["name"]
    assert receipt["balance_after"] == "75000.00"
    listing = (await client.get(f"/bookings/{sale.booking['id']}/payments", headers=sale.buyer.headers)).json()
    assert listing["total"] == 3


async def test_overpayment_is_422_for_the_balance_and_for_one_instalment(
    client: httpx.AsyncClient, session: AsyncSession, clock: Clock
) -> None:
    sale = await make_sale(client, session, price="1000.00", instalments=PLAN)
    down = (await _schedule(client, sale))["instalments"][0]
    assert_problem(await _pay(client, sale, "1000.01", clock), 422, "overpayment")
    assert_problem(await _pay(client, sale, "100.01", clock, instalment_id=down["id"]), 422, "overpayment")
    exact = await _pay(client, sale, "100.00", clock, instalment_id=down["id"])
    assert exact.json()["allocations"] == [{"instalment_id": down["id"], "amount": "100.00"}]
    assert (await _pay(client, sale, "900.00", clock)).status_code == 201
    assert_problem(await _pay(client, sale, "0.01", clock), 422, "overpayment")
    assert (await _schedule(client, sale))["balance"] == "0.00"


async def test_payment_input_is_checked(client: httpx.AsyncClient, session: AsyncSession, clock: Clock) -> None:
    sale = await make_sale(client, session, price="1000", currency="JPY")
    assert_problem(await _pay(client, sale, "10.5", clock), 422, "validation_error")
    assert_problem(await _pay(client, sale, "0", clock), 422, "validation_error")
    number = await client.post(
        f"/bookings/{sale.booking['id']}/payments",
        headers=sale.org.staff.headers,
        json={"amount": 10, "paid_on": _today(sale, clock), "method": "cash"},
    )
    assert_problem(number, 422, "validation_error")
    tomorrow = (clock.now.astimezone(ZoneInfo(sale.org.timezone)).date() + timedelta(days=1)).isoformat()
    future = await client.post(
        f"/bookings/{sale.booking['id']}/payments",
        headers=sale.org.staff.headers,
        json={"amount": "10", "paid_on": tomorrow, "method": "cash"},
    )
    assert_problem(future, 422, "validation_error")
    paid = await _pay(client, sale, "10", clock)
    assert paid.json()["amount"] == "10"


async def test_the_same_payment_recorded_twice_at_once_cannot_exceed_the_balance(
    client: httpx.AsyncClient, session: AsyncSession, clock: Clock
) -> None:
    sale = await make_sale(client, session, price="1000.00", instalments=PLAN)
    second_staff = await register(client)
    await client.post(
        f"/organizations/{sale.org.id}/members",
        headers=sale.org.owner.headers,
        json={"email": second_staff.email, "role": "staff"},
    )
    await _pay(client, sale, "400.00", clock)
    responses = await asyncio.gather(
        _pay(client, sale, "600.00", clock), _pay(client, sale, "600.00", clock, by=second_staff)
    )
    assert sorted(r.status_code for r in responses) == [201, 422]
    assert next(r for r in responses if r.status_code == 422).json()["code"] == "overpayment"
    row = (
        await session.execute(
            text("SELECT sum(amount), sum(paid) FROM instalments WHERE booking_id = :b"), {"b": sale.booking["id"]}
        )
    ).one()
    assert (row[0], row[1]) == (Decimal("1000.00"), Decimal("1000.00"))
    numbers = (await session.execute(text("SELECT receipt_number FROM payments ORDER BY receipt_number"))).scalars()
    assert list(numbers) == [1, 2]


async def test_payments_are_staff_only_and_on_active_bookings(
    client: httpx.AsyncClient, session: AsyncSession, clock: Clock
) -> None:
    sale = await make_sale(client, session)
    stranger = await register(client)
    assert_problem(await _pay(client, sale, "1.00", clock, by=sale.buyer), 403, "forbidden")
    assert_problem(await _pay(client, sale, "1.00", clock, by=stranger), 404, "not_found")
    payment = (await _pay(client, sale, "1.00", clock)).json()
    assert_problem(await client.get(f"/payments/{payment['id']}/receipt", headers=stranger.headers), 404, "not_found")
    await client.post(f"/bookings/{sale.booking['id']}/cancel", headers=sale.org.staff.headers, json={})
    assert_problem(await _pay(client, sale, "1.00", clock), 409, "booking_not_active")


async def test_receipt_numbers_increase_per_organization(
    client: httpx.AsyncClient, session: AsyncSession, clock: Clock
) -> None:
    first = await make_sale(client, session, price="1000.00")
    second = await make_sale(client, session, price="1000.00")
    numbers = [
        (await _pay(client, sale, "10.00", clock)).json()["receipt_number"] for sale in (first, second, first, second)
    ]
    assert numbers == [1, 1, 2, 2]
