"""A clinic with every kind of member, its patients and their entries, made through the API."""

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests.helpers import Account, register, register_admin

VITALS = {"systolic_mmhg": 120, "diastolic_mmhg": 80, "heart_rate_bpm": 72}
DIAGNOSIS = {"description": "Essential hypertension", "code": "I10", "status": "active"}
NOTE = {"text": "Feels better since the last visit."}
SAMPLE_DATA: dict[str, dict[str, Any]] = {
    "diagnosis": DIAGNOSIS,
    "allergy": {"substance": "Penicillin", "reaction": "Rash", "severity": "moderate"},
    "medication": {"name": "Amlodipine", "dose": "5 mg", "start_date": "2026-01-01", "end_date": "2026-06-30"},
    "note": NOTE,
    "vital_signs": VITALS,
}


@dataclass
class Clinic:
    id: uuid.UUID
    timezone: str
    admin: Account
    owner: Account
    manager: Account
    staff: Account
    nurse: Account
    doctor: Account

    @property
    def members(self) -> dict[str, Account]:
        return {
            "owner": self.owner,
            "manager": self.manager,
            "staff": self.staff,
            "nurse": self.nurse,
            "doctor": self.doctor,
        }


async def add_member(
    client: httpx.AsyncClient, clinic_id: uuid.UUID, by: Account, account: Account, role: str, clinical: str | None
) -> httpx.Response:
    return await client.post(
        f"/organizations/{clinic_id}/members",
        headers=by.headers,
        json={"email": account.email, "role": role, "clinical_role": clinical},
    )


async def create_clinic(
    client: httpx.AsyncClient, session: AsyncSession, *, name: str = "Lakeside", timezone: str = "Europe/Berlin"
) -> Clinic:
    admin = await register_admin(client, session)
    response = await client.post(
        "/organizations", headers=admin.headers, json={"name": name, "kind": "clinic", "timezone": timezone}
    )
    assert response.status_code == 201, response.text
    clinic_id = uuid.UUID(response.json()["id"])
    people: dict[str, Account] = {}
    for key, role, clinical, full_name in (
        ("owner", "owner", None, "Olga Owner"),
        ("manager", "manager", None, "Mia Manager"),
        ("staff", "staff", None, "Rita Reception"),
        ("nurse", "staff", "nurse", "Nora Nurse"),
        ("doctor", "staff", "doctor", "Dan Doctor"),
    ):
        people[key] = await register(client, full_name=full_name)
        added = await add_member(client, clinic_id, admin, people[key], role, clinical)
        assert added.status_code == 201, added.text
    return Clinic(id=clinic_id, timezone=timezone, admin=admin, **people)


async def create_patient(
    client: httpx.AsyncClient, clinic: Clinic, *, by: Account | None = None, **fields: Any
) -> dict[str, Any]:
    body = {"full_name": "Pat Patient", **fields}
    response = await client.post(
        f"/organizations/{clinic.id}/patients", headers=(by or clinic.staff).headers, json=body
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def add_entry(
    client: httpx.AsyncClient,
    account: Account,
    patient_id: str,
    kind: str,
    data: dict[str, Any] | None = None,
    **extra: Any,
) -> httpx.Response:
    body = {"kind": kind, "data": SAMPLE_DATA[kind] if data is None else data, **extra}
    return await client.post(f"/patients/{patient_id}/entries", headers=account.headers, json=body)


async def entry(
    client: httpx.AsyncClient, account: Account, patient_id: str, kind: str, **extra: Any
) -> dict[str, Any]:
    response = await add_entry(client, account, patient_id, kind, **extra)
    assert response.status_code == 201, response.text
    return dict(response.json())
