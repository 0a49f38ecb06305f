"""The chat socket end to end, in the test's event loop (httpx-ws against the ASGI app)."""

import asyncio
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from httpx_ws import WebSocketDisconnect
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import realtime
from app.core.security import TokenSigner
from app.services.chat import ws as chat_ws
from app.services.chat.models import ChatMessage
from app.services.users.models import User
from tests.chat.helpers import (
    assert_nothing_more,
    close_code,
    connect,
    post,
    receive,
    receive_until,
    settle,
    socket,
    start_chat,
)
from tests.factories import create_org
from tests.helpers import register


async def test_rest_message_arrives_on_staff_and_citizen_sockets(
    client: httpx.AsyncClient, app: FastAPI, session: AsyncSession
) -> None:
    chat = await start_chat(client, session)
    async with socket(app, chat.org.staff.access_token) as staff, socket(app, chat.citizen.access_token) as citizen:
        response = await post(client, chat.id, chat.citizen, "  Any news?  ")
        assert response.status_code == 201
        for ws in (staff, citizen):
            frame = await receive_until(ws, "message")
            assert frame["message"] == response.json()
            assert frame["message"]["body"] == "Any news?"


async def test_socket_message_is_acked_and_reaches_the_citizen(
    client: httpx.AsyncClient, app: FastAPI, session: AsyncSession
) -> None:
    chat = await start_chat(client, session)
    async with socket(app, chat.org.staff.access_token) as staff, socket(app, chat.citizen.access_token) as citizen:
        await staff.send_json(
            {"type": "send", "conversation_id": chat.id, "body": "Ready tomorrow.", "client_id": "c1"}
        )
        frames = [await receive(staff), await receive(staff)]
        ack = next(f for f in frames if f["type"] == "ack")
        assert ack["client_id"] == "c1"
        assert ack["message"]["body"] == "Ready tomorrow."
        assert ack["message"]["sender_id"] == str(chat.org.staff.id)
        assert any(f["type"] == "message" and f["message"] == ack["message"] for f in frames)
        delivered = await receive_until(citizen, "message")
        assert delivered["message"] == ack["message"]
    history = await client.get(f"/conversations/{chat.id}/messages", headers=chat.citizen.headers)
    assert [m["body"] for m in history.json()["items"]] == ["Hello, is my passport ready?", "Ready tomorrow."]


async def test_socket_resend_with_same_client_id_acks_the_stored_message_once(
    client: httpx.AsyncClient, app: FastAPI, session: AsyncSession
) -> None:
    chat = await start_chat(client, session)
    frame = {"type": "send", "conversation_id": chat.id, "body": "once", "client_id": "dup-1"}
    async with socket(app, chat.org.staff.access_token) as staff, socket(app, chat.citizen.access_token) as citizen:
        await citizen.send_json(frame)
        first = await receive_until(citizen, "ack")
        await citizen.send_json(frame)
        second = await receive_until(citizen, "ack")
        assert second["message"] == first["message"]
        assert (await receive_until(staff, "message"))["message"]["id"] == first["message"]["id"]
        await assert_nothing_more(staff)  # no second message frame
    count = await session.scalar(select(func.count()).select_from(ChatMessage).where(ChatMessage.client_id == "dup-1"))
    assert count == 1


async def test_first_frame_auth_works(client: httpx.AsyncClient, app: FastAPI, session: AsyncSession) -> None:
    chat = await start_chat(client, session)
    async with connect(app) as ws:
        await ws.send_json({"type": "auth", "token": chat.org.staff.access_token})
        await settle(ws)
        await post(client, chat.id, chat.citizen, "hi")
        assert (await receive_until(ws, "message"))["message"]["body"] == "hi"


@pytest.mark.parametrize("how", ["query", "first-frame", "garbage-first-frame"])
async def test_bad_token_closes_4401(app: FastAPI, how: str) -> None:
    query = "?token=not.a.jwt" if how == "query" else ""
    async with connect(app, query) as ws:
        if how == "first-frame":
            await ws.send_json({"type": "auth", "token": "not.a.jwt"})
        elif how == "garbage-first-frame":
            await ws.send_text("hello")
        assert await close_code(ws) == 4401


async def test_expired_token_closes_4401(app: FastAPI, client: httpx.AsyncClient) -> None:
    account = await register(client)
    signer: TokenSigner = app.state.signer
    expired = TokenSigner(
        secret_key=signer.secret_key, issuer=signer.issuer, audience=signer.audience, access_ttl=timedelta(seconds=-1)
    ).issue_access(user_id=account.id, session_id=account.id)
    async with connect(app, f"?token={expired}") as ws:
        assert await close_code(ws) == 4401


async def test_logged_out_token_closes_4401(client: httpx.AsyncClient, app: FastAPI) -> None:
    account = await register(client)
    await client.post("/auth/logout", json={"refresh_token": account.refresh_token})
    async with connect(app, f"?token={account.access_token}") as ws:
        assert await close_code(ws) == 4401


async def test_deactivated_account_closes_4403(client: httpx.AsyncClient, app: FastAPI, session: AsyncSession) -> None:
    account = await register(client)
    await session.execute(update(User).where(User.id == account.id).values(is_active=False))
    await session.commit()
    async with connect(app, f"?token={account.access_token}") as ws:
        assert await close_code(ws) == 4403


async def test_foreign_origin_is_refused_at_the_handshake(client: httpx.AsyncClient, app: FastAPI) -> None:
    account = await register(client)
    query = f"?token={account.access_token}"
    # Closed before accept: a real server answers the handshake 403 (see test_processes); the
    # in-process transport reports the close code.
    with pytest.raises(BaseException) as refused:  # noqa: PT011
        async with connect(app, query, headers={"Origin": "https://evil.example"}):
            pass
    error = refused.value
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    assert isinstance(error, WebSocketDisconnect)
    assert error.code == 1008
    async with connect(app, query, headers={"Origin": "http://test"}) as ws:  # the API's own origin
        await settle(ws)


async def test_strangers_socket_receives_nothing(
    client: httpx.AsyncClient, app: FastAPI, session: AsyncSession
) -> None:
    chat = await start_chat(client, session)
    other_org = await create_org(client, session, name="Other Hall")
    stranger = await register(client)
    async with (
        socket(app, chat.org.staff.access_token) as staff,
        socket(app, stranger.access_token) as outsider,
        socket(app, other_org.staff.access_token) as other_staff,
    ):
        await post(client, chat.id, chat.citizen, "private")
        await receive_until(staff, "message")  # delivered here, so it was dispatched to every socket
        await outsider.send_json({"type": "send", "conversation_id": chat.id, "body": "let me in", "client_id": "x"})
        error = await receive(outsider)
        assert error == {"type": "error", "code": "not_found", "detail": "No such conversation.", "client_id": "x"}
        await outsider.send_json({"type": "resume", "conversation_id": chat.id, "after_id": 0})
        assert (await receive(outsider))["code"] == "not_found"
        await other_staff.send_json({"type": "read", "conversation_id": chat.id, "last_read_message_id": 99})
        assert (await receive(other_staff))["code"] == "not_found"
        await assert_nothing_more(outsider)
        await assert_nothing_more(other_staff)


async def test_resume_after_reconnect_gives_exactly_the_missed_messages_in_order(
    client: httpx.AsyncClient, app: FastAPI, session: AsyncSession
) -> None:
    chat = await start_chat(client, session)
    last_seen = chat.conversation["last_message"]["id"]
    async with socket(app, chat.org.staff.access_token):
        pass  # disconnected
    missed = [(await post(client, chat.id, chat.citizen, f"missed {n}")).json() for n in range(3)]
    async with socket(app, chat.org.staff.access_token) as staff:
        await staff.send_json({"type": "resume", "conversation_id": chat.id, "after_id": last_seen})
        frames = [await receive(staff) for _ in range(3)]
        assert frames == [{"type": "message", "message": m} for m in missed]
        await assert_nothing_more(staff)
        # A live message after the resume still arrives, once.
        live = (await post(client, chat.id, chat.citizen, "live")).json()
        assert await receive(staff) == {"type": "message", "message": live}
        await assert_nothing_more(staff)


async def test_read_receipts_reach_the_other_side_live(
    client: httpx.AsyncClient, app: FastAPI, session: AsyncSession
) -> None:
    chat = await start_chat(client, session)
    first_id = chat.conversation["last_message"]["id"]
    async with socket(app, chat.org.staff.access_token) as staff, socket(app, chat.citizen.access_token) as citizen:
        response = await client.post(
            f"/conversations/{chat.id}/read", headers=chat.org.staff.headers, json={"last_read_message_id": first_id}
        )
        assert response.status_code == 204
        frame = await receive_until(citizen, "read")
        assert frame == {
            "type": "read",
            "conversation_id": chat.id,
            "user_id": str(chat.org.staff.id),
            "last_read_message_id": first_id,
        }
        reply = (await post(client, chat.id, chat.org.staff, "On it")).json()
        await receive_until(citizen, "message")
        await citizen.send_json({"type": "read", "conversation_id": chat.id, "last_read_message_id": reply["id"]})
        own = await receive_until(staff, "read")  # the staff member's own read, on their other devices too
        assert own["user_id"] == str(chat.org.staff.id)
        frame = await receive_until(staff, "read")
        assert frame["user_id"] == str(chat.citizen.id)
        assert frame["last_read_message_id"] == reply["id"]


async def test_malformed_and_unknown_frames_get_invalid_frame_and_keep_the_connection(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    account = await register(client)
    async with socket(app, account.access_token) as ws:
        for bad in ("{not json", '"a string"', '{"type": "dance"}', '{"type": "send", "body": "no conversation"}'):
            await ws.send_text(bad)
            frame = await receive(ws)
            assert frame["type"] == "error"
            assert frame["code"] == "invalid_frame"
            assert frame["detail"]
        await ws.send_bytes(b"\x00binary")
        assert (await receive(ws))["code"] == "invalid_frame"
        await settle(ws)  # still open


async def test_send_errors_body_too_long_empty_and_closed(
    client: httpx.AsyncClient, app: FastAPI, session: AsyncSession
) -> None:
    chat = await start_chat(client, session)
    async with socket(app, chat.citizen.access_token) as ws:
        send = {"type": "send", "conversation_id": chat.id}
        for length in (4001, 20_000):  # any body a frame can carry
            await ws.send_json({**send, "body": "x" * length, "client_id": "long"})
            assert (await receive(ws))["code"] == "body_too_long"
        await ws.send_json({**send, "body": "   ", "client_id": "empty"})
        assert (await receive(ws))["code"] == "invalid_frame"
        closed = await client.post(f"/conversations/{chat.id}/close", headers=chat.org.staff.headers)
        assert closed.status_code == 200
        await ws.send_json({**send, "body": "hello?", "client_id": "late"})
        error = await receive(ws)
        assert (error["code"], error["client_id"]) == ("conversation_closed", "late")


async def test_too_many_frames_are_rate_limited_then_closed(
    client: httpx.AsyncClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chat_ws, "BURST", 3.0)
    monkeypatch.setattr(chat_ws, "RATE_PER_SECOND", 0.001)
    monkeypatch.setattr(chat_ws, "STRIKES", 2)
    account = await register(client)
    async with connect(app, f"?token={account.access_token}") as ws:
        for _ in range(3):
            await ws.send_text('{"type":"ping"}')
            assert await receive(ws) == {"type": "pong"}
        for _ in range(2):
            await ws.send_text('{"type":"ping"}')
            assert (await receive(ws))["code"] == "rate_limited"
        await ws.send_text('{"type":"ping"}')
        assert await close_code(ws) == 1008


async def test_oversized_frame_closes_1009(client: httpx.AsyncClient, app: FastAPI) -> None:
    account = await register(client)
    async with socket(app, account.access_token) as ws:
        await ws.send_text('{"type":"ping","pad":"' + "x" * (chat_ws.MAX_FRAME_BYTES + 10) + '"}')
        assert await close_code(ws) == 1009


async def test_recipient_with_open_socket_gets_no_notification_offline_one_does(
    client: httpx.AsyncClient, app: FastAPI, session: AsyncSession
) -> None:
    chat = await start_chat(client, session)
    async with socket(app, chat.org.staff.access_token) as staff:
        await post(client, chat.id, chat.citizen, "are you there?")
        await receive_until(staff, "message")
        await asyncio.sleep(0)
    staff_notes = await client.get("/notifications", headers=chat.org.staff.headers)
    owner_notes = await client.get("/notifications", headers=chat.org.owner.headers)
    assert [n["kind"] for n in staff_notes.json()["items"]] == ["chat_message"]  # the first, before the socket
    owner_kinds = [n["kind"] for n in owner_notes.json()["items"]]
    assert owner_kinds == ["chat_message", "chat_message"]
    assert owner_notes.json()["items"][0]["data"]["conversation_id"] == chat.id


async def test_long_multibyte_body_travels_apart_over_socket_and_rest(
    client: httpx.AsyncClient, app: FastAPI, session: AsyncSession
) -> None:
    # 4,000 three-byte characters: too big for an inline notification, so the one-statement send
    # stores nothing and the message goes through the step-by-step path (and the stored-frame relay).
    body = "€" * 4000
    chat = await start_chat(client, session)
    async with socket(app, chat.org.staff.access_token) as staff, socket(app, chat.citizen.access_token) as citizen:
        await citizen.send_json({"type": "send", "conversation_id": chat.id, "body": body, "client_id": "long-1"})
        ack = await receive_until(citizen, "ack")
        assert ack["message"]["body"] == body
        assert (await receive_until(staff, "message"))["message"] == ack["message"]
        response = await post(client, chat.id, chat.org.staff, body, client_id="long-2")
        assert response.status_code == 201
        own = await receive_until(citizen, "message")  # the citizen's own message comes back first
        assert own["message"] == ack["message"]
        assert (await receive_until(citizen, "message"))["message"] == response.json()
    count = await session.scalar(select(func.count()).select_from(ChatMessage).where(ChatMessage.body == body))
    assert count == 2


async def test_send_after_logout_closes_4401_and_stores_nothing(
    client: httpx.AsyncClient, app: FastAPI, session: AsyncSession
) -> None:
    chat = await start_chat(client, session)
    async with socket(app, chat.citizen.access_token) as citizen:
        await client.post("/auth/logout", json={"refresh_token": chat.citizen.refresh_token})
        await citizen.send_json({"type": "send", "conversation_id": chat.id, "body": "late", "client_id": "late-1"})
        assert await close_code(citizen) == 4401
    assert await session.scalar(select(func.count()).where(ChatMessage.client_id == "late-1")) == 0


async def test_idle_sockets_are_closed_by_the_login_audit(
    client: httpx.AsyncClient, app: FastAPI, session: AsyncSession
) -> None:
    chat = await start_chat(client, session)
    hub = realtime.get_hub(app)
    async with socket(app, chat.citizen.access_token) as citizen, socket(app, chat.org.staff.access_token) as staff:
        await chat_ws.audit_logins(hub)  # everyone still signed in: nothing happens
        await assert_nothing_more(citizen)
        await client.post("/auth/logout", json={"refresh_token": chat.citizen.refresh_token})
        await session.execute(update(User).where(User.id == chat.org.staff.id).values(is_active=False))
        await session.commit()
        await chat_ws.audit_logins(hub)  # what the hub runs every realtime.AUDIT_SECONDS
        assert await close_code(citizen) == 4401
        assert await close_code(staff) == 4403


async def test_a_message_sent_over_a_socket_notifies_the_offline_participants(
    client: httpx.AsyncClient, app: FastAPI, session: AsyncSession
) -> None:
    """The one-statement send stores the offline notifications with the message (one commit)."""
    chat = await start_chat(client, session)
    async with socket(app, chat.citizen.access_token) as citizen:
        await citizen.send_json({"type": "send", "conversation_id": chat.id, "body": "hello there", "client_id": "n-1"})
        ack = await receive_until(citizen, "ack")
    for staff in (chat.org.staff, chat.org.owner):
        items = (await client.get("/notifications", headers=staff.headers)).json()["items"]
        socket_sent = [n for n in items if n["data"].get("message_id") == ack["message"]["id"]]
        assert len(socket_sent) == 1
        note = socket_sent[0]
        assert note["kind"] == "chat_message"
        assert note["title"].startswith("New message: ")
        assert note["body"] == "hello there"
        assert note["data"] == {"conversation_id": chat.id, "message_id": ack["message"]["id"]}
    citizen_items = (await client.get("/notifications", headers=chat.citizen.headers)).json()["items"]
    assert not [n for n in citizen_items if n["data"].get("message_id") == ack["message"]["id"]]


async def test_a_socket_message_whose_notifications_fail_is_not_stored(
    client: httpx.AsyncClient, app: FastAPI, session: AsyncSession
) -> None:
    """Both or neither: a failure to store the offline notifications undoes the message too."""
    chat = await start_chat(client, session)
    await session.execute(
        text(
            "CREATE FUNCTION refuse_notifications() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'refused'; END $$"
        )
    )
    await session.execute(
        text(
            "CREATE TRIGGER refuse_notifications BEFORE INSERT ON notifications "
            "FOR EACH ROW EXECUTE FUNCTION refuse_notifications()"
        )
    )
    await session.commit()
    try:
        async with socket(app, chat.citizen.access_token) as citizen:
            await citizen.send_json({"type": "send", "conversation_id": chat.id, "body": "lost?", "client_id": "f-1"})
            assert (await receive_until(citizen, "error"))["code"] == "internal_error"
    finally:
        await session.execute(text("DROP TRIGGER refuse_notifications ON notifications"))
        await session.execute(text("DROP FUNCTION refuse_notifications()"))
        await session.commit()
    stored = await session.scalar(select(func.count()).select_from(ChatMessage).where(ChatMessage.client_id == "f-1"))
    assert stored == 0
