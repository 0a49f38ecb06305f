import asyncio
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.services.appointments.models import TRANSITIONS, Appointment, SlotLoad, Status
from tests.factories import ROUND_THE_CLOCK, Org, book, book_soon, create_org, create_service, local_slot
from tests.helpers import Account, assert_problem, register

PATHS = {
    Status.booked: [],
    Status.checked_in: [Status.checked_in],
    Status.in_progress: [Status.checked_in, Status.in_progress],
    Status.completed: [Status.checked_in, Status.in_progress, Status.completed],
    Status.cancelled: [Status.cancelled],
    Status.no_show: [Status.no_show],
}


async def _move(client: httpx.AsyncClient, org: Org, appointment_id: str, to: Status) -> httpx.Response:
    return await client.post(
        f"/appointments/{appointment_id}/status", headers=org.staff.headers, json={"status": to.value, "note": "n"}
    )


async def _appointment_in(
    client: httpx.AsyncClient, session: AsyncSession, status: Status
) -> tuple[Org, dict, Account]:
    org = await create_org(client, session, timezone="UTC")
    service = await create_service(client, org, weekly=ROUND_THE_CLOCK, capacity=1)
    citizen = await register(client)
    appointment = await book_soon(client, org, service["id"], citizen)
    for step in PATHS[status]:
        response = await _move(client, org, appointment["id"], step)
        assert response.status_code == 200, response.text
    return org, appointment, citizen


@pytest.mark.parametrize("source", list(Status))
async def test_transitions_follow_the_status_machine(
    client: httpx.AsyncClient, session: AsyncSession, source: Status
) -> None:
    org, appointment, citizen = await _appointment_in(client, session, source)
    for target in Status:
        if target not in TRANSITIONS[source]:
            assert_problem(await _move(client, org, appointment["id"], target), 409, "invalid_transition")
    history = (await client.get(f"/appointments/{appointment['id']}/history", headers=citizen.headers)).json()
    # One row for the booking and one per move, each with its actor and time.
    assert [h["to_status"] for h in history] == ["booked", *[s.value for s in PATHS[source]]]
    assert all(h["actor_id"] and h["at"] for h in history)
    assert [h["from_status"] for h in history] == [None, *["booked", *[s.value for s in PATHS[source]]][:-1]]
    for target in TRANSITIONS[source]:
        org2, fresh, _ = await _appointment_in(client, session, source)
        response = await _move(client, org2, fresh["id"], target)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == target.value


async def test_check_in_sets_checked_in_at(client: httpx.AsyncClient, session: AsyncSession) -> None:
    org, appointment, _ = await _appointment_in(client, session, Status.checked_in)
    body = (await client.get(f"/appointments/{appointment['id']}", headers=org.staff.headers)).json()
    assert body["checked_in_at"] is not None


async def test_check_in_far_before_the_start_is_checkin_window(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    org = await create_org(client, session)
    service = await create_service(client, org)
    appointment = (
        await book(client, await register(client), service["id"], local_slot(org.timezone, days_ahead=5))
    ).json()
    assert_problem(await _move(client, org, appointment["id"], Status.checked_in), 409, "checkin_window")


@pytest.mark.parametrize("freeing", [Status.cancelled, Status.no_show])
async def test_cancelled_and_no_show_free_their_seat(
    client: httpx.AsyncClient, session: AsyncSession, freeing: Status
) -> None:
    _, appointment, _ = await _appointment_in(client, session, freeing)
    again = await book(
        client, await register(client), appointment["service_id"], datetime.fromisoformat(appointment["starts_at"])
    )
    assert again.status_code == 201, again.text


async def test_owner_cancels_before_start_with_reason(client: httpx.AsyncClient, session: AsyncSession) -> None:
    org = await create_org(client, session)
    service = await create_service(client, org)
    citizen = await register(client)
    appointment = (await book(client, citizen, service["id"], local_slot(org.timezone))).json()
    response = await client.post(
        f"/appointments/{appointment['id']}/cancel", headers=citizen.headers, json={"reason": "ill"}
    )
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    history = (await client.get(f"/appointments/{appointment['id']}/history", headers=citizen.headers)).json()
    assert history[-1]["note"] == "ill"
    again = await client.post(f"/appointments/{appointment['id']}/cancel", headers=citizen.headers, json={})
    assert_problem(again, 409, "invalid_transition")


async def test_owner_cannot_cancel_after_the_start_but_staff_can(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    org = await create_org(client, session)
    service = await create_service(client, org)
    citizen = await register(client)
    appointment = (await book(client, citizen, service["id"], local_slot(org.timezone))).json()
    past = datetime.now(UTC) - timedelta(minutes=5)
    await session.execute(
        update(Appointment)
        .where(Appointment.id == appointment["id"])
        .values(starts_at=past, ends_at=past + timedelta(minutes=30))
    )
    await session.commit()
    assert_problem(
        await client.post(f"/appointments/{appointment['id']}/cancel", headers=citizen.headers, json={}),
        409,
        "too_late",
    )
    staff_cancel = await client.post(f"/appointments/{appointment['id']}/cancel", headers=org.staff.headers, json={})
    assert staff_cancel.status_code == 200


async def test_reschedule_moves_the_seat(client: httpx.AsyncClient, session: AsyncSession) -> None:
    org = await create_org(client, session)
    service = await create_service(client, org, capacity=1)
    citizen = await register(client)
    first, second = local_slot(org.timezone, hour=9), local_slot(org.timezone, hour=10)
    appointment = (await book(client, citizen, service["id"], first)).json()
    response = await client.post(
        f"/appointments/{appointment['id']}/reschedule", headers=citizen.headers, json={"starts_at": second.isoformat()}
    )
    assert response.status_code == 200, response.text
    assert datetime.fromisoformat(response.json()["starts_at"]) == second
    # The old seat is free again and the new one is taken.
    assert (await book(client, await register(client), service["id"], first)).status_code == 201
    assert_problem(await book(client, await register(client), service["id"], second), 409, "slot_full")


async def test_reschedule_into_a_full_slot_changes_nothing(client: httpx.AsyncClient, session: AsyncSession) -> None:
    org = await create_org(client, session)
    service = await create_service(client, org, capacity=1)
    citizen = await register(client)
    mine = (await book(client, citizen, service["id"], local_slot(org.timezone, hour=9))).json()
    await book(client, await register(client), service["id"], local_slot(org.timezone, hour=10))
    response = await client.post(
        f"/appointments/{mine['id']}/reschedule",
        headers=citizen.headers,
        json={"starts_at": local_slot(org.timezone, hour=10).isoformat()},
    )
    assert_problem(response, 409, "slot_full")
    assert (await client.get(f"/appointments/{mine['id']}", headers=citizen.headers)).json()["starts_at"] == mine[
        "starts_at"
    ]


async def test_reschedule_onto_the_citizens_other_appointment_changes_nothing(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    org = await create_org(client, session)
    first, second = await create_service(client, org, capacity=1), await create_service(client, org, capacity=1)
    citizen = await register(client)
    nine, eleven = local_slot(org.timezone, hour=9), local_slot(org.timezone, hour=11)
    mine = (await book(client, citizen, first["id"], nine)).json()
    assert (await book(client, citizen, second["id"], eleven)).status_code == 201
    response = await client.post(
        f"/appointments/{mine['id']}/reschedule", headers=citizen.headers, json={"starts_at": eleven.isoformat()}
    )
    assert_problem(response, 409, "overlapping_appointment")
    assert (await client.get(f"/appointments/{mine['id']}", headers=citizen.headers)).json()["starts_at"] == mine[
        "starts_at"
    ]
    # The seats did not move either: nine is still taken, eleven of the first service still free.
    assert_problem(await book(client, await register(client), first["id"], nine), 409, "slot_full")
    assert (await book(client, await register(client), first["id"], eleven)).status_code == 201


async def test_racing_reschedules_into_the_last_seat_leave_one_winner(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    org = await create_org(client, session)
    service = await create_service(client, org, capacity=1)
    target = local_slot(org.timezone, hour=11)
    racers = []
    for hour in (9, 10):
        citizen = await register(client)
        racers.append(
            (citizen, (await book(client, citizen, service["id"], local_slot(org.timezone, hour=hour))).json())
        )
    responses = await asyncio.gather(
        *(
            client.post(
                f"/appointments/{a['id']}/reschedule", headers=c.headers, json={"starts_at": target.isoformat()}
            )
            for c, a in racers
        )
    )
    assert sorted(r.status_code for r in responses) == [200, 409]
    loser_index = [r.status_code for r in responses].index(409)
    loser_citizen, loser = racers[loser_index]
    kept = (await client.get(f"/appointments/{loser['id']}", headers=loser_citizen.headers)).json()
    assert kept["starts_at"] == loser["starts_at"]
    assert kept["status"] == "booked"
    loads = {
        row.starts_at: row.booked
        for row in await session.scalars(select(SlotLoad).where(SlotLoad.service_id == service["id"]))
    }
    assert loads[target] == 1
    assert sum(loads.values()) == 2


async def test_only_booked_appointments_can_be_rescheduled(client: httpx.AsyncClient, session: AsyncSession) -> None:
    _, appointment, citizen = await _appointment_in(client, session, Status.cancelled)
    response = await client.post(
        f"/appointments/{appointment['id']}/reschedule",
        headers=citizen.headers,
        json={"starts_at": (datetime.fromisoformat(appointment["starts_at"]) + timedelta(minutes=30)).isoformat()},
    )
    assert_problem(response, 409, "invalid_transition")


async def test_assign_to_a_member_only(client: httpx.AsyncClient, session: AsyncSession) -> None:
    org = await create_org(client, session)
    service = await create_service(client, org)
    appointment = (await book(client, await register(client), service["id"], local_slot(org.timezone))).json()
    ok = await client.post(
        f"/appointments/{appointment['id']}/assign", headers=org.owner.headers, json={"staff_id": str(org.staff.id)}
    )
    assert ok.status_code == 200
    assert ok.json()["staff_id"] == str(org.staff.id)
    outsider = await register(client)
    bad = await client.post(
        f"/appointments/{appointment['id']}/assign", headers=org.owner.headers, json={"staff_id": str(outsider.id)}
    )
    assert_problem(bad, 422, "not_a_member")


async def test_crossing_reschedules_do_not_deadlock(client: httpx.AsyncClient, session: AsyncSession) -> None:
    org = await create_org(client, session)
    service = await create_service(client, org, capacity=2)
    one, two = await register(client), await register(client)
    a = (await book(client, one, service["id"], local_slot(org.timezone, hour=9))).json()
    b = (await book(client, two, service["id"], local_slot(org.timezone, hour=10))).json()
    responses = await asyncio.gather(
        client.post(
            f"/appointments/{a['id']}/reschedule",
            headers=one.headers,
            json={"starts_at": local_slot(org.timezone, hour=10).isoformat()},
        ),
        client.post(
            f"/appointments/{b['id']}/reschedule",
            headers=two.headers,
            json={"starts_at": local_slot(org.timezone, hour=9).isoformat()},
        ),
    )
    assert [r.status_code for r in responses] == [200, 200]


async def test_closures_are_bounded_and_expanded_only_over_the_asked_days(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    org = await create_org(client, session)
    service = await create_service(client, org)
    closed = await client.post(
        f"/services/{service['id']}/closures",
        headers=org.owner.headers,
        json={"starts_on": "2000-01-01", "ends_on": "9999-12-31"},
    )
    assert_problem(closed, 422, "validation_error")
    day = local_slot(org.timezone).date()
    longest = await client.post(
        f"/services/{service['id']}/closures",
        headers=org.owner.headers,
        json={"starts_on": (day - timedelta(days=365)).isoformat(), "ends_on": (day + timedelta(days=365)).isoformat()},
    )
    assert longest.status_code == 201
    started = time.perf_counter()
    response = await client.get(
        f"/services/{service['id']}/slots",
        params={"from": day.isoformat(), "to": (day + timedelta(days=30)).isoformat()},
    )
    # Only the asked days are expanded, not the whole closure.
    assert time.perf_counter() - started < 2
    assert response.json() == []


async def test_appointment_keeps_the_first_time_of_each_move(client: httpx.AsyncClient, session: AsyncSession) -> None:
    _, appointment, _ = await _appointment_in(client, session, Status.completed)
    row = await session.get(Appointment, appointment["id"])
    assert row is not None
    assert row.checked_in_at is not None
    assert row.started_at is not None
    assert row.completed_at is not None
    assert row.checked_in_at <= row.started_at <= row.completed_at
    assert row.cancelled_at is None
