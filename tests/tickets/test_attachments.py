"""Ticket attachments: documents uploaded for a ticket (`ticket_id`) or with no link yet (opening a
ticket), attached by `document_ids`; read by the organization's members and, once on a public
message, by the requester; never through a note; nobody else, and nobody's documents but one's own."""

import asyncio
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from tests.apikeys.test_routes import create_key, key_headers
from tests.chat.helpers import assert_nothing_more, receive_until, socket
from tests.documents.files import PDF
from tests.helpers import Account, assert_problem, register
from tests.tickets.helpers import Desk, create_desk, move, open_ticket, random_id


async def upload(client: httpx.AsyncClient, account: Account, **fields: Any) -> httpx.Response:
    data = {name: str(value) for name, value in fields.items()}
    return await client.post(
        "/documents", files={"file": ("scan.pdf", PDF, "application/pdf")}, data=data, headers=account.headers
    )


async def uploaded(client: httpx.AsyncClient, account: Account, **fields: Any) -> str:
    response = await upload(client, account, **fields)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def reply(client: httpx.AsyncClient, ticket_id: str, account: Account, body: str, **extra: Any) -> httpx.Response:
    return await client.post(f"/tickets/{ticket_id}/messages", headers=account.headers, json={"body": body, **extra})


async def reads(client: httpx.AsyncClient, document_id: str, headers: dict[str, str]) -> bool:
    """Whether these credentials read the document: its metadata and its content, or 404 for both."""
    meta = await client.get(f"/documents/{document_id}", headers=headers)
    content = await client.get(f"/documents/{document_id}/content", headers=headers)
    assert meta.status_code == content.status_code, (meta.text, content.status_code)
    if meta.status_code == 404:
        assert_problem(meta, 404, "not_found")
        return False
    assert meta.status_code == 200, meta.text
    assert content.content == PDF
    return True


async def messages(client: httpx.AsyncClient, ticket_id: str, account: Account) -> list[dict[str, Any]]:
    response = await client.get(f"/tickets/{ticket_id}/messages", headers=account.headers)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def test_opening_a_ticket_takes_the_requesters_unlinked_documents_and_members_read_them(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    desk = await create_desk(client, session)
    other = await create_desk(client, session, name="Town Hall")
    stranger = await register(client, full_name="Stan Stranger")
    document_id = await uploaded(client, desk.requester)
    ticket = await open_ticket(client, desk, document_ids=[document_id, document_id])
    [first] = await messages(client, ticket["id"], desk.requester)
    assert first["document_ids"] == [document_id]  # repeats dropped
    meta = (await client.get(f"/documents/{document_id}", headers=desk.requester.headers)).json()
    assert meta["ticket_id"] == ticket["id"]
    assert await reads(client, document_id, desk.org.staff.headers)
    assert await reads(client, document_id, desk.org.owner.headers)
    for outsider in (stranger, other.org.staff, other.requester):
        assert not await reads(client, document_id, outsider.headers)
    # Now the ticket's: another ticket cannot take it, nor anyone's but the caller's.
    body = {"organization_id": str(desk.org.id), "subject": "Again", "description": "Same scan"}
    again = await client.post("/tickets", headers=desk.requester.headers, json={**body, "document_ids": [document_id]})
    assert_problem(again, 422, "invalid_document")
    strangers = await uploaded(client, stranger)
    theirs = await client.post("/tickets", headers=desk.requester.headers, json={**body, "document_ids": [strangers]})
    assert_problem(theirs, 422, "invalid_document")
    unknown = await client.post(
        "/tickets", headers=desk.requester.headers, json={**body, "document_ids": [random_id()]}
    )
    assert_problem(unknown, 422, "invalid_document")
    # A member opening a ticket for someone puts their own documents on its first message.
    member_document = await uploaded(client, desk.org.staff)
    on_behalf = await open_ticket(
        client, desk, by=desk.org.staff, requester_email=desk.requester.email, document_ids=[member_document]
    )
    [first] = await messages(client, on_behalf["id"], desk.requester)
    assert first["sender_id"] == str(desk.requester.id)
    assert first["document_ids"] == [member_document]
    assert await reads(client, member_document, desk.requester.headers)
    # At most 10 documents on a message.
    too_many = [await uploaded(client, desk.requester) for _ in range(11)]
    assert_problem(
        await client.post("/tickets", headers=desk.requester.headers, json={**body, "document_ids": too_many}),
        422,
        "validation_error",
    )


async def test_a_reply_attaches_only_the_callers_documents_uploaded_for_that_ticket(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    desk = await create_desk(client, session)
    ticket = await open_ticket(client, desk)
    elsewhere = await open_ticket(client, desk)
    staff, requester = desk.org.staff, desk.requester
    for_ticket = await uploaded(client, staff, ticket_id=ticket["id"])
    unlinked = await uploaded(client, staff)
    for_elsewhere = await uploaded(client, staff, ticket_id=elsewhere["id"])
    requesters = await uploaded(client, requester, ticket_id=ticket["id"])
    for wrong in (unlinked, for_elsewhere, requesters, random_id()):
        assert_problem(
            await reply(client, ticket["id"], staff, "See attached", document_ids=[wrong]), 422, "invalid_document"
        )
    assert [m["body"] for m in await messages(client, ticket["id"], staff)] == ["Where is it?"]  # nothing stored
    sent = await reply(client, ticket["id"], staff, "See attached", document_ids=[for_ticket])
    assert sent.status_code == 201, sent.text
    assert sent.json()["document_ids"] == [for_ticket]
    assert (await messages(client, ticket["id"], requester))[-1]["document_ids"] == [for_ticket]
    assert await reads(client, for_ticket, requester.headers)
    # The requester attaches their own upload for the ticket; the members read it.
    answer = await reply(client, ticket["id"], requester, "Here is mine", document_ids=[requesters])
    assert answer.status_code == 201, answer.text
    assert await reads(client, requesters, staff.headers)


async def test_documents_only_on_notes_never_reach_the_requester(
    client: httpx.AsyncClient, session: AsyncSession, app: FastAPI
) -> None:
    desk = await create_desk(client, session)
    ticket = await open_ticket(client, desk)
    staff, requester = desk.org.staff, desk.requester
    document_id = await uploaded(client, staff, ticket_id=ticket["id"])
    assert not await reads(client, document_id, requester.headers)  # on no message yet
    assert await reads(client, document_id, desk.org.owner.headers)
    async with (
        socket(app, requester.access_token) as requester_ws,
        socket(app, desk.org.owner.access_token) as member_ws,
    ):
        note = await reply(
            client, ticket["id"], staff, "Forged stamp, see scan", internal=True, document_ids=[document_id]
        )
        assert note.status_code == 201, note.text
        frame = await receive_until(member_ws, "message")
        assert frame["message"]["internal"] is True
        assert frame["message"]["document_ids"] == [document_id]
        await assert_nothing_more(requester_ws)
    assert not await reads(client, document_id, requester.headers)
    assert all(not m["document_ids"] for m in await messages(client, ticket["id"], requester))
    member_view = await messages(client, ticket["id"], staff)
    assert member_view[-1]["document_ids"] == [document_id]
    # The same document on a public reply: now the requester's to read, live and by REST.
    async with socket(app, requester.access_token) as requester_ws:
        public = await reply(client, ticket["id"], staff, "Your scan", document_ids=[document_id])
        assert public.status_code == 201, public.text
        frame = await receive_until(requester_ws, "message")
        assert frame["message"]["document_ids"] == [document_id]
    assert await reads(client, document_id, requester.headers)


async def test_uploading_for_a_ticket_needs_its_requester_or_a_member(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    desk = await create_desk(client, session)
    other = await create_desk(client, session, name="Town Hall")
    ticket = await open_ticket(client, desk)
    for outsider in (other.org.staff, other.requester):
        assert_problem(await upload(client, outsider, ticket_id=ticket["id"]), 422, "invalid_ticket")
    assert_problem(await upload(client, desk.requester, ticket_id=random_id()), 422, "invalid_ticket")
    both = await upload(client, desk.requester, ticket_id=ticket["id"], appointment_id=random_id())
    assert_problem(both, 422, "invalid_ticket")
    assert_problem(await upload(client, desk.requester, ticket_id="not-a-uuid"), 422, "validation_error")
    response = await upload(client, desk.requester, ticket_id=ticket["id"])
    assert response.status_code == 201, response.text
    assert response.json()["ticket_id"] == ticket["id"]
    listed = (await client.get("/documents", headers=desk.requester.headers)).json()["items"]
    assert [d["ticket_id"] for d in listed] == [ticket["id"]]


async def test_the_organizations_document_keys_read_its_tickets_attachments(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    desk: Desk = await create_desk(client, session)
    other = await create_desk(client, session, name="Town Hall")
    ticket = await open_ticket(client, desk)
    document_id = await uploaded(client, desk.requester, ticket_id=ticket["id"])
    own = key_headers(await create_key(client, desk.org.owner, desk.org.id, ["documents:read"]))
    foreign = key_headers(await create_key(client, other.org.owner, other.org.id, ["documents:read"]))
    assert await reads(client, document_id, own)
    assert not await reads(client, document_id, foreign)


async def test_two_tickets_opened_at_once_with_one_document_take_it_once(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    desk = await create_desk(client, session)
    document_id = await uploaded(client, desk.requester)
    body = {
        "organization_id": str(desk.org.id),
        "subject": "Scan",
        "description": "Attached",
        "document_ids": [document_id],
    }
    responses = await asyncio.gather(
        *(client.post("/tickets", headers=desk.requester.headers, json=body) for _ in range(2))
    )
    assert sorted(r.status_code for r in responses) == [201, 422]
    assert_problem(next(r for r in responses if r.status_code == 422), 422, "invalid_document")
    created = next(r for r in responses if r.status_code == 201).json()
    meta = (await client.get(f"/documents/{document_id}", headers=desk.requester.headers)).json()
    assert meta["ticket_id"] == created["id"]
    listed = (await client.get("/tickets", headers=desk.requester.headers)).json()
    assert listed["total"] == 1


async def test_a_closed_tickets_thread_takes_no_attachment(client: httpx.AsyncClient, session: AsyncSession) -> None:
    desk = await create_desk(client, session)
    ticket = await open_ticket(client, desk)
    document_id = await uploaded(client, desk.org.staff, ticket_id=ticket["id"])
    for step in ("solved", "closed"):
        assert (await move(client, ticket["id"], desk.org.staff, step)).status_code == 200
    late = await reply(client, ticket["id"], desk.org.staff, "Late scan", document_ids=[document_id])
    assert_problem(late, 409, "conversation_closed")
