"""The clinic's demo: clinical roles, patients with histories, bookings for patients, idempotent."""

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.demo import clinic as clinic_demo
from app.demo.seed import DOMAIN, PASSWORD
from tests.demo.test_seed_demo import cli_env, run_seed, scalar

__all__ = ["cli_env"]


async def test_clinic_demo_seeds_patients_histories_and_bookings_once(
    cli_env: None, session: AsyncSession, client: httpx.AsyncClient
) -> None:
    await run_seed("--appointments", "500", "--citizens", "60", "--services", "13")
    counts = {
        table: await scalar(session, f"SELECT count(*) FROM {table}")
        for table in ("patients", "medical_entries", "appointments", "memberships")
    }
    await run_seed("--appointments", "500", "--citizens", "60", "--services", "13")
    for table, count in counts.items():
        assert await scalar(session, f"SELECT count(*) FROM {table}") == count, table

    assert counts["patients"] == clinic_demo.PATIENTS
    assert await scalar(session, "SELECT count(*) FROM patients WHERE user_id IS NOT NULL") == 40
    roles = dict((await session.execute(text("SELECT clinical_role, count(*) FROM memberships GROUP BY 1"))).all())
    assert roles["doctor"] == 3
    assert roles["nurse"] == 2
    assert await scalar(session, "SELECT count(*) FROM medical_entries WHERE version = 2") > 0
    assert await scalar(session, "SELECT count(DISTINCT kind) FROM medical_entries") == 5
    assert await scalar(session, "SELECT count(*) FROM appointments WHERE patient_id IS NOT NULL") == (
        clinic_demo.BOOKED_PATIENTS
    )

    # The accounts work through the API: a doctor reads a history, a linked citizen sees their record.
    login = await client.post("/auth/login", json={"email": f"amir.haddad@{DOMAIN}", "password": PASSWORD})
    doctor = {"Authorization": f"Bearer {login.json()['access_token']}"}
    patient_id = clinic_demo.demo_id(clinic_demo.PATIENT, 7)
    entries = await client.get(f"/patients/{patient_id}/entries", headers=doctor)
    assert entries.status_code == 200, entries.text
    assert entries.json()["total"] >= 4
    amended = await client.get(f"/patients/{patient_id}/entries?include_superseded=true", headers=doctor)
    assert amended.json()["total"] == entries.json()["total"] + 1
    citizen = await client.post("/auth/login", json={"email": f"citizen00001@{DOMAIN}", "password": PASSWORD})
    mine = await client.get("/patients", headers={"Authorization": f"Bearer {citizen.json()['access_token']}"})
    assert mine.json()["total"] == 1
