"""The access log: one item per successful read of entries, in the read's transaction; nothing else."""

from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tests.helpers import register
from tests.patients.factories import create_clinic, create_patient, entry


@pytest.fixture
async def setting(client: httpx.AsyncClient, session: AsyncSession) -> tuple[Any, Any, dict[str, Any]]:
    clinic = await create_clinic(client, session)
    linked = await register(client, full_name="Pat Linked")
    patient = await create_patient(client, clinic, user_id=str(linked.id))
    return clinic, linked, patient


async def log_of(client: httpx.AsyncClient, clinic: Any, patient: dict[str, Any]) -> list[dict[str, Any]]:
    response = await client.get(f"/patients/{patient['id']}/access-log", headers=clinic.owner.headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_each_read_is_logged_with_its_request_id(
    client: httpx.AsyncClient, setting: tuple[Any, Any, dict[str, Any]]
) -> None:
    clinic, linked, patient = setting
    note = await entry(client, clinic.nurse, patient["id"], "note")
    assert await log_of(client, clinic, patient) == []  # writes are not reads

    listed = await client.get(f"/patients/{patient['id']}/entries", headers=clinic.nurse.headers)
    one = await client.get(f"/entries/{note['id']}", headers={**clinic.doctor.headers, "X-Request-ID": "trace-42"})
    versions = await client.get(f"/entries/{note['id']}/versions", headers=linked.headers)
    own_list = await client.get(f"/patients/{patient['id']}/entries", headers=linked.headers)
    assert {r.status_code for r in (listed, one, versions, own_list)} == {200}

    items = await log_of(client, clinic, patient)
    assert [(i["action"], i["actor_role"], i["actor_id"], i["entry_id"], i["request_id"]) for i in items] == [
        ("list_entries", "patient", str(linked.id), None, own_list.headers["X-Request-ID"]),
        ("read_versions", "patient", str(linked.id), note["id"], versions.headers["X-Request-ID"]),
        ("read_entry", "doctor", str(clinic.doctor.id), note["id"], "trace-42"),
        ("list_entries", "nurse", str(clinic.nurse.id), None, listed.headers["X-Request-ID"]),
    ]
    assert items[-1]["actor_name"] == "Nora Nurse"
    assert set(items[0]) == {
        "id", "patient_id", "actor_id", "actor_name", "actor_role", "action", "entry_id", "request_id", "at",
    }  # fmt: skip
    # The patient sees the same log of their own record; reading a log adds nothing.
    own = await client.get(f"/patients/{patient['id']}/access-log", headers=linked.headers)
    assert [i["id"] for i in own.json()["items"]] == [i["id"] for i in items]


async def test_refused_reads_log_nothing(
    client: httpx.AsyncClient, session: AsyncSession, setting: tuple[Any, Any, dict[str, Any]]
) -> None:
    clinic, linked, patient = setting
    other = await create_clinic(client, session, name="Hillside")
    citizen = await register(client)
    note = await entry(client, clinic.nurse, patient["id"], "note")
    secret = await entry(client, clinic.doctor, patient["id"], "note", confidential=True)
    refused = [
        await client.get(f"/patients/{patient['id']}/entries", headers=clinic.staff.headers),
        await client.get(f"/patients/{patient['id']}/entries", headers=clinic.owner.headers),
        await client.get(f"/entries/{note['id']}", headers=clinic.manager.headers),
        await client.get(f"/entries/{note['id']}/versions", headers=clinic.staff.headers),
        await client.get(f"/entries/{secret['id']}", headers=linked.headers),
        await client.get(f"/entries/{secret['id']}/versions", headers=linked.headers),
        await client.get(f"/patients/{patient['id']}/entries", headers=citizen.headers),
        await client.get(f"/entries/{note['id']}", headers=other.doctor.headers),
        await client.get(f"/entries/{note['id']}/versions", headers=clinic.admin.headers),
    ]
    assert [r.status_code for r in refused] == [403, 403, 403, 403, 403, 403, 404, 404, 404]
    assert await log_of(client, clinic, patient) == []


async def test_clinic_log_filters_by_patient_and_actor(
    client: httpx.AsyncClient, setting: tuple[Any, Any, dict[str, Any]]
) -> None:
    clinic, _, patient = setting
    second = await create_patient(client, clinic, full_name="Second")
    for reader, who in ((clinic.nurse, patient), (clinic.doctor, second), (clinic.doctor, patient)):
        assert (await client.get(f"/patients/{who['id']}/entries", headers=reader.headers)).status_code == 200
    path = f"/organizations/{clinic.id}/access-log"
    everything = (await client.get(path, headers=clinic.manager.headers)).json()
    assert everything["total"] == 3
    assert [i["actor_id"] for i in everything["items"]] == [str(clinic.doctor.id)] * 2 + [str(clinic.nurse.id)]
    by_patient = (await client.get(path, headers=clinic.manager.headers, params={"patient_id": patient["id"]})).json()
    assert {i["patient_id"] for i in by_patient["items"]} == {patient["id"]}
    assert by_patient["total"] == 2
    by_actor = (await client.get(path, headers=clinic.owner.headers, params={"actor_id": str(clinic.nurse.id)})).json()
    assert [i["patient_id"] for i in by_actor["items"]] == [patient["id"]]


async def test_a_read_that_cannot_be_logged_is_not_served(
    client: httpx.AsyncClient, session: AsyncSession, setting: tuple[Any, Any, dict[str, Any]]
) -> None:
    clinic, _, patient = setting
    note = await entry(client, clinic.nurse, patient["id"], "note")
    # Every new access-log row now fails (existing rows are not checked: NOT VALID).
    await session.execute(text("ALTER TABLE record_access_log ADD CONSTRAINT refuse_all CHECK (false) NOT VALID"))
    await session.commit()
    try:
        for path in (f"/patients/{patient['id']}/entries", f"/entries/{note['id']}", f"/entries/{note['id']}/versions"):
            response = await client.get(path, headers=clinic.doctor.headers)
            # The house renders a failed write as a problem (here 409): never the entries.
            assert response.status_code >= 400, response.text
            assert response.headers["content-type"].startswith("application/problem+json")
            assert "Feels better" not in response.text
    finally:
        await session.execute(text("ALTER TABLE record_access_log DROP CONSTRAINT refuse_all"))
        await session.commit()
    assert await log_of(client, clinic, patient) == []
