"""Booking for a clinic's patient: who may, whose appointment it is, and the same guarantees."""

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import Org, book, create_service, local_slot
from tests.helpers import Account, assert_problem, register
from tests.patients.factories import Clinic, create_clinic, create_patient


@pytest.fixture
async def clinic(client: httpx.AsyncClient, session: AsyncSession) -> Clinic:
    return await create_clinic(client, session)


async def clinic_service(client: httpx.AsyncClient, clinic: Clinic, **options: Any) -> dict[str, Any]:
    org = Org(
        id=clinic.id, timezone=clinic.timezone, admin=clinic.admin, owner=clinic.owner, staff=clinic.staff, body={}
    )
    return await create_service(client, org, **options)


async def test_staff_books_for_a_patient_without_an_account(client: httpx.AsyncClient, clinic: Clinic) -> None:
    service = await clinic_service(client, clinic)
    patient = await create_patient(client, clinic)
    starts_at = local_slot(clinic.timezone)
    response = await book(
        client,
        clinic.staff,
        service["id"],
        starts_at,
        patient_id=patient["id"],
        staff_id=str(clinic.doctor.id),
        reason="Blood pressure check",
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["patient_id"], body["citizen_id"]) == (patient["id"], None)
    assert (body["staff_id"], body["reason"]) == (str(clinic.doctor.id), "Blood pressure check")
    history = await client.get(f"/appointments/{body['id']}/history", headers=clinic.staff.headers)
    assert [(h["from_status"], h["to_status"], h["actor_id"]) for h in history.json()] == [
        (None, "booked", str(clinic.staff.id))
    ]
    # Not the booker's own appointment.
    assert (await client.get("/appointments", headers=clinic.staff.headers)).json()["total"] == 0
    calendar = await client.get(
        f"/organizations/{clinic.id}/appointments", headers=clinic.doctor.headers, params={"staff_id": "me"}
    )
    assert [(a["id"], a["citizen_name"]) for a in calendar.json()["items"]] == [(body["id"], "Pat Patient")]


async def test_booking_for_a_linked_patient_is_theirs(client: httpx.AsyncClient, clinic: Clinic) -> None:
    service = await clinic_service(client, clinic)
    linked = await register(client, full_name="Pat Linked")
    patient = await create_patient(client, clinic, user_id=str(linked.id))
    response = await book(client, clinic.nurse, service["id"], local_slot(clinic.timezone), patient_id=patient["id"])
    assert response.status_code == 201, response.text
    assert response.json()["citizen_id"] == str(linked.id)
    mine = await client.get("/appointments", headers=linked.headers)
    assert [a["id"] for a in mine.json()["items"]] == [response.json()["id"]]
    told = await client.get("/notifications", headers=linked.headers)
    assert [n["kind"] for n in told.json()["items"]] == ["appointment_booked"]
    # The linked account's own booking at its clinic carries its record, with or without patient_id.
    own = await book(client, linked, service["id"], local_slot(clinic.timezone, hour=10))
    assert own.status_code == 201, own.text
    assert own.json()["patient_id"] == patient["id"]
    explicit = await book(client, linked, service["id"], local_slot(clinic.timezone, hour=11), patient_id=patient["id"])
    assert explicit.status_code == 201, explicit.text


async def test_who_may_book_with_a_patient_id(client: httpx.AsyncClient, session: AsyncSession, clinic: Clinic) -> None:
    service = await clinic_service(client, clinic, capacity=10)
    other = await create_clinic(client, session, name="Hillside")
    linked = await register(client)
    patient = await create_patient(client, clinic, user_id=str(linked.id))
    allowed: list[Account] = [*clinic.members.values(), linked]
    for number, account in enumerate(allowed):
        starts_at = local_slot(clinic.timezone, hour=9 + number // 2, minute=30 * (number % 2))
        response = await book(client, account, service["id"], starts_at, patient_id=patient["id"])
        assert response.status_code == 201, response.text
    for outsider in (await register(client), other.owner, other.doctor, clinic.admin):
        response = await book(
            client, outsider, service["id"], local_slot(clinic.timezone, days_ahead=4), patient_id=patient["id"]
        )
        assert_problem(response, 404, "not_found")
    # Another clinic's patient cannot be booked here, even by that clinic's staff.
    theirs = await create_patient(client, other)
    response = await book(client, other.staff, service["id"], local_slot(clinic.timezone), patient_id=theirs["id"])
    assert_problem(response, 404, "not_found")


async def test_archived_patients_cannot_be_booked(client: httpx.AsyncClient, clinic: Clinic) -> None:
    service = await clinic_service(client, clinic)
    linked = await register(client)
    patient = await create_patient(client, clinic, user_id=str(linked.id))
    await client.patch(f"/patients/{patient['id']}", headers=clinic.owner.headers, json={"archived": True})
    starts_at = local_slot(clinic.timezone)
    refused = await book(client, clinic.staff, service["id"], starts_at, patient_id=patient["id"])
    assert_problem(refused, 409, "patient_archived")
    assert_problem(await book(client, linked, service["id"], starts_at), 409, "patient_archived")


async def test_staff_id_must_be_a_member_and_bad_input_is_422(client: httpx.AsyncClient, clinic: Clinic) -> None:
    service = await clinic_service(client, clinic)
    patient = await create_patient(client, clinic)
    stranger = await register(client)
    starts_at = local_slot(clinic.timezone)
    response = await book(
        client, clinic.staff, service["id"], starts_at, patient_id=patient["id"], staff_id=str(stranger.id)
    )
    assert_problem(response, 422, "invalid_staff")
    for extra in ({"reason": "x" * 501}, {"reason": ""}, {"patient_id": "nope"}, {"citizen_id": str(stranger.id)}):
        response = await book(client, clinic.staff, service["id"], starts_at, **extra)
        assert_problem(response, 422, "validation_error")


async def test_a_patients_appointments_never_overlap(client: httpx.AsyncClient, clinic: Clinic) -> None:
    first = await clinic_service(client, clinic)
    second = await clinic_service(client, clinic)
    patient = await create_patient(client, clinic)
    starts_at = local_slot(clinic.timezone)
    assert (await book(client, clinic.staff, first["id"], starts_at, patient_id=patient["id"])).status_code == 201
    again = await book(client, clinic.nurse, second["id"], starts_at, patient_id=patient["id"])
    assert_problem(again, 409, "overlapping_appointment")
    # Another patient at the same time is fine.
    someone = await create_patient(client, clinic, full_name="Someone Else")
    assert (await book(client, clinic.nurse, second["id"], starts_at, patient_id=someone["id"])).status_code == 201


async def test_six_concurrent_staff_bookings_of_the_last_seat_give_one(
    client: httpx.AsyncClient, clinic: Clinic
) -> None:
    service = await clinic_service(client, clinic, capacity=1)
    patients = [await create_patient(client, clinic, full_name=f"Patient {i}") for i in range(6)]
    bookers = list(clinic.members.values())
    starts_at = local_slot(clinic.timezone)
    answers = await asyncio.gather(
        *(
            book(client, bookers[i % len(bookers)], service["id"], starts_at, patient_id=p["id"])
            for i, p in enumerate(patients)
        )
    )
    assert sorted(a.status_code for a in answers) == [201, 409, 409, 409, 409, 409]
    for loser in (a for a in answers if a.status_code == 409):
        assert_problem(loser, 409, "slot_full")
    listed = await client.get(f"/organizations/{clinic.id}/appointments", headers=clinic.owner.headers)
    assert listed.json()["total"] == 1


async def test_staff_list_filters_by_staff_patient_and_dates(client: httpx.AsyncClient, clinic: Clinic) -> None:
    service = await clinic_service(client, clinic, capacity=5)
    ada = await create_patient(client, clinic, full_name="Ada")
    bob = await create_patient(client, clinic, full_name="Bob")
    early = local_slot(clinic.timezone, days_ahead=3)
    late = local_slot(clinic.timezone, days_ahead=5)
    made = [
        (await book(client, clinic.staff, service["id"], when, patient_id=who["id"], staff_id=str(doc.id))).json()
        for when, who, doc in ((early, ada, clinic.doctor), (late, bob, clinic.nurse), (late, ada, clinic.doctor))
    ]
    path = f"/organizations/{clinic.id}/appointments"

    async def ids(account: Account, **params: str) -> list[str]:
        response = await client.get(path, headers=account.headers, params=params)
        assert response.status_code == 200, response.text
        return [a["id"] for a in response.json()["items"]]

    assert await ids(clinic.doctor, staff_id="me") == [made[0]["id"], made[2]["id"]]
    assert await ids(clinic.owner, staff_id=str(clinic.nurse.id)) == [made[1]["id"]]
    assert await ids(clinic.owner, patient_id=bob["id"]) == [made[1]["id"]]
    assert sorted(await ids(clinic.owner, **{"from": late.date().isoformat()})) == sorted(
        [made[1]["id"], made[2]["id"]]
    )
    assert await ids(clinic.owner, to=early.date().isoformat()) == [made[0]["id"]]
