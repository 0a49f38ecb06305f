"""API keys on the helpdesk's organization routes: `tickets:read` reads the queue, the SLA and the
reports, `tickets:write` also changes the SLA and the categories (and files tickets: see
tests/tickets/test_api_keys.py, with the routes reached by a ticket's id); writing articles stays
for signed-in people; another organization's key: 404."""

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests.apikeys.test_routes import create_key, key_headers
from tests.helpers import assert_problem
from tests.tickets.helpers import create_desk, open_ticket

SLA = {"policies": [{"priority": "normal", "first_response_minutes": 60, "resolution_minutes": 240}]}


async def test_a_read_key_lists_tickets_and_reads_reports_but_changes_nothing(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    desk = await create_desk(client, session)
    ticket = await open_ticket(client, desk)
    org = f"/organizations/{desk.org.id}"
    key = key_headers(await create_key(client, desk.org.owner, desk.org.id, ["tickets:read"]))
    listed = await client.get(f"{org}/tickets", headers=key)
    assert listed.status_code == 200, listed.text
    assert [item["id"] for item in listed.json()["items"]] == [ticket["id"]]
    assert (await client.get(f"{org}/sla", headers=key)).status_code == 200
    summary = await client.get(f"{org}/insights/tickets", headers=key)
    assert summary.status_code == 200, summary.text
    assert summary.json()["created"] == 1
    daily = await client.get(f"{org}/insights/tickets/daily", headers=key, params={"format": "csv"})
    assert daily.status_code == 200, daily.text
    assert (await client.get(f"/tickets/{ticket['id']}", headers=key)).json()["id"] == ticket["id"]
    for method, path, body in [
        ("PUT", f"{org}/sla", SLA),
        ("POST", f"{org}/ticket-categories", {"name": "Passports"}),
        ("PATCH", f"/tickets/{ticket['id']}", {"priority": "high"}),
        ("POST", "/tickets", {"organization_id": str(desk.org.id), "subject": "Hi", "description": "Hello"}),
    ]:
        assert_problem(await client.request(method, path, json=body, headers=key), 403, "insufficient_scope")


async def test_a_write_key_sets_the_sla_and_adds_categories(client: httpx.AsyncClient, session: AsyncSession) -> None:
    desk = await create_desk(client, session)
    org = f"/organizations/{desk.org.id}"
    key = key_headers(await create_key(client, desk.org.owner, desk.org.id, ["tickets:write"]))
    put = await client.put(f"{org}/sla", headers=key, json=SLA)
    assert put.status_code == 200, put.text
    read = await client.get(f"{org}/sla", headers=desk.org.staff.headers)
    assert [p["priority"] for p in read.json()["policies"]] == ["normal"]
    created = await client.post(f"{org}/ticket-categories", headers=key, json={"name": "Passports"})
    assert created.status_code == 201, created.text
    assert (await client.get(f"{org}/tickets", headers=key)).status_code == 200  # write includes read
    # Writing knowledge-base articles is not part of the tickets scopes.
    article = {"title": "Passports", "body": "Bring your old one."}
    assert_problem(await client.post(f"{org}/articles", headers=key, json=article), 403, "insufficient_scope")


async def test_another_organizations_key_gets_404(client: httpx.AsyncClient, session: AsyncSession) -> None:
    desk = await create_desk(client, session)
    other = await create_desk(client, session, name="Town Hall")
    await open_ticket(client, desk)
    key = key_headers(await create_key(client, other.org.owner, other.org.id, ["tickets:write"]))
    org = f"/organizations/{desk.org.id}"
    for method, path, body in [
        ("GET", f"{org}/tickets", None),
        ("GET", f"{org}/sla", None),
        ("PUT", f"{org}/sla", SLA),
        ("GET", f"{org}/insights/tickets", None),
    ]:
        assert_problem(await client.request(method, path, json=body, headers=key), 404, "not_found")
    assert (await client.get(f"/organizations/{other.org.id}/tickets", headers=key)).json()["total"] == 0


async def test_a_write_key_renames_and_deletes_its_organizations_categories(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    desk = await create_desk(client, session)
    other = await create_desk(client, session, name="Clinic")
    created = await client.post(
        f"/organizations/{desk.org.id}/ticket-categories", headers=desk.org.owner.headers, json={"name": "Billing"}
    )
    url = f"/ticket-categories/{created.json()['id']}"
    writer = key_headers(await create_key(client, desk.org.owner, desk.org.id, ["tickets:write"]))
    reader = key_headers(await create_key(client, desk.org.owner, desk.org.id, ["tickets:read"]))
    foreign = key_headers(await create_key(client, other.org.owner, other.org.id, ["tickets:write"]))
    assert_problem(await client.patch(url, headers=reader, json={"name": "Fees"}), 403, "insufficient_scope")
    assert_problem(await client.patch(url, headers=foreign, json={"name": "Fees"}), 404, "not_found")
    assert_problem(await client.delete(url, headers=foreign), 404, "not_found")
    renamed = await client.patch(url, headers=writer, json={"name": "Fees"})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "Fees"
    assert (await client.delete(url, headers=writer)).status_code == 204
    assert_problem(await client.delete(url, headers=writer), 404, "not_found")
