"""Entries: typed data and its bounds, effective time, archived patients, append-only storage."""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from tests.helpers import assert_problem
from tests.patients.factories import add_entry, create_clinic, create_patient, entry

# (field, lowest, highest, step just outside)
VITAL_BOUNDS = [
    ("heart_rate_bpm", 20, 300, 1),
    ("respiratory_rate_bpm", 4, 80, 1),
    ("spo2_percent", 50, 100, 1),
    ("temperature_c", 30, 45, 0.1),
    ("weight_kg", 0.2, 500, 0.1),
    ("height_cm", 20, 280, 0.1),
]


@pytest.fixture
async def setting(client: httpx.AsyncClient, session: AsyncSession) -> tuple[Any, dict[str, Any]]:
    clinic = await create_clinic(client, session)
    patient = await create_patient(client, clinic)
    return clinic, patient


@pytest.mark.parametrize(("field", "low", "high", "step"), VITAL_BOUNDS)
async def test_vital_bounds_are_inclusive(
    client: httpx.AsyncClient, setting: tuple[Any, dict[str, Any]], field: str, low: float, high: float, step: float
) -> None:
    clinic, patient = setting
    for inside in (low, high):
        response = await add_entry(client, clinic.nurse, patient["id"], "vital_signs", {field: inside})
        assert response.status_code == 201, (field, inside, response.text)
        assert response.json()["data"] == {field: inside}
    for outside in (round(low - step, 1), round(high + step, 1)):
        response = await add_entry(client, clinic.nurse, patient["id"], "vital_signs", {field: outside})
        assert_problem(response, 422, "validation_error")


@pytest.mark.parametrize(
    ("systolic", "diastolic", "ok"),
    [
        (40, 20, True),
        (300, 200, True),
        (39, 20, False),
        (301, 200, False),
        (120, 19, False),
        (250, 201, False),
        (120, 120, False),  # diastolic must be below systolic
        (100, 110, False),
    ],
)
async def test_blood_pressure_bounds_and_order(
    client: httpx.AsyncClient, setting: tuple[Any, dict[str, Any]], systolic: int, diastolic: int, ok: bool
) -> None:
    clinic, patient = setting
    data = {"systolic_mmhg": systolic, "diastolic_mmhg": diastolic}
    response = await add_entry(client, clinic.nurse, patient["id"], "vital_signs", data)
    if ok:
        assert response.status_code == 201, response.text
    else:
        assert_problem(response, 422, "validation_error")


@pytest.mark.parametrize(
    ("kind", "data"),
    [
        ("vital_signs", {}),
        ("vital_signs", {"systolic_mmhg": 120}),  # both or neither
        ("vital_signs", {"heart_rate_bpm": "72"}),
        ("vital_signs", {"heart_rate_bpm": 72.5}),
        ("vital_signs", {"heart_rate_bpm": True}),
        ("vital_signs", {"heart_rate_bpm": 72, "mood": "fine"}),
        ("vital_signs", {"temperature_c": "hot"}),
        ("vital_signs", {"temperature_c": "37"}),
        ("vital_signs", {"weight_kg": None}),
        ("note", {"text": ""}),
        ("note", {"text": "x" * 10_001}),
        ("note", {"text": "ok", "extra": 1}),
        ("diagnosis", {"description": "x" * 501, "status": "active"}),
        ("diagnosis", {"description": "Flu", "status": "maybe"}),
        ("diagnosis", {"description": "Flu"}),
        ("allergy", {"substance": "x" * 201}),
        ("allergy", {"substance": "Nuts", "severity": "deadly"}),
        ("medication", {"name": "x" * 201}),
        ("medication", {"name": "A", "start_date": "2026-02-01", "end_date": "2026-01-31"}),
        ("medication", {"name": "A", "start_date": "yesterday"}),
        ("note", ["text"]),
    ],
)
async def test_bad_data_is_422(
    client: httpx.AsyncClient, setting: tuple[Any, dict[str, Any]], kind: str, data: Any
) -> None:
    clinic, patient = setting
    assert_problem(await add_entry(client, clinic.doctor, patient["id"], kind, data), 422, "validation_error")


async def test_bad_envelope_is_422(client: httpx.AsyncClient, setting: tuple[Any, dict[str, Any]]) -> None:
    clinic, patient = setting
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    for extra in (
        {"kind": "x-ray"},
        {"effective_at": future},
        {"effective_at": "2026-01-01T10:00:00"},  # no offset
        {"confidential": "perhaps"},
        {"author_id": "00000000-0000-4000-8000-000000000001"},
    ):
        body = {"kind": "note", "data": {"text": "hello"}, **extra}
        response = await client.post(f"/patients/{patient['id']}/entries", headers=clinic.doctor.headers, json=body)
        assert_problem(response, 422, "validation_error")


async def test_entry_body_and_defaults(client: httpx.AsyncClient, setting: tuple[Any, dict[str, Any]]) -> None:
    clinic, patient = setting
    before = datetime.now(UTC)
    body = await entry(
        client,
        clinic.nurse,
        patient["id"],
        "vital_signs",
        data={"temperature_c": 37.2, "weight_kg": 71, "height_cm": 180},
    )
    assert set(body) == {
        "id", "patient_id", "kind", "data", "confidential", "effective_at", "author_id", "author_name",
        "author_role", "version", "supersedes_id", "superseded_by_id", "amendment_reason", "created_at",
    }  # fmt: skip
    assert body["data"] == {"temperature_c": 37.2, "weight_kg": 71, "height_cm": 180}
    assert (body["author_id"], body["author_name"], body["author_role"]) == (
        str(clinic.nurse.id),
        "Nora Nurse",
        "nurse",
    )
    assert (body["version"], body["supersedes_id"], body["superseded_by_id"]) == (1, None, None)
    assert body["confidential"] is False
    assert datetime.fromisoformat(body["effective_at"]) >= before
    past = "2026-01-05T08:00:00+01:00"
    dated = await entry(client, clinic.doctor, patient["id"], "note", effective_at=past)
    assert datetime.fromisoformat(dated["effective_at"]) == datetime.fromisoformat(past)


async def test_list_is_newest_effective_first_and_filters_by_kind(
    client: httpx.AsyncClient, setting: tuple[Any, dict[str, Any]]
) -> None:
    clinic, patient = setting
    old = await entry(client, clinic.doctor, patient["id"], "note", effective_at="2025-01-01T00:00:00Z")
    new = await entry(client, clinic.doctor, patient["id"], "note", effective_at="2026-01-01T00:00:00Z")
    vitals = await entry(client, clinic.doctor, patient["id"], "vital_signs", effective_at="2025-06-01T00:00:00Z")
    path = f"/patients/{patient['id']}/entries"
    listed = (await client.get(path, headers=clinic.nurse.headers)).json()
    assert [e["id"] for e in listed["items"]] == [new["id"], vitals["id"], old["id"]]
    notes = (await client.get(path, headers=clinic.nurse.headers, params={"kind": "note"})).json()
    assert [e["id"] for e in notes["items"]] == [new["id"], old["id"]]
    assert notes["total"] == 2


async def test_archived_patient_takes_no_entries_amendments_or_bookings_of_entries(
    client: httpx.AsyncClient, setting: tuple[Any, dict[str, Any]]
) -> None:
    clinic, patient = setting
    note = await entry(client, clinic.nurse, patient["id"], "note")
    archived = await client.patch(f"/patients/{patient['id']}", headers=clinic.owner.headers, json={"archived": True})
    assert archived.status_code == 200
    assert_problem(await add_entry(client, clinic.nurse, patient["id"], "note"), 409, "patient_archived")
    amend = await client.post(
        f"/entries/{note['id']}/amend", headers=clinic.nurse.headers, json={"data": {"text": "x"}, "reason": "r"}
    )
    assert_problem(amend, 409, "patient_archived")
    # Reading stays possible.
    assert (await client.get(f"/entries/{note['id']}", headers=clinic.nurse.headers)).status_code == 200


async def test_history_rows_cannot_be_updated_or_deleted(
    client: httpx.AsyncClient, session: AsyncSession, setting: tuple[Any, dict[str, Any]]
) -> None:
    clinic, patient = setting
    note = await entry(client, clinic.nurse, patient["id"], "note")
    await client.get(f"/entries/{note['id']}", headers=clinic.nurse.headers)
    for statement in (
        'UPDATE medical_entries SET data = \'{"text": "forged"}\' WHERE id = :id',
        "DELETE FROM medical_entries WHERE id = :id",
        "UPDATE record_access_log SET actor_name = 'nobody' WHERE entry_id = :id",
        "DELETE FROM record_access_log WHERE entry_id = :id",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            await session.execute(text(statement), {"id": note["id"]})
        await session.rollback()
    unchanged = await client.get(f"/entries/{note['id']}", headers=clinic.nurse.headers)
    assert unchanged.json()["data"] == {"text": "Feels better since the last visit."}


async def test_put_patch_delete_of_entries_are_405(
    client: httpx.AsyncClient, setting: tuple[Any, dict[str, Any]]
) -> None:
    clinic, patient = setting
    note = await entry(client, clinic.nurse, patient["id"], "note")
    for method in ("PUT", "PATCH", "DELETE"):
        response = await client.request(method, f"/entries/{note['id']}", headers=clinic.doctor.headers, json={})
        assert response.status_code == 405, method
