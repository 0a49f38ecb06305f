import asyncio
from decimal import Decimal
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests.helpers import Account, assert_problem, register
from tests.properties.factories import Clock, Sale, make_sale


async def _request(client: httpx.AsyncClient, sale: Sale) -> dict[str, object]:
    response = await client.post(
        f"/bookings/{sale.booking['id']}/change-requests",
        headers=sale.buyer.headers,
        json={"title": "Marble kitchen", "description": "Replace the laminate worktop with marble."},
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def _verb(
    client: httpx.AsyncClient, change_id: object, verb: str, account: Account, **body: object
) -> httpx.Response:
    return await client.post(f"/change-requests/{change_id}/{verb}", headers=account.headers, json=body)


async def test_an_accepted_quote_adds_an_instalment_and_delay_and_totals_stay_exact(
    client: httpx.AsyncClient, session: AsyncSession, clock: Clock
) -> None:
    sale = await make_sale(client, session, price="1000000.01")
    change = await _request(client, sale)
    assert set(change) == {
        "id", "booking_id", "unit_id", "status", "title", "description", "amount", "days", "quote_note",
        "instalment_id", "created_at", "updated_at",
    }  # fmt: skip
    assert change["status"] == "requested"
    staff = sale.org.staff
    assert_problem(await _verb(client, change["id"], "quote", sale.buyer, amount="1.00", days=1), 403, "forbidden")
    assert_problem(await _verb(client, change["id"], "accept", sale.buyer), 409, "invalid_transition")
    assert_problem(await _verb(client, change["id"], "quote", staff, amount="12.345", days=1), 422, "validation_error")
    quoted = await _verb(client, change["id"], "quote", staff, amount="12500.50", days=30, note="Carrara")
    assert quoted.status_code == 200, quoted.text
    assert (quoted.json()["amount"], quoted.json()["days"], quoted.json()["quote_note"]) == ("12500.50", 30, "Carrara")
    assert_problem(await _verb(client, change["id"], "accept", staff), 403, "forbidden")
    accepted = await _verb(client, change["id"], "accept", sale.buyer)
    assert accepted.status_code == 200
    assert accepted.json()["status"] == "accepted"
    schedule = (await client.get(f"/bookings/{sale.booking['id']}/schedule", headers=sale.buyer.headers)).json()
    added = schedule["instalments"][-1]
    today = clock.now.astimezone(ZoneInfo(sale.org.timezone)).date().isoformat()
    assert (added["kind"], added["change_request_id"], added["amount"], added["due_on"]) == (
        "change_request",
        change["id"],
        "12500.50",
        today,
    )
    assert added["id"] == accepted.json()["instalment_id"]
    assert schedule["total"] == "1012500.51"
    assert sum(Decimal(line["amount"]) for line in schedule["instalments"]) == Decimal("1012500.51")
    booking = (await client.get(f"/bookings/{sale.booking['id']}", headers=sale.buyer.headers)).json()
    assert (booking["total"], booking["price"], booking["delay_days"]) == ("1012500.51", "1000000.01", 30)
    history = (await client.get(f"/change-requests/{change['id']}/history", headers=staff.headers)).json()
    assert [(h["from_status"], h["to_status"]) for h in history] == [
        (None, "requested"),
        ("requested", "quoted"),
        ("quoted", "accepted"),
    ]
    for verb in ("quote", "decline", "accept", "reject", "withdraw"):
        account = staff if verb in ("quote", "decline") else sale.buyer
        response = await _verb(
            client,
            change["id"],
            verb,
            account,
            **({"amount": "1", "days": 0} if verb == "quote" else {"reason": "x"} if verb == "decline" else {}),
        )
        assert_problem(response, 409, "invalid_transition")


async def test_every_other_move_of_the_machine(client: httpx.AsyncClient, session: AsyncSession) -> None:
    sale = await make_sale(client, session)
    staff = sale.org.staff
    declined = await _request(client, sale)
    assert_problem(await _verb(client, declined["id"], "decline", staff), 422, "validation_error")  # a reason
    response = await _verb(client, declined["id"], "decline", staff, reason="Structural wall")
    assert response.json()["status"] == "declined"
    withdrawn = await _request(client, sale)
    assert (await _verb(client, withdrawn["id"], "withdraw", sale.buyer)).json()["status"] == "withdrawn"
    rejected = await _request(client, sale)
    await _verb(client, rejected["id"], "quote", staff, amount="0", days=5)
    assert (await _verb(client, rejected["id"], "reject", sale.buyer, reason="Too long")).json()["status"] == "rejected"
    free = await _request(client, sale)
    await _verb(client, free["id"], "quote", staff, amount="0", days=5)
    accepted = (await _verb(client, free["id"], "accept", sale.buyer)).json()
    assert (accepted["status"], accepted["instalment_id"]) == ("accepted", None)  # nothing to pay
    listing = await client.get(
        f"/projects/{sale.project['id']}/change-requests", headers=staff.headers, params={"status": "declined"}
    )
    assert [c["id"] for c in listing.json()["items"]] == [declined["id"]]
    mine = (await client.get(f"/bookings/{sale.booking['id']}/change-requests", headers=sale.buyer.headers)).json()
    assert mine["total"] == 4


async def test_accept_and_withdraw_racing_have_one_winner(client: httpx.AsyncClient, session: AsyncSession) -> None:
    sale = await make_sale(client, session)
    for _ in range(3):
        change = await _request(client, sale)
        await _verb(client, change["id"], "quote", sale.org.staff, amount="100.00", days=1)
        responses = await asyncio.gather(
            _verb(client, change["id"], "accept", sale.buyer), _verb(client, change["id"], "withdraw", sale.buyer)
        )
        assert sorted(r.status_code for r in responses) == [200, 409]
        final = (await client.get(f"/change-requests/{change['id']}", headers=sale.buyer.headers)).json()
        winner = next(r for r in responses if r.status_code == 200).json()
        assert final["status"] == winner["status"]
        assert (final["instalment_id"] is not None) == (final["status"] == "accepted")


async def test_change_requests_are_the_buyers_and_their_builders_only(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    sale = await make_sale(client, session)
    change = await _request(client, sale)
    stranger = await register(client)
    assert_problem(await client.get(f"/change-requests/{change['id']}", headers=stranger.headers), 404, "not_found")
    assert_problem(await _verb(client, change["id"], "withdraw", stranger), 404, "not_found")
    by_staff = await client.post(
        f"/bookings/{sale.booking['id']}/change-requests",
        headers=sale.org.staff.headers,
        json={"title": "x", "description": "y"},
    )
    assert_problem(by_staff, 403, "forbidden")
    assert_problem(
        await client.get(f"/projects/{sale.project['id']}/change-requests", headers=sale.buyer.headers),
        403,
        "forbidden",
    )
