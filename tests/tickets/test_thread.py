"""The ticket's thread: replies and their effects, internal notes on every channel, the reopen window."""

from datetime import datetime, timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from tests.chat.helpers import assert_nothing_more, receive_until, socket
from tests.helpers import assert_problem
from tests.tickets.helpers import Clock, create_desk, move, open_ticket


async def reply(
    client: httpx.AsyncClient, ticket_id: str, headers: dict[str, str], body: str, **extra: object
) -> httpx.Response:
    return await client.post(f"/tickets/{ticket_id}/messages", headers=headers, json={"body": body, **extra})


async def test_internal_note_never_reaches_the_requester_while_a_member_socket_gets_it(
    client: httpx.AsyncClient, session: AsyncSession, app: FastAPI
) -> None:
    desk = await create_desk(client, session)
    ticket = await open_ticket(client, desk)
    staff, requester = desk.org.staff, desk.requester
    async with (
        socket(app, requester.access_token) as requester_ws,
        socket(app, desk.org.owner.access_token) as member_ws,
    ):
        note = await reply(client, ticket["id"], staff.headers, "Looks like a fraud attempt", internal=True)
        assert note.status_code == 201, note.text
        assert note.json()["internal"] is True
        frame = await receive_until(member_ws, "message")
        assert frame["message"]["body"] == "Looks like a fraud attempt"
        assert frame["message"]["internal"] is True
        public = await reply(client, ticket["id"], staff.headers, "We are on it")
        assert public.status_code == 201
        # The requester's socket gets the public reply and nothing of the note.
        got = await receive_until(requester_ws, "message")
        assert got["message"]["body"] == "We are on it"
        assert got["message"]["internal"] is False  # the note, sent first, never came
    for path in (f"/tickets/{ticket['id']}/messages", f"/conversations/{ticket['conversation_id']}/messages"):
        seen = (await client.get(path, headers=requester.headers)).json()["items"]
        assert [m["body"] for m in seen] == ["Where is it?", "We are on it"]
        member_seen = (await client.get(path, headers=staff.headers)).json()["items"]
        assert [m["body"] for m in member_seen] == ["Where is it?", "Looks like a fraud attempt", "We are on it"]
    # Resuming after the first message skips the note too.
    after = await client.get(
        f"/tickets/{ticket['id']}/messages", headers=requester.headers, params={"after_id": seen[0]["id"]}
    )
    assert [m["body"] for m in after.json()["items"]] == ["We are on it"]
    conversation = (await client.get(f"/conversations/{ticket['conversation_id']}", headers=requester.headers)).json()
    assert conversation["unread_count"] == 1
    assert conversation["last_message"]["body"] == "We are on it"
    kinds = [n["kind"] for n in (await client.get("/notifications", headers=requester.headers)).json()["items"]]
    notes = [
        n
        for n in (await client.get("/notifications", headers=requester.headers)).json()["items"]
        if "fraud" in n["body"]
    ]
    assert notes == []
    assert "ticket_reply" in kinds


async def test_note_on_the_requester_socket_is_not_delivered(
    client: httpx.AsyncClient, session: AsyncSession, app: FastAPI
) -> None:
    desk = await create_desk(client, session)
    ticket = await open_ticket(client, desk)
    async with socket(app, desk.requester.access_token) as requester_ws:
        note = await reply(client, ticket["id"], desk.org.staff.headers, "internal only", internal=True)
        assert note.status_code == 201
        await assert_nothing_more(requester_ws)


async def test_only_members_write_notes_and_notes_change_nothing(
    client: httpx.AsyncClient, session: AsyncSession, clock: Clock
) -> None:
    desk = await create_desk(client, session)
    await client.put(
        f"/organizations/{desk.org.id}/sla",
        headers=desk.org.owner.headers,
        json={"policies": [{"priority": "normal", "first_response_minutes": 60, "resolution_minutes": 240}]},
    )
    ticket = await open_ticket(client, desk)
    assert_problem(await reply(client, ticket["id"], desk.requester.headers, "sneaky", internal=True), 403, "forbidden")
    await reply(client, ticket["id"], desk.org.staff.headers, "a note", internal=True)
    read = (await client.get(f"/tickets/{ticket['id']}", headers=desk.org.staff.headers)).json()
    assert read["status"] == "new"
    assert read["first_responded_at"] is None
    assert read["first_response_due_at"] is not None
    history = (await client.get(f"/tickets/{ticket['id']}/history", headers=desk.org.staff.headers)).json()["items"]
    assert [e["type"] for e in history] == ["created", "note_added"]


async def test_member_reply_is_the_first_response_and_opens_the_ticket(
    client: httpx.AsyncClient, session: AsyncSession, clock: Clock
) -> None:
    desk = await create_desk(client, session)
    await client.put(
        f"/organizations/{desk.org.id}/sla",
        headers=desk.org.owner.headers,
        json={"policies": [{"priority": "normal", "first_response_minutes": 60, "resolution_minutes": 240}]},
    )
    on_time = await open_ticket(client, desk)
    late = await open_ticket(client, desk)
    clock.advance(minutes=30)
    first = await reply(client, on_time["id"], desk.org.staff.headers, "Hello", client_id="c1")
    assert first.status_code == 201
    again = await reply(client, on_time["id"], desk.org.staff.headers, "Hello", client_id="c1")
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    read = (await client.get(f"/tickets/{on_time['id']}", headers=desk.org.staff.headers)).json()
    assert read["status"] == "open"
    assert datetime.fromisoformat(read["first_responded_at"]) == clock.now
    assert read["first_response_due_at"] is None
    assert read["first_response_breached"] is False
    history = (await client.get(f"/tickets/{on_time['id']}/history", headers=desk.org.staff.headers)).json()["items"]
    assert [e["type"] for e in history] == ["created", "replied", "status_changed", "email_queued"]
    assert history[1]["data"] == {"message_id": first.json()["id"]}
    assert history[3]["data"] == {"template": "ticket_reply", "to": desk.requester.email}
    clock.advance(minutes=31)  # 61 minutes: the late ticket's first response is met late
    await reply(client, late["id"], desk.org.staff.headers, "Sorry for the wait")
    late_read = (await client.get(f"/tickets/{late['id']}", headers=desk.org.staff.headers)).json()
    assert late_read["first_response_breached"] is True
    explained = (await client.get(f"/tickets/{late['id']}/sla", headers=desk.org.staff.headers)).json()
    assert explained["first_response"]["breached"] is True
    assert explained["first_response"]["met_at"] is not None


async def test_requester_reply_reopens_pending_and_on_hold(client: httpx.AsyncClient, session: AsyncSession) -> None:
    desk = await create_desk(client, session)
    for status in ("pending", "on_hold"):
        ticket = await open_ticket(client, desk)
        await move(client, ticket["id"], desk.org.staff, status)
        assert (await reply(client, ticket["id"], desk.requester.headers, "Here it is")).status_code == 201
        read = (await client.get(f"/tickets/{ticket['id']}", headers=desk.requester.headers)).json()
        assert read["status"] == "open"


async def test_reopen_window_edges(
    client: httpx.AsyncClient, session: AsyncSession, clock: Clock, app: FastAPI
) -> None:
    desk = await create_desk(client, session)
    days = app.state.settings.ticket_reopen_days
    inside, outside = await open_ticket(client, desk), await open_ticket(client, desk)
    for ticket in (inside, outside):
        assert (await move(client, ticket["id"], desk.org.staff, "solved")).status_code == 200
    solved_at = clock.now
    clock.now = solved_at + timedelta(days=days) - timedelta(seconds=1)
    assert (await reply(client, inside["id"], desk.requester.headers, "Still broken")).status_code == 201
    read = (await client.get(f"/tickets/{inside['id']}", headers=desk.requester.headers)).json()
    assert read["status"] == "open"
    assert read["solved_at"] is None
    clock.now = solved_at + timedelta(days=days)
    assert_problem(await reply(client, outside["id"], desk.requester.headers, "Too late?"), 409, "conversation_closed")
    read = (await client.get(f"/tickets/{outside['id']}", headers=desk.requester.headers)).json()
    assert read["status"] == "solved"
    # A member's reply to a solved ticket does not reopen it.
    assert (await reply(client, outside["id"], desk.org.staff.headers, "Please open a new ticket")).status_code == 201
    assert (await client.get(f"/tickets/{outside['id']}", headers=desk.org.staff.headers)).json()["status"] == "solved"
    await move(client, outside["id"], desk.org.staff, "closed")
    assert_problem(await reply(client, outside["id"], desk.org.staff.headers, "x"), 409, "conversation_closed")
