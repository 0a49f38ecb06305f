"""Patients: creation, MRNs, uniqueness, links, search, archive, bad input."""

import asyncio
from datetime import date, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests.helpers import assert_problem, register
from tests.patients.factories import add_member, create_clinic, create_patient


async def test_patient_gets_an_mrn_when_omitted_and_keeps_a_given_one(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    clinic = await create_clinic(client, session)
    first = await create_patient(client, clinic)
    second = await create_patient(client, clinic)
    assert first["mrn"]
    assert second["mrn"]
    assert first["mrn"] != second["mrn"]
    given = await create_patient(client, clinic, mrn="LK-0042", national_id="AB123", sex="female")
    assert given["mrn"] == "LK-0042"
    assert set(given) == {
        "id", "organization_id", "mrn", "national_id", "full_name", "date_of_birth", "sex", "phone", "email",
        "address", "user_id", "assigned_doctor_id", "archived", "created_at", "updated_at",
    }  # fmt: skip
    assert given["archived"] is False
    assert given["organization_id"] == str(clinic.id)


async def test_mrn_and_national_id_are_unique_per_clinic_ignoring_case(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    clinic = await create_clinic(client, session)
    other = await create_clinic(client, session, name="Hillside")
    await create_patient(client, clinic, mrn="abc-1", national_id="xy-9")
    path = f"/organizations/{clinic.id}/patients"
    taken = await client.post(path, headers=clinic.staff.headers, json={"full_name": "B", "mrn": "ABC-1"})
    assert_problem(taken, 409, "mrn_taken")
    taken = await client.post(path, headers=clinic.staff.headers, json={"full_name": "B", "national_id": "XY-9"})
    assert_problem(taken, 409, "national_id_taken")
    # Another clinic may use the same numbers.
    await create_patient(client, other, mrn="ABC-1", national_id="XY-9")


async def test_concurrent_creations_with_one_mrn_give_one_patient(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    clinic = await create_clinic(client, session)
    path = f"/organizations/{clinic.id}/patients"
    answers = await asyncio.gather(
        *(client.post(path, headers=clinic.staff.headers, json={"full_name": f"P{i}", "mrn": "SAME"}) for i in range(5))
    )
    assert sorted(a.status_code for a in answers) == [201, 409, 409, 409, 409]


async def test_a_given_mrn_that_looks_generated_is_skipped_by_the_generator(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    clinic = await create_clinic(client, session)
    first = await create_patient(client, clinic)
    number = int(first["mrn"][1:])
    await create_patient(client, clinic, mrn=f"q{number + 1:07d}")  # the next one, typed by hand
    following = await create_patient(client, clinic)
    assert following["mrn"].lower() != f"q{number + 1:07d}"


async def test_user_link_one_per_clinic_and_unknown_user(client: httpx.AsyncClient, session: AsyncSession) -> None:
    clinic = await create_clinic(client, session)
    citizen = await register(client)
    linked = await create_patient(client, clinic, user_id=str(citizen.id))
    assert linked["user_id"] == str(citizen.id)
    path = f"/organizations/{clinic.id}/patients"
    again = await client.post(path, headers=clinic.staff.headers, json={"full_name": "X", "user_id": str(citizen.id)})
    assert_problem(again, 409, "user_already_linked")
    unknown = await client.post(
        path, headers=clinic.staff.headers, json={"full_name": "X", "user_id": "00000000-0000-4000-8000-000000000001"}
    )
    assert_problem(unknown, 422, "user_not_found")
    mine = await client.get("/patients", headers=citizen.headers)
    assert [p["id"] for p in mine.json()["items"]] == [linked["id"]]


async def test_assigned_doctor_must_be_a_doctor_of_the_clinic(client: httpx.AsyncClient, session: AsyncSession) -> None:
    clinic = await create_clinic(client, session)
    other = await create_clinic(client, session, name="Hillside")
    path = f"/organizations/{clinic.id}/patients"
    for not_a_doctor in (clinic.nurse, clinic.owner, other.doctor):
        response = await client.post(
            path, headers=clinic.staff.headers, json={"full_name": "X", "assigned_doctor_id": str(not_a_doctor.id)}
        )
        assert_problem(response, 422, "invalid_doctor")
    patient = await create_patient(client, clinic, assigned_doctor_id=str(clinic.doctor.id))
    assert patient["assigned_doctor_id"] == str(clinic.doctor.id)
    mine = await client.get(path, headers=clinic.doctor.headers, params={"assigned_to": "me"})
    assert [p["id"] for p in mine.json()["items"]] == [patient["id"]]
    by_id = await client.get(path, headers=clinic.staff.headers, params={"assigned_to": str(clinic.doctor.id)})
    assert [p["id"] for p in by_id.json()["items"]] == [patient["id"]]
    assert (await client.get(path, headers=clinic.nurse.headers, params={"assigned_to": "me"})).json()["total"] == 0


async def test_search_by_name_part_mrn_national_id_and_phone_digits(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    clinic = await create_clinic(client, session)
    ada = await create_patient(
        client, clinic, full_name="Ada Lovelace", mrn="MRN-77", national_id="NID-5", phone="+49 (30) 1234-5678"
    )
    bob = await create_patient(client, clinic, full_name="Bob Lovell", phone="030 999")
    await create_patient(client, clinic, full_name="Carl Other")
    path = f"/organizations/{clinic.id}/patients"

    async def ids(q: str) -> list[str]:
        response = await client.get(path, headers=clinic.staff.headers, params={"q": q})
        assert response.status_code == 200, response.text
        return [p["id"] for p in response.json()["items"]]

    assert await ids("LOVE") == [ada["id"], bob["id"]]  # any part, any case; ordered by name
    assert await ids("mrn-77") == [ada["id"]]
    assert await ids("MRN-77X") == []  # the MRN matches whole only
    assert await ids("MRN-7") == []  # and its digits are not a phone number
    assert await ids("nid-5") == [ada["id"]]
    assert await ids("1234 56") == [ada["id"]]  # digits, any part
    assert await ids("%") == []  # taken literally
    too_long = await client.get(path, headers=clinic.staff.headers, params={"q": "x" * 201})
    assert_problem(too_long, 422, "validation_error")


async def test_archive_drops_from_lists_and_archived_true_lists_only_those(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    clinic = await create_clinic(client, session)
    kept = await create_patient(client, clinic, full_name="Kept")
    gone = await create_patient(client, clinic, full_name="Gone")
    response = await client.patch(f"/patients/{gone['id']}", headers=clinic.manager.headers, json={"archived": True})
    assert response.status_code == 200
    assert response.json()["archived"] is True
    path = f"/organizations/{clinic.id}/patients"
    assert [p["id"] for p in (await client.get(path, headers=clinic.staff.headers)).json()["items"]] == [kept["id"]]
    archived = await client.get(path, headers=clinic.staff.headers, params={"archived": "true"})
    assert [p["id"] for p in archived.json()["items"]] == [gone["id"]]
    assert (await client.delete(f"/patients/{gone['id']}", headers=clinic.owner.headers)).status_code == 405


async def test_patch_changes_demographics_and_refuses_bad_input(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    clinic = await create_clinic(client, session)
    patient = await create_patient(client, clinic)
    path = f"/patients/{patient['id']}"
    changed = await client.patch(path, headers=clinic.staff.headers, json={"phone": "+1 555 0100", "sex": "other"})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["phone"], changed.json()["sex"]) == ("+1 555 0100", "other")
    tomorrow_and_more = (date.today() + timedelta(days=2)).isoformat()
    for bad in (
        {"role": "owner"},
        {"full_name": ""},
        {"full_name": "x" * 201},
        {"address": "x" * 501},
        {"mrn": "x" * 65},
        {"sex": "robot"},
        {"email": "not-an-email"},
        {"date_of_birth": "1899-12-31"},
        {"date_of_birth": tomorrow_and_more},
        {"archived": "maybe"},
    ):
        assert_problem(await client.patch(path, headers=clinic.owner.headers, json=bad), 422, "validation_error")


async def test_clinical_role_is_only_for_clinics_and_not_for_oneself(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    clinic = await create_clinic(client, session)
    admin = clinic.admin
    town = await client.post(
        "/organizations", headers=admin.headers, json={"name": "Town", "kind": "government", "timezone": "UTC"}
    )
    person = await register(client)
    refused = await add_member(client, town.json()["id"], admin, person, "staff", "doctor")
    assert_problem(refused, 422, "not_a_clinic")
    shown = await add_member(client, clinic.id, clinic.owner, person, "staff", "nurse")
    assert shown.status_code == 201
    assert shown.json()["clinical_role"] == "nurse"
    replaced = await add_member(client, clinic.id, clinic.owner, person, "staff", "doctor")
    assert replaced.status_code == 200
    assert replaced.json()["clinical_role"] == "doctor"
    own = await add_member(client, clinic.id, clinic.owner, clinic.owner, "owner", "doctor")
    assert_problem(own, 403, "forbidden")
