"""The entries page as one statement (`medical_records.queries.page_statement`): the bodies
PostgreSQL writes are pydantic's, and the gate, the rights and the access-log item live in the
statement: a served read is logged once, a refused one logs nothing."""

import json
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.services.medical_records import queries
from app.services.medical_records.models import AccessLogItem
from app.services.medical_records.schemas import EntryRead
from app.services.organizations.models import Organization
from app.services.users.models import User
from tests.helpers import assert_problem, register
from tests.patients.factories import add_member, create_clinic, create_patient, entry

TRICKY_TEXT = 'Zoë\'s "urgent" visit \\ tab\there, bell\u0007, </script> 🚀 ∑'


async def log_rows(session: AsyncSession, patient: dict[str, Any]) -> list[tuple[str, str]]:
    rows = await session.execute(
        select(AccessLogItem.actor_role, AccessLogItem.action)
        .where(AccessLogItem.patient_id == patient["id"])
        .order_by(AccessLogItem.at)
    )
    return [(row.actor_role, row.action) for row in rows]


async def test_bodies_written_by_postgresql_match_pydantic(client: httpx.AsyncClient, session: AsyncSession) -> None:
    """The entries page sends the JSON PostgreSQL writes (`queries.BODY_JSON`), one entry's read
    pydantic's: both say the same for every kind, amendment, float, date and timestamp."""
    clinic = await create_clinic(client, session)
    patient = await create_patient(client, clinic)
    doctor, nurse = clinic.doctor, clinic.nurse
    vitals = await entry(
        client, nurse, patient["id"], "vital_signs", data={"temperature_c": 36.8, "weight_kg": 71, "spo2_percent": 98}
    )
    await entry(client, nurse, patient["id"], "note", data={"text": TRICKY_TEXT}, effective_at="2026-01-05T08:00:00Z")
    await entry(client, doctor, patient["id"], "medication", effective_at="2025-06-01T10:30:00.123456+02:00")
    await entry(client, doctor, patient["id"], "diagnosis", confidential=True)
    await entry(client, doctor, patient["id"], "allergy")
    amended = await client.post(
        f"/entries/{vitals['id']}/amend",
        headers=nurse.headers,
        json={"data": {"temperature_c": 37.1}, "reason": "Re-measured"},
    )
    assert amended.status_code == 201, amended.text

    entries, successor = queries.ENTRIES, queries.SUCCESSOR
    rows = (
        await session.execute(
            select(queries.BODY_JSON.label("body"), *entries.c, successor.c.id.label("superseded_by_id"))
            .select_from(entries.outerjoin(successor, successor.c.supersedes_id == entries.c.id))
            .where(entries.c.patient_id == patient["id"])
        )
    ).all()
    assert len(rows) == 6
    assert any(row.superseded_by_id is not None for row in rows)
    for row in rows:
        written_by_pydantic = EntryRead.model_validate(dict(row._mapping)).model_dump_json()
        assert json.loads(row.body) == json.loads(written_by_pydantic)
        assert list(json.loads(row.body)) == list(EntryRead.model_fields)

    # Through the routes: each item of the page is the entry's own read (pydantic's).
    path = f"/patients/{patient['id']}/entries"
    everything = (await client.get(path, headers=doctor.headers, params={"include_superseded": "true"})).json()
    assert everything["total"] == 6
    for item in everything["items"]:
        assert item == (await client.get(f"/entries/{item['id']}", headers=doctor.headers)).json()
    current = (await client.get(path, headers=doctor.headers)).json()
    assert current["total"] == 5
    assert vitals["id"] not in {item["id"] for item in current["items"]}
    assert all(item["superseded_by_id"] is None for item in current["items"])
    own_view = (await client.get(path, headers=nurse.headers, params={"size": 2, "page": 3})).json()
    assert (own_view["total"], own_view["pages"], len(own_view["items"])) == (5, 3, 1)
    assert own_view["items"][0]["id"] == current["items"][-1]["id"]


async def test_gate_rights_and_log_run_in_the_page_statement(client: httpx.AsyncClient, session: AsyncSession) -> None:
    """Every answer of the gate and the rights holds inside the statement, and only a served read
    leaves an access-log item: outsiders and other clinics 404, non-clinicians 403, a clinician
    held back by the MFA policy 403 `mfa_required` (or, as the linked patient, the patient's view),
    an ended login 401."""
    clinic = await create_clinic(client, session)
    other = await create_clinic(client, session, name="Hillside")
    citizen = await register(client)
    linked = await register(client, full_name="Dr. Pat Linked")
    patient = await create_patient(client, clinic, user_id=str(linked.id))
    note = await entry(client, clinic.nurse, patient["id"], "note")
    secret = await entry(client, clinic.doctor, patient["id"], "diagnosis", confidential=True)
    path = f"/patients/{patient['id']}/entries"

    for outsider in (citizen, other.doctor, other.owner, clinic.admin):
        assert_problem(await client.get(path, headers=outsider.headers), 404, "not_found")
    for non_clinician in (clinic.owner, clinic.manager, clinic.staff):
        assert_problem(await client.get(path, headers=non_clinician.headers), 403, "forbidden")
    assert_problem(await client.get(path), 401, "not_authenticated")
    assert await log_rows(session, patient) == []

    # The linked account is also one of the clinic's doctors: it reads as a doctor...
    assert (await add_member(client, clinic.id, clinic.owner, linked, "staff", "doctor")).status_code == 201
    as_doctor = (await client.get(path, headers=linked.headers)).json()
    assert {item["id"] for item in as_doctor["items"]} == {note["id"], secret["id"]}
    assert await log_rows(session, patient) == [("doctor", "list_entries")]

    # ... until the clinic's MFA policy holds its doctors back: then as the patient it is.
    await session.execute(update(Organization).where(Organization.id == clinic.id).values(require_mfa=True))
    await session.execute(update(User).where(User.id == clinic.nurse.id).values(mfa_enabled_at=datetime.now(UTC)))
    await session.commit()
    assert_problem(await client.get(path, headers=clinic.doctor.headers), 403, "mfa_required")
    as_patient = (await client.get(path, headers=linked.headers)).json()
    assert [item["id"] for item in as_patient["items"]] == [note["id"]]
    assert (await client.get(path, headers=clinic.nurse.headers)).json()["total"] == 2
    assert await log_rows(session, patient) == [
        ("doctor", "list_entries"),
        ("patient", "list_entries"),
        ("nurse", "list_entries"),
    ]

    logout = await client.post("/auth/logout", json={"refresh_token": clinic.nurse.refresh_token})
    assert logout.status_code == 204
    assert_problem(await client.get(path, headers=clinic.nurse.headers), 401, "not_authenticated")
    assert len(await log_rows(session, patient)) == 3
    total = await session.scalar(select(func.count()).select_from(AccessLogItem))
    assert total == 3  # nothing was logged against any other record either
