"""Conversations and messages over REST: visibility, ordering, idempotency, reads, closing."""

import asyncio

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.services.chat.models import ChatMessage
from tests.chat.helpers import post, start_chat
from tests.factories import ROUND_THE_CLOCK, book_soon, create_org, create_service
from tests.helpers import assert_problem, register


async def test_start_conversation_stores_first_message_and_lists_unread_for_staff(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    chat = await start_chat(client, session, body="  Hello there  ")
    body = chat.conversation
    assert body["status"] == "open"
    assert body["organization_id"] == str(chat.org.id)
    assert body["citizen_id"] == str(chat.citizen.id)
    assert body["last_message"]["body"] == "Hello there"
    assert body["unread_count"] == 0
    staff_list = await client.get("/conversations", headers=chat.org.staff.headers)
    assert staff_list.status_code == 200
    assert staff_list.json()["total"] == 1
    [item] = staff_list.json()["items"]
    assert item["id"] == chat.id
    assert item["unread_count"] == 1
    assert item["last_message"]["id"] == body["last_message"]["id"]


async def test_unread_count_and_last_message_follow_posts_and_reads(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    chat = await start_chat(client, session)
    other = await start_chat(client, session, org=chat.org)
    for n in range(3):
        await post(client, chat.id, chat.citizen, f"more {n}")
    reply = await post(client, other.id, chat.org.staff, "answer")
    listed = {c["id"]: c for c in (await client.get("/conversations", headers=chat.org.staff.headers)).json()["items"]}
    assert listed[chat.id]["unread_count"] == 4
    assert listed[chat.id]["last_message"]["body"] == "more 2"
    assert listed[other.id]["unread_count"] == 0  # staff's own answer came after the citizen's message
    read = await client.post(
        f"/conversations/{chat.id}/read",
        headers=chat.org.staff.headers,
        json={"last_read_message_id": listed[chat.id]["last_message"]["id"] - 1},
    )
    assert read.status_code == 204
    again = await client.get(f"/conversations/{chat.id}", headers=chat.org.staff.headers)
    assert again.json()["unread_count"] == 1
    # A marker never moves back, and cannot pass the last message.
    await client.post(
        f"/conversations/{chat.id}/read", headers=chat.org.staff.headers, json={"last_read_message_id": 1}
    )
    assert (await client.get(f"/conversations/{chat.id}", headers=chat.org.staff.headers)).json()["unread_count"] == 1
    await client.post(
        f"/conversations/{chat.id}/read", headers=chat.org.staff.headers, json={"last_read_message_id": 10**12}
    )
    assert (await client.get(f"/conversations/{chat.id}", headers=chat.org.staff.headers)).json()["unread_count"] == 0
    citizen_view = await client.get(f"/conversations/{other.id}", headers=other.citizen.headers)
    assert citizen_view.json()["unread_count"] == 1
    assert citizen_view.json()["last_message"]["id"] == reply.json()["id"]


async def test_others_get_404_and_see_nothing(client: httpx.AsyncClient, session: AsyncSession) -> None:
    chat = await start_chat(client, session)
    other_org = await create_org(client, session, name="Elsewhere")
    stranger = await register(client)
    for outsider in (stranger, other_org.staff):
        for response in (
            await client.get(f"/conversations/{chat.id}", headers=outsider.headers),
            await client.get(f"/conversations/{chat.id}/messages", headers=outsider.headers),
            await post(client, chat.id, outsider, "hi"),
            await client.post(
                f"/conversations/{chat.id}/read", headers=outsider.headers, json={"last_read_message_id": 1}
            ),
            await client.post(f"/conversations/{chat.id}/close", headers=outsider.headers),
        ):
            assert_problem(response, 404, "not_found")
        listed = await client.get(
            "/conversations", headers=outsider.headers, params={"organization_id": str(chat.org.id)}
        )
        assert listed.json()["items"] == []
    assert (await client.get("/conversations", headers=other_org.staff.headers)).json()["total"] == 0
    assert_problem(await client.get("/conversations"), 401, "not_authenticated")
    count = await session.scalar(select(func.count()).select_from(ChatMessage))
    assert count == 1


async def test_staff_filter_by_organization_and_status(client: httpx.AsyncClient, session: AsyncSession) -> None:
    chat = await start_chat(client, session)
    closed = await start_chat(client, session, org=chat.org)
    other_org = await create_org(client, session, name="Annex")
    await start_chat(client, session, org=other_org)
    assert (await client.post(f"/conversations/{closed.id}/close", headers=closed.citizen.headers)).status_code == 200
    headers = chat.org.owner.headers
    mine = await client.get("/conversations", headers=headers, params={"organization_id": str(chat.org.id)})
    assert {c["id"] for c in mine.json()["items"]} == {chat.id, closed.id}
    open_only = await client.get(
        "/conversations", headers=headers, params={"organization_id": str(chat.org.id), "status": "open"}
    )
    assert [c["id"] for c in open_only.json()["items"]] == [chat.id]
    closed_only = await client.get("/conversations", headers=headers, params={"status": "closed"})
    assert [c["id"] for c in closed_only.json()["items"]] == [closed.id]
    citizen_list = await client.get("/conversations", headers=chat.citizen.headers)
    assert [c["id"] for c in citizen_list.json()["items"]] == [chat.id]


async def test_duplicate_client_id_returns_the_stored_message_with_200(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    chat = await start_chat(client, session)
    first = await post(client, chat.id, chat.citizen, "once", client_id="abc")
    again = await post(client, chat.id, chat.citizen, "once (retry)", client_id="abc")
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json() == first.json()
    assert first.json()["client_id"] == "abc"
    # The same client_id from another sender is another message.
    staff = await post(client, chat.id, chat.org.staff, "mine", client_id="abc")
    assert staff.status_code == 201
    concurrent = await asyncio.gather(*(post(client, chat.id, chat.citizen, "race", client_id="r") for _ in range(5)))
    assert sorted(r.status_code for r in concurrent) == [200, 200, 200, 200, 201]
    assert len({r.json()["id"] for r in concurrent}) == 1


async def test_body_is_trimmed_and_bounded(client: httpx.AsyncClient, session: AsyncSession) -> None:
    chat = await start_chat(client, session)
    ok = await post(client, chat.id, chat.citizen, "  " + "x" * 4000 + "\n")
    assert ok.status_code == 201
    assert ok.json()["body"] == "x" * 4000
    for body in ("   ", "", "y" * 4001):
        assert_problem(await post(client, chat.id, chat.citizen, body), 422, "validation_error")
    assert_problem(
        await post(client, chat.id, chat.citizen, "hi", sender_id=str(chat.org.staff.id)), 422, "validation_error"
    )


async def test_close_then_post_is_409_but_a_resend_still_answers(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    chat = await start_chat(client, session)
    sent = await post(client, chat.id, chat.citizen, "before", client_id="k")
    closed = await client.post(f"/conversations/{chat.id}/close", headers=chat.org.staff.headers)
    assert closed.status_code == 200
    assert closed.json()["status"] == "closed"
    assert closed.json()["closed_at"]
    assert_problem(await post(client, chat.id, chat.citizen, "after"), 409, "conversation_closed")
    assert_problem(await post(client, chat.id, chat.org.staff, "after"), 409, "conversation_closed")
    resend = await post(client, chat.id, chat.citizen, "before", client_id="k")
    assert (resend.status_code, resend.json()) == (200, sent.json())
    twice = await client.post(f"/conversations/{chat.id}/close", headers=chat.citizen.headers)
    assert twice.status_code == 200


async def test_history_pages_by_cursor_in_ascending_order(client: httpx.AsyncClient, session: AsyncSession) -> None:
    chat = await start_chat(client, session, body="m0")
    for n in range(1, 7):
        await post(client, chat.id, chat.citizen, f"m{n}")
    url = f"/conversations/{chat.id}/messages"
    headers = chat.org.staff.headers

    async def page(**params: int) -> tuple[list[str], bool]:
        body = (await client.get(url, headers=headers, params=params)).json()
        return [m["body"] for m in body["items"]], body["has_more"]

    assert await page(limit=3) == (["m4", "m5", "m6"], True)
    latest = (await client.get(url, headers=headers, params={"limit": 3})).json()["items"]
    assert await page(limit=3, before_id=latest[0]["id"]) == (["m1", "m2", "m3"], True)
    ids = [m["id"] for m in (await client.get(url, headers=headers)).json()["items"]]
    assert ids == sorted(ids)
    assert await page(limit=3, before_id=ids[1]) == (["m0"], False)
    assert await page(limit=4, after_id=ids[1]) == (["m2", "m3", "m4", "m5"], True)
    assert await page(limit=10, after_id=ids[4]) == (["m5", "m6"], False)
    assert_problem(await client.get(url, headers=headers, params={"limit": 101}), 422, "validation_error")


async def test_conversation_about_an_appointment_must_be_the_citizens_own(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    org = await create_org(client, session)
    other_org = await create_org(client, session, name="Elsewhere")
    service = await create_service(client, org, weekly=ROUND_THE_CLOCK)
    citizen = await register(client)
    someone = await register(client)
    appointment = await book_soon(client, org, service["id"], citizen)
    theirs = await book_soon(client, org, service["id"], someone)

    async def start(account_headers: dict[str, str], organization_id: str, appointment_id: str) -> httpx.Response:
        return await client.post(
            "/conversations",
            headers=account_headers,
            json={
                "organization_id": organization_id,
                "subject": "About my visit",
                "body": "hi",
                "appointment_id": appointment_id,
            },
        )

    ok = await start(citizen.headers, str(org.id), appointment["id"])
    assert ok.status_code == 201
    assert ok.json()["appointment_id"] == appointment["id"]
    assert_problem(await start(citizen.headers, str(org.id), theirs["id"]), 422, "appointment_not_found")
    assert_problem(await start(citizen.headers, str(other_org.id), appointment["id"]), 422, "appointment_not_found")


async def test_unknown_organization_is_404(client: httpx.AsyncClient) -> None:
    citizen = await register(client)
    response = await client.post(
        "/conversations",
        headers=citizen.headers,
        json={"organization_id": "00000000-0000-0000-0000-000000000000", "subject": "x", "body": "y"},
    )
    assert_problem(response, 404, "not_found")
