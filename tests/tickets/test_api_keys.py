"""Tickets with an organization's API key: filed for `requester_email` (`channel: api`), read and
worked by id with `tickets:read` / `tickets:write`, replies `via: api`, every change named by the
key in the history; another organization's key gets 404, a key without the scope 403."""

from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from app.services.organizations.models import Membership
from tests.apikeys.test_routes import create_key, key_headers
from tests.chat.helpers import receive_until, socket
from tests.helpers import assert_problem, mails_to, register
from tests.tickets.helpers import Desk, create_desk, open_ticket, random_id

SLA = {"policies": [{"priority": "normal", "first_response_minutes": 60, "resolution_minutes": 240}]}


async def key_for(client: httpx.AsyncClient, desk: Desk, *scopes: str) -> dict[str, Any]:
    return await create_key(client, desk.org.owner, desk.org.id, list(scopes))


def filing(desk: Desk, **fields: Any) -> dict[str, Any]:
    return {"organization_id": str(desk.org.id), "subject": "Lamp out", "description": "Corner of Main St.", **fields}


async def history(client: httpx.AsyncClient, desk: Desk, ticket_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/tickets/{ticket_id}/history", headers=desk.org.staff.headers)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def test_a_key_files_a_ticket_for_a_requester_email(client: httpx.AsyncClient, session: AsyncSession) -> None:
    desk = await create_desk(client, session)
    key = await key_for(client, desk, "tickets:write")
    headers = key_headers(key)
    response = await client.post(
        "/tickets", headers=headers, json=filing(desk, requester_email=desk.requester.email.upper(), priority="high")
    )
    assert response.status_code == 201, response.text
    ticket = response.json()
    assert ticket["channel"] == "api"
    assert ticket["priority"] == "high"
    assert ticket["requester_id"] == str(desk.requester.id)
    assert ticket["requester_email"] == desk.requester.email
    assert "tags" in ticket  # the members' view
    mine = (await client.get("/tickets", headers=desk.requester.headers)).json()["items"]
    assert [t["id"] for t in mine] == [ticket["id"]]
    [first] = (await client.get(f"/tickets/{ticket['id']}/messages", headers=desk.requester.headers)).json()["items"]
    assert (first["via"], first["author_email"], first["sender_id"]) == (
        "api",
        desk.requester.email,
        str(desk.requester.id),
    )
    [created] = await history(client, desk, ticket["id"])
    assert (created["type"], created["actor_id"], created["api_key_id"]) == ("created", None, key["id"])

    # Someone without an account: the organization's owner stands in for them in the thread.
    unknown = await client.post("/tickets", headers=headers, json=filing(desk, requester_email="nobody@example.net"))
    assert unknown.status_code == 201, unknown.text
    assert unknown.json()["requester_id"] is None
    [first] = (await client.get(f"/tickets/{unknown.json()['id']}/messages", headers=desk.org.staff.headers)).json()[
        "items"
    ]
    assert (first["author_email"], first["sender_id"]) == ("nobody@example.net", str(desk.org.owner.id))


async def test_filing_by_key_needs_the_email_the_scope_and_its_own_organization(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    desk = await create_desk(client, session)
    other = await create_desk(client, session, name="Town Hall")
    write = key_headers(await key_for(client, desk, "tickets:write"))
    read = key_headers(await key_for(client, desk, "tickets:read"))
    foreign = key_headers(await key_for(client, other, "tickets:write"))
    missing = assert_problem(await client.post("/tickets", headers=write, json=filing(desk)), 422, "validation_error")
    assert missing["errors"][0]["loc"] == ["body", "requester_email"]
    email = desk.requester.email
    assert_problem(
        await client.post("/tickets", headers=read, json=filing(desk, requester_email=email)), 403, "insufficient_scope"
    )
    assert_problem(
        await client.post("/tickets", headers=foreign, json=filing(desk, requester_email=email)), 404, "not_found"
    )
    attached = filing(desk, requester_email=email, document_ids=[random_id()])
    assert_problem(await client.post("/tickets", headers=write, json=attached), 422, "invalid_document")
    assert (await client.get(f"/organizations/{desk.org.id}/tickets", headers=write)).json()["total"] == 0


async def test_a_read_key_reads_a_ticket_by_id_and_changes_nothing(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    desk = await create_desk(client, session)
    ticket = await open_ticket(client, desk)
    note = await client.post(
        f"/tickets/{ticket['id']}/messages", headers=desk.org.staff.headers, json={"body": "VIP", "internal": True}
    )
    assert note.status_code == 201
    key = key_headers(await key_for(client, desk, "tickets:read"))
    path = f"/tickets/{ticket['id']}"
    read = await client.get(path, headers=key)
    assert read.status_code == 200, read.text
    assert read.json()["id"] == ticket["id"]
    assert "first_response_due_at" in read.json()  # the members' view
    thread = (await client.get(f"{path}/messages", headers=key)).json()["items"]
    assert [m["body"] for m in thread] == ["Where is it?", "VIP"]  # notes included
    assert [e["type"] for e in (await client.get(f"{path}/history", headers=key)).json()["items"]] == [
        "created",
        "note_added",
    ]
    assert (await client.get(f"{path}/sla", headers=key)).status_code == 200
    for method, suffix, body in [
        ("PATCH", "", {"priority": "urgent"}),
        ("POST", "/assign", {"assignee_id": str(desk.org.staff.id)}),
        ("POST", "/status", {"status": "pending"}),
        ("POST", "/messages", {"body": "Hello"}),
    ]:
        response = await client.request(method, f"{path}{suffix}", headers=key, json=body)
        assert_problem(response, 403, "insufficient_scope")
    assert (await client.get(path, headers=desk.org.staff.headers)).json()["priority"] == "normal"


async def test_a_write_key_works_a_ticket_and_the_history_names_it(
    client: httpx.AsyncClient, session: AsyncSession, app: FastAPI
) -> None:
    desk = await create_desk(client, session)
    await client.put(f"/organizations/{desk.org.id}/sla", headers=desk.org.owner.headers, json=SLA)
    ticket = await open_ticket(client, desk)
    key = await key_for(client, desk, "tickets:write")
    headers = key_headers(key)
    path = f"/tickets/{ticket['id']}"
    patched = await client.patch(path, headers=headers, json={"priority": "high", "tags": ["api"]})
    assert patched.status_code == 200, patched.text
    assert patched.json()["tags"] == ["api"]
    assigned = await client.post(f"{path}/assign", headers=headers, json={"assignee_id": str(desk.org.staff.id)})
    assert assigned.status_code == 200, assigned.text
    assert assigned.json()["status"] == "open"
    kinds = [n["kind"] for n in (await client.get("/notifications", headers=desk.org.staff.headers)).json()["items"]]
    assert "ticket_assigned" in kinds
    async with socket(app, desk.requester.access_token) as requester_ws:
        sent = await client.post(f"{path}/messages", headers=headers, json={"body": "We are on it", "client_id": "k1"})
        assert sent.status_code == 201, sent.text
        frame = await receive_until(requester_ws, "message")
        assert frame["message"]["body"] == "We are on it"
        assert frame["message"]["via"] == "api"
    message = sent.json()
    assert (message["via"], message["sender_id"], message["author_email"]) == ("api", str(desk.org.owner.id), None)
    again = await client.post(f"{path}/messages", headers=headers, json={"body": "We are on it", "client_id": "k1"})
    assert again.status_code == 200
    assert again.json()["id"] == message["id"]
    note = await client.post(f"{path}/messages", headers=headers, json={"body": "Check the lamp", "internal": True})
    assert note.status_code == 201, note.text
    requester_view = (await client.get(f"{path}/messages", headers=desk.requester.headers)).json()["items"]
    assert [m["body"] for m in requester_view] == ["Where is it?", "We are on it"]
    assert len(await mails_to(session, desk.requester.email)) == 1  # the reply, not the note
    attached = await client.post(f"{path}/messages", headers=headers, json={"body": "x", "document_ids": [random_id()]})
    assert_problem(attached, 422, "invalid_document")
    solved = await client.post(f"{path}/status", headers=headers, json={"status": "solved", "note": "Fixed"})
    assert solved.status_code == 200, solved.text
    read = (await client.get(path, headers=desk.org.staff.headers)).json()
    assert read["first_responded_at"] is not None
    assert read["status"] == "solved"
    events = await history(client, desk, ticket["id"])
    by_key = [e for e in events if e["api_key_id"] == key["id"]]
    assert [e["type"] for e in by_key] == [
        "priority_changed",
        "tags_changed",
        "assigned",
        "status_changed",
        "replied",
        "note_added",
        "status_changed",
    ]
    assert all(e["actor_id"] is None for e in by_key)
    assert [e["type"] for e in events if e["api_key_id"] is None and e["actor_id"] is None] == [
        "email_queued",
        "email_queued",
    ]


async def test_another_organizations_key_gets_404_on_every_ticket_route(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    desk = await create_desk(client, session)
    other = await create_desk(client, session, name="Town Hall")
    ticket = await open_ticket(client, desk)
    key = key_headers(await key_for(client, other, "tickets:write"))
    path = f"/tickets/{ticket['id']}"
    for method, suffix, body in [
        ("GET", "", None),
        ("PATCH", "", {"priority": "urgent"}),
        ("POST", "/assign", {"assignee_id": None}),
        ("POST", "/status", {"status": "pending"}),
        ("GET", "/messages", None),
        ("POST", "/messages", {"body": "Hello"}),
        ("GET", "/history", None),
        ("GET", "/sla", None),
    ]:
        response = await client.request(method, f"{path}{suffix}", headers=key, json=body)
        assert_problem(response, 404, "not_found")
    assert (await client.get(path, headers=desk.org.staff.headers)).json()["status"] == "new"


async def test_a_keys_reply_needs_a_member_to_stand_in(client: httpx.AsyncClient, session: AsyncSession) -> None:
    desk = await create_desk(client, session)
    ticket = await open_ticket(client, desk)
    key = key_headers(await key_for(client, desk, "tickets:write"))
    # The API never removes the last owner; an organization can still be left without members.
    await session.execute(delete(Membership).where(Membership.organization_id == desk.org.id))
    await session.commit()
    sent = await client.post(f"/tickets/{ticket['id']}/messages", headers=key, json={"body": "Hello"})
    assert_problem(sent, 409, "no_members")
    stranger = await register(client)
    filed = await client.post("/tickets", headers=key, json=filing(desk, requester_email=stranger.email))
    assert filed.status_code == 201  # someone with an account needs no stand-in
