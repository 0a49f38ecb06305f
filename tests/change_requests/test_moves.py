"""Change requests: from each state every verb (the legal moves and the 409s), the history, rights of each side,
currency-exact quotes, the accepted quote in the schedule on the builder's day, accept and withdraw racing."""

import asyncio
from datetime import timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.helpers import Account, assert_problem, register
from tests.properties.factories import Clock, Sale, create_builder, make_sale

VERBS = ("quote", "decline", "accept", "reject", "withdraw")
QUOTE = {"amount": "4500.10", "days": 14, "note": "Granite top"}


async def ask(client: httpx.AsyncClient, sale: Sale, title: str = "Kitchen island") -> dict[str, Any]:
    response = await client.post(
        f"/bookings/{sale.booking['id']}/change-requests",
        headers=sale.buyer.headers,
        json={"title": title, "description": "An island with a sink."},
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def move(
    client: httpx.AsyncClient, account: Account, request_id: str, verb: str, body: dict[str, Any] | None = None
) -> httpx.Response:
    if body is None:
        body = {"quote": QUOTE, "decline": {"reason": "Load-bearing wall"}}.get(verb, {})
    return await client.post(f"/change-requests/{request_id}/{verb}", headers=account.headers, json=body)


def actor(sale: Sale, verb: str) -> Account:
    return sale.org.staff if verb in ("quote", "decline") else sale.buyer


# From each state, the verbs that move it and where to.
LEGAL = {
    "requested": {"quote": "quoted", "decline": "declined", "withdraw": "withdrawn"},
    "quoted": {"accept": "accepted", "reject": "rejected", "withdraw": "withdrawn"},
    "declined": {},
    "accepted": {},
    "rejected": {},
    "withdrawn": {},
}
PATHS = {
    "requested": [],
    "quoted": ["quote"],
    "declined": ["decline"],
    "accepted": ["quote", "accept"],
    "rejected": ["quote", "reject"],
    "withdrawn": ["withdraw"],
}


@pytest.fixture
async def sale(client: httpx.AsyncClient, session: AsyncSession) -> Sale:
    return await make_sale(client, session, price="300000.00")


async def request_in(client: httpx.AsyncClient, sale: Sale, state: str) -> str:
    request = await ask(client, sale)
    for verb in PATHS[state]:
        response = await move(client, actor(sale, verb), request["id"], verb)
        assert response.status_code == 200, response.text
    return str(request["id"])


@pytest.mark.parametrize("state", list(LEGAL))
async def test_every_move_and_every_illegal_one(
    client: httpx.AsyncClient, sale: Sale, clock: Clock, state: str
) -> None:
    for verb in VERBS:
        request_id = await request_in(client, sale, state)
        response = await move(client, actor(sale, verb), request_id, verb)
        if verb in LEGAL[state]:
            assert response.status_code == 200, (state, verb, response.text)
            assert response.json()["status"] == LEGAL[state][verb]
            history = (await client.get(f"/change-requests/{request_id}/history", headers=sale.buyer.headers)).json()
            assert [(h["from_status"], h["to_status"]) for h in history][-1] == (state, LEGAL[state][verb])
        else:
            assert_problem(response, 409, "invalid_transition")
            current = (await client.get(f"/change-requests/{request_id}", headers=sale.buyer.headers)).json()
            assert current["status"] == state


async def test_the_whole_path_is_kept_in_the_history(client: httpx.AsyncClient, sale: Sale, clock: Clock) -> None:
    request = await ask(client, sale)
    assert request["status"] == "requested"
    assert request["amount"] is None
    quoted = (await move(client, sale.org.staff, request["id"], "quote")).json()
    assert (quoted["amount"], quoted["days"], quoted["quote_note"]) == ("4500.10", 14, "Granite top")
    assert (await move(client, sale.buyer, request["id"], "accept")).status_code == 200
    history = (await client.get(f"/change-requests/{request['id']}/history", headers=sale.org.staff.headers)).json()
    assert [(h["from_status"], h["to_status"], h["actor_id"]) for h in history] == [
        (None, "requested", str(sale.buyer.id)),
        ("requested", "quoted", str(sale.org.staff.id)),
        ("quoted", "accepted", str(sale.buyer.id)),
    ]
    assert history[1]["note"] == "Granite top"


async def test_an_accepted_quote_adds_an_instalment_due_that_day_and_its_delay(
    client: httpx.AsyncClient, sale: Sale, clock: Clock
) -> None:
    booking_id = sale.booking["id"]
    before = (await client.get(f"/bookings/{booking_id}/schedule", headers=sale.buyer.headers)).json()
    first = await ask(client, sale, "Island")
    await move(client, sale.org.staff, first["id"], "quote")
    accepted = (await move(client, sale.buyer, first["id"], "accept")).json()
    free = await ask(client, sale, "Other tiles")
    await move(client, sale.org.staff, free["id"], "quote", {"amount": "0", "days": 3})
    accepted_free = (await move(client, sale.buyer, free["id"], "accept")).json()
    assert accepted_free["instalment_id"] is None  # nothing to pay, only the delay

    schedule = (await client.get(f"/bookings/{booking_id}/schedule", headers=sale.buyer.headers)).json()
    added = schedule["instalments"][-1]
    assert len(schedule["instalments"]) == len(before["instalments"]) + 1
    assert added["id"] == accepted["instalment_id"]
    assert added["kind"] == "change_request"
    assert added["change_request_id"] == first["id"]
    assert added["position"] == len(before["instalments"]) + 1
    assert added["amount"] == "4500.10"
    assert added["due_on"] == str(clock.now.astimezone(ZoneInfo(sale.org.timezone)).date())
    assert schedule["total"] == "304500.10"
    assert Decimal(schedule["total"]) == sum(Decimal(line["amount"]) for line in schedule["instalments"])
    assert Decimal(schedule["paid"]) + Decimal(schedule["balance"]) == Decimal(schedule["total"])
    booking = (await client.get(f"/bookings/{booking_id}", headers=sale.buyer.headers)).json()
    assert booking["total"] == "304500.10"
    assert booking["price"] == "300000.00"
    assert booking["delay_days"] == 17

    # Paying exactly the change's amount against it settles it, to the cent.
    paid = await client.post(
        f"/bookings/{booking_id}/payments",
        headers=sale.org.staff.headers,
        json={"amount": "4500.10", "paid_on": str(added["due_on"]), "method": "card", "instalment_id": added["id"]},
    )
    assert paid.status_code == 201, paid.text
    schedule = (await client.get(f"/bookings/{booking_id}/schedule", headers=sale.buyer.headers)).json()
    assert schedule["instalments"][-1]["status"] == "paid"
    assert (schedule["paid"], schedule["balance"]) == ("4500.10", "300000.00")


async def test_the_change_falls_due_on_the_builders_day(
    client: httpx.AsyncClient, session: AsyncSession, clock: Clock
) -> None:
    org = await create_builder(client, session, timezone="Pacific/Auckland")
    clock.now = clock.now.replace(hour=11, minute=30)  # 11:30 UTC = 00:30 next day in Auckland (UTC+13)
    sale = await make_sale(client, session, org=org)
    request = await ask(client, sale)
    await move(client, org.staff, request["id"], "quote")
    await move(client, sale.buyer, request["id"], "accept")
    schedule = (await client.get(f"/bookings/{sale.booking['id']}/schedule", headers=sale.buyer.headers)).json()
    local = clock.now.astimezone(ZoneInfo("Pacific/Auckland")).date()
    assert local == clock.now.date() + timedelta(days=1)
    assert schedule["instalments"][-1]["due_on"] == str(local)


async def test_quote_amounts_follow_the_currency(client: httpx.AsyncClient, session: AsyncSession) -> None:
    sale = await make_sale(client, session, currency="JPY", price="30000000")
    request = await ask(client, sale)
    for amount in ("100.5", "-5", "1e3"):
        bad = await move(client, sale.org.staff, request["id"], "quote", {"amount": amount, "days": 1})
        assert_problem(bad, 422, "validation_error")
    assert_problem(
        await move(client, sale.org.staff, request["id"], "quote", {"amount": 100, "days": 1}), 422, "validation_error"
    )
    assert_problem(
        await move(client, sale.org.staff, request["id"], "quote", {"amount": "100", "days": 3651}),
        422,
        "validation_error",
    )
    ok = await move(client, sale.org.staff, request["id"], "quote", {"amount": "1000", "days": 0})
    assert ok.json()["amount"] == "1000"


async def test_who_may_do_what(client: httpx.AsyncClient, sale: Sale, session: AsyncSession) -> None:
    stranger = await register(client)
    other_builder = await make_sale(client, session)
    booking_url = f"/bookings/{sale.booking['id']}/change-requests"
    body = {"title": "Wall", "description": "Move it"}
    assert_problem(await client.post(booking_url, headers=stranger.headers, json=body), 404, "not_found")
    assert_problem(await client.post(booking_url, headers=sale.org.staff.headers, json=body), 403, "forbidden")
    assert_problem(await client.post(booking_url, headers=other_builder.org.staff.headers, json=body), 404, "not_found")
    request = await ask(client, sale)
    url = f"/change-requests/{request['id']}"
    for account in (stranger, other_builder.org.staff, other_builder.buyer):
        assert_problem(await client.get(url, headers=account.headers), 404, "not_found")
        assert_problem(await client.get(f"{url}/history", headers=account.headers), 404, "not_found")
        assert_problem(await move(client, account, request["id"], "quote"), 404, "not_found")
        assert_problem(await move(client, account, request["id"], "withdraw"), 404, "not_found")
    # The buyer cannot quote, staff cannot accept or withdraw for the buyer.
    assert_problem(await move(client, sale.buyer, request["id"], "quote"), 403, "forbidden")
    assert_problem(await move(client, sale.buyer, request["id"], "decline"), 403, "forbidden")
    await move(client, sale.org.staff, request["id"], "quote")
    for verb in ("accept", "reject", "withdraw"):
        assert_problem(await move(client, sale.org.staff, request["id"], verb), 403, "forbidden")
    # Lists: the booking's for its buyer and staff, the project's for staff only.
    assert (await client.get(booking_url, headers=sale.buyer.headers)).json()["total"] == 1
    assert_problem(await client.get(booking_url, headers=stranger.headers), 404, "not_found")
    project_url = f"/projects/{sale.project['id']}/change-requests"
    listed = (await client.get(project_url, headers=sale.org.staff.headers, params={"status": "quoted"})).json()
    assert [r["id"] for r in listed["items"]] == [request["id"]]
    assert (await client.get(project_url, headers=sale.org.staff.headers, params={"status": "requested"})).json()[
        "total"
    ] == 0
    assert_problem(await client.get(project_url, headers=sale.buyer.headers), 403, "forbidden")


async def test_a_cancelled_booking_takes_no_new_request_and_accepts_no_quote(
    client: httpx.AsyncClient, sale: Sale
) -> None:
    request = await ask(client, sale)
    await move(client, sale.org.staff, request["id"], "quote")
    assert (
        await client.post(f"/bookings/{sale.booking['id']}/cancel", headers=sale.buyer.headers, json={})
    ).status_code == 200
    # Part 1's service answers `invalid_transition` here (the contract names no code for it).
    assert_problem(await move(client, sale.buyer, request["id"], "accept"), 409, "invalid_transition")
    schedule = (await client.get(f"/bookings/{sale.booking['id']}/schedule", headers=sale.buyer.headers)).json()
    assert all(line["kind"] == "plan" for line in schedule["instalments"])
    refused = await client.post(
        f"/bookings/{sale.booking['id']}/change-requests",
        headers=sale.buyer.headers,
        json={"title": "x", "description": "y"},
    )
    assert_problem(refused, 409, "booking_not_active")
    assert (await move(client, sale.buyer, request["id"], "withdraw")).json()["status"] == "withdrawn"


async def test_accept_and_withdraw_racing_have_one_winner(client: httpx.AsyncClient, session: AsyncSession) -> None:
    for _ in range(5):
        sale = await make_sale(client, session)
        request = await ask(client, sale)
        await move(client, sale.org.staff, request["id"], "quote")
        accept, withdraw = await asyncio.gather(
            move(client, sale.buyer, request["id"], "accept"), move(client, sale.buyer, request["id"], "withdraw")
        )
        codes = sorted([accept.status_code, withdraw.status_code])
        assert codes == [200, 409], (accept.text, withdraw.text)
        loser = accept if accept.status_code == 409 else withdraw
        assert_problem(loser, 409, "invalid_transition")
        final = (await client.get(f"/change-requests/{request['id']}", headers=sale.buyer.headers)).json()
        schedule = (await client.get(f"/bookings/{sale.booking['id']}/schedule", headers=sale.buyer.headers)).json()
        booking = (await client.get(f"/bookings/{sale.booking['id']}", headers=sale.buyer.headers)).json()
        history = (await client.get(f"/change-requests/{request['id']}/history", headers=sale.buyer.headers)).json()
        assert len(history) == 3  # requested, quoted, and the winner's move only
        if accept.status_code == 200:
            assert final["status"] == "accepted"
            assert schedule["total"] == "304500.10"
            assert booking["delay_days"] == 14
        else:
            assert final["status"] == "withdrawn"
            assert schedule["total"] == "300000.00"
            assert booking["delay_days"] == 0
            assert all(line["kind"] == "plan" for line in schedule["instalments"])
