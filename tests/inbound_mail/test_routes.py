"""Inbound e-mail through HTTP: new tickets, threading by subject reference, In-Reply-To and our own
Message-ID, strangers quoting a reference, closed tickets, duplicates, size, attachments, malformed
messages and the secret."""

import uuid
from email.message import EmailMessage
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.services.notifications.models import OutboxEmail
from tests.apikeys.test_routes import create_key
from tests.helpers import assert_problem
from tests.tickets.helpers import Desk, create_desk, move, open_ticket

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


async def secret_of(client: httpx.AsyncClient, desk: Desk) -> str:
    response = await client.post(f"/organizations/{desk.org.id}/inbound-secret", headers=desk.org.owner.headers)
    assert response.status_code == 201, response.text
    return str(response.json()["secret"])


def mail(
    sender: str = "Stan Stranger <stan@example.net>",
    subject: str = "Broken street lamp",
    body: str = "The lamp at the corner is out.",
    *,
    message_id: str | None = None,
    in_reply_to: str | None = None,
    attachments: list[tuple[str, str, bytes]] = (),  # type: ignore[assignment]
) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "desk@cityhall.example"
    message["Subject"] = subject
    message["Message-ID"] = message_id or f"<{uuid.uuid4().hex}@mail.example.net>"
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
    message.set_content(body)
    for filename, content_type, data in attachments:
        maintype, _, subtype = content_type.partition("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return message.as_bytes()


async def send(client: httpx.AsyncClient, secret: str | None, raw: bytes) -> httpx.Response:
    headers = {"Content-Type": "message/rfc822"}
    if secret is not None:
        headers["X-Inbound-Secret"] = secret
    return await client.post("/inbound/email", content=raw, headers=headers)


async def thread(client: httpx.AsyncClient, desk: Desk, ticket_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/tickets/{ticket_id}/messages", headers=desk.org.staff.headers)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def test_the_secret_is_required_and_replaced(client: httpx.AsyncClient, session: AsyncSession) -> None:
    desk = await create_desk(client, session)
    assert_problem(await send(client, None, mail()), 401, "not_authenticated")
    assert_problem(await send(client, "qis_wrong", mail()), 401, "not_authenticated")
    first = await secret_of(client, desk)
    second = await secret_of(client, desk)
    assert_problem(await send(client, first, mail()), 401, "not_authenticated")
    assert (await send(client, second, mail())).status_code == 201
    assert_problem(
        await client.post(f"/organizations/{desk.org.id}/inbound-secret", headers=desk.org.staff.headers),
        403,
        "forbidden",
    )


async def test_a_strangers_mail_opens_a_ticket_and_a_duplicate_is_one_message(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    desk = await create_desk(client, session)
    secret = await secret_of(client, desk)
    raw = mail(message_id="<first@mail.example.net>")
    response = await send(client, secret, raw)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["created"] is True
    ticket = (await client.get(f"/tickets/{body['ticket_id']}", headers=desk.org.staff.headers)).json()
    assert ticket["channel"] == "email"
    assert ticket["requester_email"] == "stan@example.net"
    assert ticket["requester_id"] is None
    assert ticket["subject"] == "Broken street lamp"
    [message] = await thread(client, desk, body["ticket_id"])
    assert message["id"] == body["message_id"]
    assert message["via"] == "email"
    assert message["author_email"] == "stan@example.net"
    assert message["body"].strip() == "The lamp at the corner is out."

    again = await send(client, secret, raw)
    assert again.status_code == 200
    assert again.json() == body
    listed = await client.get(f"/organizations/{desk.org.id}/tickets", headers=desk.org.staff.headers)
    assert listed.json()["total"] == 1

    # A reply by In-Reply-To from the same sender joins the ticket.
    reply = await send(
        client, secret, mail(subject="Re: lamp", body="Still out.", in_reply_to="<first@mail.example.net>")
    )
    assert reply.status_code == 201
    assert reply.json()["ticket_id"] == body["ticket_id"]
    assert reply.json()["created"] is False
    assert len(await thread(client, desk, body["ticket_id"])) == 2


async def test_the_requester_threads_by_reference_and_by_our_message_id(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    desk = await create_desk(client, session)
    secret = await secret_of(client, desk)
    ticket = await open_ticket(client, desk)
    pending = await move(client, ticket["id"], desk.org.staff, "pending")
    assert pending.status_code == 200

    by_subject = await send(
        client,
        secret,
        mail(sender=desk.requester.email, subject=f"Re: My passport [#{ticket['reference']}]", body="Any news?"),
    )
    assert by_subject.status_code == 201, by_subject.text
    assert by_subject.json()["ticket_id"] == ticket["id"]
    read = (await client.get(f"/tickets/{ticket['id']}", headers=desk.org.staff.headers)).json()
    assert read["status"] == "open"  # the requester's reply reopens a pending ticket

    # A member's reply is e-mailed; the answer to that e-mail threads by its Message-ID alone.
    await client.post(f"/tickets/{ticket['id']}/messages", headers=desk.org.staff.headers, json={"body": "Soon."})
    outbox = (await session.scalars(select(OutboxEmail).where(OutboxEmail.to_address == desk.requester.email))).all()
    ours = f"<{outbox[-1].id.hex}@queueless.invalid>"
    by_header = await send(client, secret, mail(sender=desk.requester.email, subject="Re: hello", in_reply_to=ours))
    assert by_header.json()["ticket_id"] == ticket["id"]
    bodies = [m["body"].strip() for m in await thread(client, desk, ticket["id"])]
    assert bodies[-1] == "The lamp at the corner is out."


async def test_a_stranger_quoting_a_reference_gets_a_ticket_of_their_own(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    desk = await create_desk(client, session)
    secret = await secret_of(client, desk)
    ticket = await open_ticket(client, desk)
    response = await send(client, secret, mail(subject=f"Re: [#{ticket['reference']}] me too"))
    assert response.status_code == 201
    assert response.json()["created"] is True
    assert response.json()["ticket_id"] != ticket["id"]
    assert len(await thread(client, desk, ticket["id"])) == 1


async def test_a_reply_to_a_closed_ticket_opens_a_follow_up(client: httpx.AsyncClient, session: AsyncSession) -> None:
    desk = await create_desk(client, session)
    secret = await secret_of(client, desk)
    ticket = await open_ticket(client, desk)
    for status in ("solved", "closed"):
        assert (await move(client, ticket["id"], desk.org.staff, status)).status_code == 200
    response = await send(client, secret, mail(sender=desk.requester.email, subject=f"Re: [#{ticket['reference']}]"))
    assert response.json()["created"] is True
    follow_up = (await client.get(f"/tickets/{response.json()['ticket_id']}", headers=desk.org.staff.headers)).json()
    assert follow_up["follow_up_of"] == ticket["id"]
    assert follow_up["requester_id"] == str(desk.requester.id)


async def test_attachments_of_document_types_become_documents_others_are_refused(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    desk = await create_desk(client, session)
    secret = await secret_of(client, desk)
    raw = mail(
        sender=desk.requester.email,
        attachments=[("photo.png", "image/png", PNG), ("virus.exe", "application/octet-stream", b"MZ\x90\x00rest")],
    )
    response = await send(client, secret, raw)
    assert response.status_code == 201, response.text
    body = response.json()
    [document_id] = body["document_ids"]
    assert body["rejected_attachments"] == [{"filename": "virus.exe", "reason": "unsupported_media_type"}]
    document = await client.get(f"/documents/{document_id}", headers=desk.requester.headers)
    assert document.status_code == 200
    assert document.json()["content_type"] == "image/png"
    content = await client.get(f"/documents/{document_id}/content", headers=desk.requester.headers)
    assert content.content == PNG
    [message] = await thread(client, desk, body["ticket_id"])
    assert message["document_ids"] == [document_id]
    # The ticket's attachment: its members read it too.
    assert document.json()["ticket_id"] == body["ticket_id"]
    staff_read = await client.get(f"/documents/{document_id}/content", headers=desk.org.staff.headers)
    assert staff_read.content == PNG


async def test_too_large_and_malformed_messages(client: httpx.AsyncClient, session: AsyncSession, app: FastAPI) -> None:
    desk = await create_desk(client, session)
    secret = await secret_of(client, desk)
    no_from = b"To: desk@example.org\r\nSubject: hi\r\n\r\nbody\r\n"
    assert_problem(await send(client, secret, no_from), 422, "invalid_message")
    assert_problem(await send(client, secret, b"\x00\x01 not a message"), 422, "invalid_message")
    assert_problem(await send(client, secret, mail(sender="not an address")), 422, "invalid_message")
    settings = app.state.settings
    app.state.settings = settings.model_copy(update={"inbound_max_bytes": 2048})
    try:
        big = mail(body="x" * 5000)
        assert_problem(await send(client, secret, big), 413, "payload_too_large")
    finally:
        app.state.settings = settings
    listed = await client.get(f"/organizations/{desk.org.id}/tickets", headers=desk.org.staff.headers)
    assert listed.json()["total"] == 0


async def send_by_key(client: httpx.AsyncClient, key: str, raw: bytes, **headers: str) -> httpx.Response:
    return await client.post(
        "/inbound/email", content=raw, headers={"Content-Type": "message/rfc822", "X-API-Key": key, **headers}
    )


async def test_an_api_key_with_tickets_write_files_mail_in_its_own_organization(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    desk = await create_desk(client, session)
    other = await create_desk(client, session, name="Town Hall")
    ticket = await open_ticket(client, desk)
    key = (await create_key(client, other.org.owner, other.org.id, ["tickets:write"]))["key"]
    # The key's organization is the ticket's, even when the mail names another organization's ticket.
    response = await send_by_key(
        client, key, mail(sender=desk.requester.email, subject=f"Re: [#{ticket['reference']}]")
    )
    assert response.status_code == 201, response.text
    assert response.json()["created"] is True
    filed = await client.get(f"/tickets/{response.json()['ticket_id']}", headers=other.org.staff.headers)
    assert filed.status_code == 200, filed.text
    assert filed.json()["organization_id"] == str(other.org.id)
    assert filed.json()["channel"] == "email"
    assert len(await thread(client, desk, ticket["id"])) == 1
    assert (await client.get(f"/organizations/{desk.org.id}/tickets", headers=desk.org.staff.headers)).json()[
        "total"
    ] == 1


async def test_inbound_credentials_neither_both_bad_or_without_the_scope_are_refused(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    desk = await create_desk(client, session)
    secret = await secret_of(client, desk)
    writer = (await create_key(client, desk.org.owner, desk.org.id, ["tickets:write"]))["key"]
    reader = (await create_key(client, desk.org.owner, desk.org.id, ["tickets:read", "appointments:write"]))["key"]
    assert_problem(await send(client, None, mail()), 401, "not_authenticated")
    assert_problem(
        await send_by_key(client, writer, mail(), **{"X-Inbound-Secret": secret}), 401, "ambiguous_credentials"
    )
    assert_problem(
        await send_by_key(client, writer, mail(), Authorization=desk.org.owner.headers["Authorization"]),
        401,
        "ambiguous_credentials",
    )
    assert_problem(await send_by_key(client, "qlk_0123456789ab_" + "0" * 64, mail()), 401, "invalid_api_key")
    assert_problem(await send_by_key(client, reader, mail()), 403, "insufficient_scope")
    # A signed-in member is not a mail provider.
    signed_in = {"Content-Type": "message/rfc822", **desk.org.owner.headers}
    assert_problem(await client.post("/inbound/email", content=mail(), headers=signed_in), 401, "not_authenticated")
    listed = await client.get(f"/organizations/{desk.org.id}/tickets", headers=desk.org.staff.headers)
    assert listed.json()["total"] == 0
    assert (await send_by_key(client, writer, mail())).status_code == 201
