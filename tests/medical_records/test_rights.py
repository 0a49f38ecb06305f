"""The contract's rights table, cell by cell, for every kind of caller.

Members lacking a right get 403; the patient's linked account gets 403 for what its own record
does not allow it; everyone else (citizens, other clinics' members, platform admins) gets 404.
"""

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.helpers import Account, assert_problem, register
from tests.patients.factories import SAMPLE_DATA, Clinic, add_entry, add_member, create_clinic, create_patient, entry

MEMBERS = ("owner", "manager", "staff", "nurse", "doctor")
OUTSIDERS = ("citizen", "other_owner", "other_doctor", "admin")


@dataclass
class World:
    clinic: Clinic
    other: Clinic
    linked: Account
    citizen: Account
    patient: dict[str, Any]
    note: dict[str, Any]
    secret: dict[str, Any]

    @property
    def actors(self) -> dict[str, Account]:
        return {
            **self.clinic.members,
            "linked": self.linked,
            "citizen": self.citizen,
            "other_owner": self.other.owner,
            "other_doctor": self.other.doctor,
            "admin": self.clinic.admin,
        }


@pytest.fixture
async def world(client: httpx.AsyncClient, session: AsyncSession) -> World:
    clinic = await create_clinic(client, session)
    other = await create_clinic(client, session, name="Hillside")
    linked = await register(client, full_name="Pat Linked")
    citizen = await register(client, full_name="Cid Citizen")
    patient = await create_patient(client, clinic, user_id=str(linked.id))
    note = await entry(client, clinic.nurse, patient["id"], "note")
    secret = await entry(client, clinic.doctor, patient["id"], "diagnosis", confidential=True)
    return World(clinic, other, linked, citizen, patient, note, secret)


def expect(ok: int, allowed: set[str], *, forbidden: set[str]) -> dict[str, int]:
    """Status per caller: `ok` for `allowed`, 403 for `forbidden`, 404 for everyone else."""
    names = (*MEMBERS, "linked", *OUTSIDERS)
    return {name: ok if name in allowed else 403 if name in forbidden else 404 for name in names}


async def statuses(world: World, call: Callable[[Account], Awaitable[httpx.Response]]) -> dict[str, int]:
    answers = {}
    for name, account in world.actors.items():
        response = await call(account)
        if response.status_code in (403, 404):
            assert_problem(response, response.status_code, "forbidden" if response.status_code == 403 else "not_found")
        answers[name] = response.status_code
    return answers


ALL_MEMBERS = set(MEMBERS)
CLINICIANS = {"nurse", "doctor"}
NON_CLINICIANS = {"owner", "manager", "staff"}
MANAGERS = {"owner", "manager"}


async def test_list_search_and_create_patients(client: httpx.AsyncClient, world: World) -> None:
    path = f"/organizations/{world.clinic.id}/patients"
    listed = await statuses(world, lambda a: client.get(path, headers=a.headers, params={"q": "Pat"}))
    assert listed == expect(200, ALL_MEMBERS, forbidden=set())
    created = await statuses(world, lambda a: client.post(path, headers=a.headers, json={"full_name": "New One"}))
    assert created == expect(201, ALL_MEMBERS, forbidden=set())


async def test_read_and_patch_a_patient(client: httpx.AsyncClient, world: World) -> None:
    path = f"/patients/{world.patient['id']}"
    assert await statuses(world, lambda a: client.get(path, headers=a.headers)) == expect(
        200, {*ALL_MEMBERS, "linked"}, forbidden=set()
    )
    patched = await statuses(world, lambda a: client.patch(path, headers=a.headers, json={"address": "1 Lake Road"}))
    assert patched == expect(200, ALL_MEMBERS, forbidden={"linked"})


async def test_archive_is_for_owners_and_managers(client: httpx.AsyncClient, world: World) -> None:
    path = f"/patients/{world.patient['id']}"
    archived = await statuses(world, lambda a: client.patch(path, headers=a.headers, json={"archived": False}))
    assert archived == expect(200, MANAGERS, forbidden={"staff", "nurse", "doctor", "linked"})


async def test_read_entries_and_versions(client: httpx.AsyncClient, world: World) -> None:
    readers = {*CLINICIANS, "linked"}
    refused = NON_CLINICIANS
    for path in (
        f"/patients/{world.patient['id']}/entries",
        f"/entries/{world.note['id']}",
        f"/entries/{world.note['id']}/versions",
    ):
        assert await statuses(world, lambda a, p=path: client.get(p, headers=a.headers)) == expect(  # type: ignore[misc]
            200, readers, forbidden=refused
        ), path


async def test_confidential_entries_are_not_the_patients(client: httpx.AsyncClient, world: World) -> None:
    for path in (f"/entries/{world.secret['id']}", f"/entries/{world.secret['id']}/versions"):
        assert await statuses(world, lambda a, p=path: client.get(p, headers=a.headers)) == expect(  # type: ignore[misc]
            200, CLINICIANS, forbidden={*NON_CLINICIANS, "linked"}
        ), path
    own = await client.get(f"/patients/{world.patient['id']}/entries", headers=world.linked.headers)
    assert [e["id"] for e in own.json()["items"]] == [world.note["id"]]
    doctors = await client.get(f"/patients/{world.patient['id']}/entries", headers=world.clinic.doctor.headers)
    assert {e["id"] for e in doctors.json()["items"]} == {world.note["id"], world.secret["id"]}


@pytest.mark.parametrize("kind", ["vital_signs", "note"])
async def test_write_and_amend_nursing_kinds(client: httpx.AsyncClient, world: World, kind: str) -> None:
    patient_id = world.patient["id"]
    written = await statuses(world, lambda a: add_entry(client, a, patient_id, kind))
    assert written == expect(201, CLINICIANS, forbidden={*NON_CLINICIANS, "linked"})

    async def amend(account: Account) -> httpx.Response:
        fresh = await entry(client, world.clinic.doctor, patient_id, kind)
        body = {"data": SAMPLE_DATA[kind], "reason": "typo"}
        return await client.post(f"/entries/{fresh['id']}/amend", headers=account.headers, json=body)

    assert await statuses(world, amend) == expect(201, CLINICIANS, forbidden={*NON_CLINICIANS, "linked"})


@pytest.mark.parametrize("kind", ["diagnosis", "allergy", "medication"])
async def test_write_and_amend_doctors_kinds(client: httpx.AsyncClient, world: World, kind: str) -> None:
    patient_id = world.patient["id"]
    written = await statuses(world, lambda a: add_entry(client, a, patient_id, kind))
    assert written == expect(201, {"doctor"}, forbidden={*NON_CLINICIANS, "nurse", "linked"})

    async def amend(account: Account) -> httpx.Response:
        fresh = await entry(client, world.clinic.doctor, patient_id, kind)
        body = {"data": SAMPLE_DATA[kind], "reason": "typo"}
        return await client.post(f"/entries/{fresh['id']}/amend", headers=account.headers, json=body)

    assert await statuses(world, amend) == expect(201, {"doctor"}, forbidden={*NON_CLINICIANS, "nurse", "linked"})


async def test_access_logs(client: httpx.AsyncClient, world: World) -> None:
    patient_log = f"/patients/{world.patient['id']}/access-log"
    assert await statuses(world, lambda a: client.get(patient_log, headers=a.headers)) == expect(
        200, {*MANAGERS, "linked"}, forbidden={"staff", "nurse", "doctor"}
    )
    clinic_log = f"/organizations/{world.clinic.id}/access-log"
    assert await statuses(world, lambda a: client.get(clinic_log, headers=a.headers)) == expect(
        200, MANAGERS, forbidden={"staff", "nurse", "doctor"}
    )


async def test_rights_add_up_for_an_owner_who_is_a_doctor(client: httpx.AsyncClient, world: World) -> None:
    clinic = world.clinic
    changed = await add_member(client, clinic.id, clinic.admin, clinic.manager, "manager", "doctor")
    assert changed.status_code == 200, changed.text
    manager = clinic.manager
    assert (await add_entry(client, manager, world.patient["id"], "diagnosis")).status_code == 201
    assert (await client.get(f"/patients/{world.patient['id']}/access-log", headers=manager.headers)).status_code == 200
    archived = await client.patch(f"/patients/{world.patient['id']}", headers=manager.headers, json={"archived": True})
    assert archived.status_code == 200


async def test_clinical_role_changes_act_at_once_on_issued_tokens(client: httpx.AsyncClient, world: World) -> None:
    clinic, nurse = world.clinic, world.clinic.nurse
    path = f"/patients/{world.patient['id']}/entries"
    assert (await client.get(path, headers=nurse.headers)).status_code == 200
    await add_member(client, clinic.id, clinic.owner, nurse, "staff", None)
    assert_problem(await client.get(path, headers=nurse.headers), 403, "forbidden")
    await add_member(client, clinic.id, clinic.owner, nurse, "staff", "doctor")
    assert (await add_entry(client, nurse, world.patient["id"], "diagnosis")).status_code == 201
    removed = await client.delete(f"/organizations/{clinic.id}/members/{nurse.id}", headers=clinic.owner.headers)
    assert removed.status_code == 204
    assert_problem(await client.get(path, headers=nurse.headers), 404, "not_found")


async def test_organizations_that_are_not_clinics_have_no_patients(client: httpx.AsyncClient, world: World) -> None:
    admin = world.clinic.admin
    town = await client.post(
        "/organizations", headers=admin.headers, json={"name": "Town", "kind": "government", "timezone": "UTC"}
    )
    town_id = town.json()["id"]
    owner = await register(client)
    await client.post(
        f"/organizations/{town_id}/members", headers=admin.headers, json={"email": owner.email, "role": "owner"}
    )
    for response in (
        await client.get(f"/organizations/{town_id}/patients", headers=owner.headers),
        await client.post(f"/organizations/{town_id}/patients", headers=owner.headers, json={"full_name": "X"}),
        await client.get(f"/organizations/{town_id}/access-log", headers=owner.headers),
    ):
        assert_problem(response, 404, "not_found")


async def test_unknown_ids_are_404(client: httpx.AsyncClient, world: World) -> None:
    doctor = world.clinic.doctor
    missing = uuid.uuid4()
    for method, path in (
        ("GET", f"/patients/{missing}"),
        ("PATCH", f"/patients/{missing}"),
        ("GET", f"/patients/{missing}/entries"),
        ("GET", f"/patients/{missing}/access-log"),
        ("GET", f"/entries/{missing}"),
        ("GET", f"/entries/{missing}/versions"),
        ("GET", f"/organizations/{missing}/patients"),
        ("GET", f"/organizations/{missing}/access-log"),
    ):
        body = {} if method == "PATCH" else None
        assert_problem(await client.request(method, path, headers=doctor.headers, json=body), 404, "not_found")
    amend = await client.post(f"/entries/{missing}/amend", headers=doctor.headers, json={"data": {}, "reason": "r"})
    assert_problem(amend, 404, "not_found")
    written = await add_entry(client, doctor, str(missing), "note")
    assert_problem(written, 404, "not_found")
