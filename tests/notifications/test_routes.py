import uuid

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.services.notifications import service as notifications_service
from app.services.notifications.models import Notification
from tests.helpers import Account, assert_problem, register

FIELDS = {"id", "kind", "title", "body", "data", "read_at", "created_at"}


async def _notify(session: AsyncSession, account: Account, n: int) -> list[uuid.UUID]:
    ids = []
    for i in range(n):
        notification = await notifications_service.notify(
            session, user_id=account.id, kind="test", title=f"T{i}", body=f"B{i}", data={"i": i}
        )
        ids.append(notification.id)
    await session.commit()
    return ids


async def test_list_shows_own_notifications_newest_first_with_contract_fields(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    ada, bob = await register(client), await register(client)
    await _notify(session, ada, 3)
    await _notify(session, bob, 1)
    response = await client.get("/notifications", headers=ada.headers, params={"size": 2})
    assert response.status_code == 200
    body = response.json()
    assert (body["total"], body["page"], body["size"], body["pages"]) == (3, 1, 2, 2)
    assert set(body["items"][0]) == FIELDS
    assert [item["title"] for item in body["items"]] == ["T2", "T1"]
    assert body["items"][0]["data"] == {"i": 2}
    assert body["items"][0]["read_at"] is None


async def test_read_unread_count_and_read_all(client: httpx.AsyncClient, session: AsyncSession) -> None:
    ada = await register(client)
    ids = await _notify(session, ada, 3)
    count = await client.get("/notifications/unread-count", headers=ada.headers)
    assert count.json() == {"count": 3}

    read = await client.post(f"/notifications/{ids[0]}/read", headers=ada.headers)
    assert read.status_code == 204
    first_read_at = (await session.get(Notification, ids[0], populate_existing=True)).read_at  # type: ignore[union-attr]
    assert first_read_at is not None
    again = await client.post(f"/notifications/{ids[0]}/read", headers=ada.headers)
    assert again.status_code == 204
    session.expire_all()
    assert (await session.get(Notification, ids[0])).read_at == first_read_at  # type: ignore[union-attr]

    assert (await client.get("/notifications/unread-count", headers=ada.headers)).json() == {"count": 2}
    unread = (await client.get("/notifications", headers=ada.headers, params={"unread": "true"})).json()
    assert {item["id"] for item in unread["items"]} == {str(ids[1]), str(ids[2])}
    read_only = (await client.get("/notifications", headers=ada.headers, params={"unread": "false"})).json()
    assert [item["id"] for item in read_only["items"]] == [str(ids[0])]

    assert (await client.post("/notifications/read-all", headers=ada.headers)).status_code == 204
    assert (await client.get("/notifications/unread-count", headers=ada.headers)).json() == {"count": 0}


async def test_someone_elses_notification_is_not_found_and_stays_unread(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    ada, bob = await register(client), await register(client)
    (bobs,) = await _notify(session, bob, 1)
    assert_problem(await client.post(f"/notifications/{bobs}/read", headers=ada.headers), 404, "not_found")
    assert_problem(await client.post(f"/notifications/{uuid.uuid4()}/read", headers=ada.headers), 404, "not_found")
    assert (await client.post("/notifications/read-all", headers=ada.headers)).status_code == 204
    stored = await session.scalar(select(Notification.read_at).where(Notification.id == bobs))
    assert stored is None
    assert (await client.get("/notifications/unread-count", headers=bob.headers)).json() == {"count": 1}


async def test_notifications_need_a_token(client: httpx.AsyncClient) -> None:
    for response in (
        await client.get("/notifications"),
        await client.get("/notifications/unread-count"),
        await client.post("/notifications/read-all"),
        await client.post(f"/notifications/{uuid.uuid4()}/read"),
    ):
        assert_problem(response, 401, "not_authenticated")
