import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.services.appointments.models import Appointment, Status
from app.services.catalog.models import Service
from app.services.notifications.models import Notification
from tests.factories import Org, create_org
from tests.helpers import Account, assert_problem, register
from tests.insights.factories import make_appointment, make_service

START = datetime(2026, 11, 2, 9, tzinfo=UTC)
DONE = [Status.checked_in, Status.in_progress, Status.completed]


async def _visit(
    session: AsyncSession, service: Service, citizen: Account, *, status: Status = Status.completed, day: int = 0
) -> Appointment:
    path = DONE[: DONE.index(status) + 1] if status in DONE else [status]
    starts = START + timedelta(days=day)
    appointment = await make_appointment(
        session,
        service=service,
        citizen_id=citizen.id,
        starts_at=starts,
        timeline=[(s, starts + timedelta(minutes=i)) for i, s in enumerate(path)],
    )
    await session.commit()
    return appointment


async def _setup(client: httpx.AsyncClient, session: AsyncSession) -> tuple[Org, Service, Account]:
    org = await create_org(client, session)
    service = await make_service(session, organization_id=org.id)
    await session.commit()
    return org, service, await register(client)


async def _rate(
    client: httpx.AsyncClient, account: Account, appointment_id: uuid.UUID, **body: object
) -> httpx.Response:
    return await client.post(f"/appointments/{appointment_id}/rating", headers=account.headers, json=body)


async def test_rating_a_completed_visit_once_updates_the_service(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    _, service, citizen = await _setup(client, session)
    appointment = await _visit(session, service, citizen)
    response = await _rate(client, citizen, appointment.id, score=4, comment="  Quick and kind ")
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {
        "id",
        "appointment_id",
        "service_id",
        "organization_id",
        "score",
        "comment",
        "created_at",
        "reply",
    }
    assert (body["score"], body["comment"], body["reply"]) == (4, "Quick and kind", None)
    assert body["appointment_id"] == str(appointment.id)
    assert_problem(await _rate(client, citizen, appointment.id, score=5), 409, "already_rated")
    await session.refresh(service)
    assert (service.rating_count, service.rating_total) == (1, 4)


async def test_rating_rules(client: httpx.AsyncClient, session: AsyncSession) -> None:
    org, service, citizen = await _setup(client, session)
    booked = await _visit(session, service, citizen, status=Status.booked)
    cancelled = await _visit(session, service, citizen, status=Status.cancelled, day=1)
    in_progress = await _visit(session, service, citizen, status=Status.in_progress, day=2)
    for appointment in (booked, cancelled, in_progress):
        assert_problem(await _rate(client, citizen, appointment.id, score=3), 409, "not_completed")
    completed = await _visit(session, service, citizen, day=3)
    stranger = await register(client)
    # Nobody but the citizen may rate: another citizen, the organization's staff, an admin.
    for other in (stranger, org.staff, org.admin):
        assert_problem(await _rate(client, other, completed.id, score=3), 404, "not_found")
    assert_problem(await _rate(client, citizen, uuid.uuid4(), score=3), 404, "not_found")
    for bad in ({"score": 0}, {"score": 6}, {"score": 3, "comment": "x" * 2001}, {"score": 3, "extra": 1}, {}):
        assert_problem(await _rate(client, citizen, completed.id, **bad), 422, "validation_error")
    assert_problem(
        await client.post(f"/appointments/{completed.id}/rating", json={"score": 3}), 401, "not_authenticated"
    )
    ok = await _rate(client, citizen, completed.id, score=5, comment="x" * 2000)
    assert ok.status_code == 201


async def test_concurrent_ratings_of_one_service_keep_count_and_total(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    _, service, _ = await _setup(client, session)
    citizens = [await register(client) for _ in range(8)]
    visits = [await _visit(session, service, c, day=i) for i, c in enumerate(citizens)]
    scores = [1, 2, 3, 4, 5, 5, 4, 3]
    responses = await asyncio.gather(
        *(_rate(client, c, v.id, score=s) for c, v, s in zip(citizens, visits, scores, strict=True))
    )
    assert [r.status_code for r in responses] == [201] * 8
    await session.refresh(service)
    assert (service.rating_count, service.rating_total) == (8, sum(scores))


async def test_concurrent_double_rating_gives_one_conflict(client: httpx.AsyncClient, session: AsyncSession) -> None:
    _, service, citizen = await _setup(client, session)
    appointment = await _visit(session, service, citizen)
    responses = await asyncio.gather(*(_rate(client, citizen, appointment.id, score=5) for _ in range(4)))
    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409]
    await session.refresh(service)
    assert (service.rating_count, service.rating_total) == (1, 5)


async def test_ratings_list_is_public_paged_newest_first_with_reply(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    org, service, citizen = await _setup(client, session)
    ids = []
    for day, score in enumerate((2, 4, 5)):
        appointment = await _visit(session, service, citizen, day=day)
        ids.append((await _rate(client, citizen, appointment.id, score=score)).json()["id"])
    reply = await client.post(
        f"/ratings/{ids[0]}/reply", headers=org.staff.headers, json={"body": "Sorry, we fixed it"}
    )
    assert reply.status_code == 201, reply.text
    page = await client.get(f"/services/{service.id}/ratings", params={"size": 2, "page": 2})
    assert page.status_code == 200
    body = page.json()
    assert (body["total"], body["pages"], len(body["items"])) == (3, 2, 1)
    oldest = body["items"][0]
    assert oldest["id"] == ids[0]
    assert oldest["reply"]["body"] == "Sorry, we fixed it"
    assert oldest["reply"]["created_at"]
    first_page = (await client.get(f"/services/{service.id}/ratings")).json()
    assert [item["id"] for item in first_page["items"]] == [ids[2], ids[1], ids[0]]
    assert "citizen_id" not in first_page["items"][0]
    assert_problem(await client.get(f"/services/{uuid.uuid4()}/ratings"), 404, "not_found")


async def test_reply_once_by_the_organizations_staff(client: httpx.AsyncClient, session: AsyncSession) -> None:
    org, service, citizen = await _setup(client, session)
    other = await create_org(client, session, name="Other Hall")
    appointment = await _visit(session, service, citizen)
    rating_id = (await _rate(client, citizen, appointment.id, score=2)).json()["id"]
    path = f"/ratings/{rating_id}/reply"
    # The rating is public, so an outsider is refused (403), not told it does not exist.
    for outsider in (citizen, other.staff, other.owner):
        assert_problem(await client.post(path, headers=outsider.headers, json={"body": "hi"}), 403, "forbidden")
    assert_problem(
        await client.post(f"/ratings/{uuid.uuid4()}/reply", headers=org.staff.headers, json={"body": "x"}),
        404,
        "not_found",
    )
    assert_problem(await client.post(path, headers=org.staff.headers, json={"body": ""}), 422, "validation_error")
    assert_problem(
        await client.post(path, headers=org.staff.headers, json={"body": "x" * 2001}), 422, "validation_error"
    )
    assert_problem(await client.post(path, json={"body": "x"}), 401, "not_authenticated")
    replies = await asyncio.gather(
        client.post(path, headers=org.staff.headers, json={"body": "Thanks"}),
        client.post(path, headers=org.owner.headers, json={"body": "Thank you"}),
    )
    assert sorted(r.status_code for r in replies) == [201, 409]
    conflict = next(r for r in replies if r.status_code == 409)
    assert_problem(conflict, 409, "already_replied")
    winner = next(r for r in replies if r.status_code == 201).json()
    assert winner["id"] == rating_id
    assert winner["reply"]["body"] in {"Thanks", "Thank you"}
    notes = (await session.scalars(select(Notification).where(Notification.user_id == citizen.id))).all()
    assert [n.kind for n in notes] == ["rating_reply"]
    assert notes[0].data["rating_id"] == rating_id
