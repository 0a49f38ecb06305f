import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.helpers import assert_problem, register
from tests.properties.factories import Clock, create_builder, create_project, create_unit, hold


async def test_settings_default_then_changed_by_a_manager_not_by_staff(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    org = await create_builder(client, session)
    url = f"/organizations/{org.id}/property-settings"
    read = await client.get(url, headers=org.staff.headers)
    assert read.status_code == 200
    assert read.json()["hold_minutes"] == 15
    assert read.json()["max_holds_per_customer"] == 2
    assert_problem(await client.patch(url, headers=org.staff.headers, json={"hold_minutes": 30}), 403, "forbidden")
    changed = await client.patch(url, headers=org.owner.headers, json={"hold_minutes": 30})
    assert changed.status_code == 200, changed.text
    assert (await client.get(url, headers=org.staff.headers)).json()["hold_minutes"] == 30
    bad = await client.patch(url, headers=org.owner.headers, json={"max_holds_per_customer": 21})
    assert_problem(bad, 422, "validation_error")
    outsider = await register(client)
    assert_problem(await client.get(url, headers=outsider.headers), 403, "forbidden")


async def test_property_routes_of_another_kind_of_organization_are_409(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    org = await create_builder(client, session, kind="clinic")
    assert_problem(
        await client.get(f"/organizations/{org.id}/property-settings", headers=org.staff.headers),
        409,
        "wrong_organization_kind",
    )
    created = await client.post(
        f"/organizations/{org.id}/projects",
        headers=org.staff.headers,
        json={"name": "X", "city": "Y", "currency": "EUR"},
    )
    assert_problem(created, 409, "wrong_organization_kind")


async def test_project_body_and_draft_visibility(client: httpx.AsyncClient, session: AsyncSession) -> None:
    org = await create_builder(client, session)
    draft = await create_project(client, org, published=False, amenities=["pool", "gym"], address="1 Quay")
    assert set(draft) == {
        "id", "organization_id", "name", "city", "address", "status", "description", "starts_on", "handover_on",
        "completed_on", "amenities", "currency", "published", "progress_percent", "units_total", "units_available",
        "price_from", "created_at", "updated_at",
    }  # fmt: skip
    assert draft["published"] is False
    assert draft["status"] == "planned"
    assert draft["units_total"] == 0
    assert draft["price_from"] is None
    stranger = await register(client)
    assert_problem(await client.get(f"/projects/{draft['id']}"), 404, "not_found")
    assert_problem(await client.get(f"/projects/{draft['id']}", headers=stranger.headers), 404, "not_found")
    assert_problem(await client.get(f"/projects/{draft['id']}/units"), 404, "not_found")
    assert (await client.get(f"/projects/{draft['id']}", headers=org.staff.headers)).status_code == 200
    assert (await client.get("/projects")).json()["total"] == 0
    assert (await client.get("/projects", headers=org.staff.headers)).json()["total"] == 1
    # A stranger may not write, and learns nothing of the draft.
    assert_problem(await client.patch(f"/projects/{draft['id']}", headers=stranger.headers, json={}), 404, "not_found")


async def test_publishing_is_one_way_and_status_only_moves_forward(
    client: httpx.AsyncClient, session: AsyncSession, clock: Clock
) -> None:
    org = await create_builder(client, session, timezone="Asia/Tokyo")
    project = await create_project(client, org)
    url = f"/projects/{project['id']}"
    stranger = await register(client)
    assert_problem(await client.patch(url, headers=stranger.headers, json={"name": "Mine"}), 403, "forbidden")
    assert_problem(
        await client.patch(url, headers=org.staff.headers, json={"published": False}), 409, "invalid_transition"
    )
    moved = await client.patch(url, headers=org.staff.headers, json={"status": "completed"})
    assert moved.status_code == 200
    assert (
        moved.json()["completed_on"]
        == clock.now.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Tokyo")).date().isoformat()
    )
    back = await client.patch(url, headers=org.staff.headers, json={"status": "under_construction"})
    assert_problem(back, 409, "invalid_transition")
    assert_problem(
        await client.patch(url, headers=org.staff.headers, json={"currency": "USD"}), 422, "validation_error"
    )


@pytest.mark.parametrize(
    ("price", "currency"),
    [(300000, "EUR"), ("-1.00", "EUR"), ("1.001", "EUR"), ("1e5", "EUR"), ("100.5", "JPY"), ("12345678901234", "EUR")],
)
async def test_amounts_are_exact_strings_never_rounded(
    client: httpx.AsyncClient, session: AsyncSession, price: object, currency: str
) -> None:
    org = await create_builder(client, session)
    project = await create_project(client, org, currency=currency)
    response = await client.post(
        f"/projects/{project['id']}/units",
        headers=org.staff.headers,
        json={"code": "A1", "type": "villa", "floor": 0, "bedrooms": 3, "area_m2": "120", "price": price},
    )
    assert_problem(response, 422, "validation_error")


async def test_unknown_or_lower_case_currency_is_422(client: httpx.AsyncClient, session: AsyncSession) -> None:
    org = await create_builder(client, session)
    for currency in ("eur", "XYZ", "EURO"):
        response = await client.post(
            f"/organizations/{org.id}/projects",
            headers=org.staff.headers,
            json={"name": "X", "city": "Y", "currency": currency},
        )
        assert_problem(response, 422, "validation_error")


async def test_answers_write_the_currency_minor_digits(client: httpx.AsyncClient, session: AsyncSession) -> None:
    org = await create_builder(client, session)
    euro = await create_project(client, org)
    yen = await create_project(client, org, currency="JPY")
    dinar = await create_project(client, org, currency="KWD")
    assert (await create_unit(client, org, euro["id"], price="1000"))["price"] == "1000.00"
    assert (await create_unit(client, org, yen["id"], price="45000000"))["price"] == "45000000"
    assert (await create_unit(client, org, dinar["id"], price="9999999999999.125"))["price"] == "9999999999999.125"


async def test_unit_code_is_unique_per_project_in_any_case(client: httpx.AsyncClient, session: AsyncSession) -> None:
    org = await create_builder(client, session)
    project = await create_project(client, org)
    other = await create_project(client, org)
    await create_unit(client, org, project["id"], code="A-101")
    taken = await client.post(
        f"/projects/{project['id']}/units",
        headers=org.staff.headers,
        json={"code": "a-101", "type": "villa", "floor": 0, "bedrooms": 3, "area_m2": "120", "price": "1.00"},
    )
    assert_problem(taken, 409, "unit_code_taken")
    await create_unit(client, org, other["id"], code="A-101")


async def test_search_filters_match_an_available_unit(
    client: httpx.AsyncClient, session: AsyncSession, clock: Clock
) -> None:
    org = await create_builder(client, session)
    lisbon = await create_project(client, org, name="Marina", city="Lisbon", address="Rua do Cais 1")
    porto = await create_project(client, org, name="Ribeira Lofts", city="Porto")
    await create_unit(client, org, lisbon["id"], code="L1", bedrooms=2, price="250000.00")
    held = await create_unit(client, org, lisbon["id"], code="L2", bedrooms=3, price="400000.00")
    await create_unit(client, org, porto["id"], code="P1", bedrooms=3, price="400000.00")

    async def names(**params: object) -> list[str]:
        response = await client.get("/projects", params=params)
        assert response.status_code == 200, response.text
        return sorted(p["name"] for p in response.json()["items"])

    assert await names(city="LISBON") == ["Marina"]
    assert await names(q="cais") == ["Marina"]
    assert await names(bedrooms=3) == ["Marina", "Ribeira Lofts"]
    assert await names(min_price="400000.00") == ["Marina", "Ribeira Lofts"]
    assert await names(max_price="250000") == ["Marina"]
    assert await names(max_price="249999.99") == []
    buyer = await register(client)
    assert (await hold(client, buyer, held["id"])).status_code == 201
    assert await names(bedrooms=3) == ["Ribeira Lofts"]
    project = (await client.get(f"/projects/{lisbon['id']}")).json()
    assert (project["units_total"], project["units_available"], project["price_from"]) == (2, 1, "250000.00")
    units = (await client.get(f"/projects/{lisbon['id']}/units", params={"status": "held"})).json()
    assert [u["code"] for u in units["items"]] == ["L2"]
    assert units["items"][0]["held_until"] is not None
    # The hold lapses: the unit is available again, with no job having run.
    clock.advance(minutes=15)
    assert await names(bedrooms=3) == ["Marina", "Ribeira Lofts"]
    unit = (await client.get(f"/units/{held['id']}")).json()
    assert (unit["status"], unit["held_until"]) == ("available", None)


async def test_unit_list_filters_and_order(client: httpx.AsyncClient, session: AsyncSession) -> None:
    org = await create_builder(client, session)
    project = await create_project(client, org)
    for code, kind, bedrooms in (("B2", "villa", 4), ("A1", "apartment", 1), ("C3", "parking", 0)):
        await create_unit(client, org, project["id"], code=code, type=kind, bedrooms=bedrooms)
    listing = (await client.get(f"/projects/{project['id']}/units")).json()
    assert [u["code"] for u in listing["items"]] == ["A1", "B2", "C3"]
    villas = (await client.get(f"/projects/{project['id']}/units", params={"type": "villa"})).json()
    assert [u["code"] for u in villas["items"]] == ["B2"]
    zero = (await client.get(f"/projects/{project['id']}/units", params={"bedrooms": 0})).json()
    assert [u["code"] for u in zero["items"]] == ["C3"]


async def test_a_new_unit_price_is_staff_only(client: httpx.AsyncClient, session: AsyncSession) -> None:
    org = await create_builder(client, session)
    project = await create_project(client, org)
    unit = await create_unit(client, org, project["id"])
    stranger = await register(client)
    assert_problem(
        await client.patch(f"/units/{unit['id']}", headers=stranger.headers, json={"price": "1.00"}), 403, "forbidden"
    )
    changed = await client.patch(f"/units/{unit['id']}", headers=org.staff.headers, json={"price": "310000.50"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["price"] == "310000.50"
