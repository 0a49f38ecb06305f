"""Amendments: new versions that never overwrite, one current version per entry, one winner of a race."""

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.services.medical_records.models import MedicalEntry
from tests.helpers import assert_problem
from tests.patients.factories import create_clinic, create_patient, entry


@pytest.fixture
async def setting(client: httpx.AsyncClient, session: AsyncSession) -> tuple[Any, dict[str, Any]]:
    clinic = await create_clinic(client, session)
    patient = await create_patient(client, clinic)
    return clinic, patient


async def amend(client: httpx.AsyncClient, account: Any, entry_id: str, **body: Any) -> httpx.Response:
    return await client.post(f"/entries/{entry_id}/amend", headers=account.headers, json=body)


async def test_amendment_chain_keeps_every_version(
    client: httpx.AsyncClient, setting: tuple[Any, dict[str, Any]]
) -> None:
    clinic, patient = setting
    v1 = await entry(client, clinic.doctor, patient["id"], "diagnosis", effective_at="2026-01-10T09:00:00Z")
    answer = await amend(
        client,
        clinic.doctor,
        v1["id"],
        data={"description": "Secondary hypertension", "status": "active"},
        reason="Wrong type",
    )
    assert answer.status_code == 201, answer.text
    v2 = answer.json()
    assert (v2["version"], v2["supersedes_id"], v2["superseded_by_id"]) == (2, v1["id"], None)
    assert (v2["kind"], v2["amendment_reason"]) == ("diagnosis", "Wrong type")
    assert v2["effective_at"] == v1["effective_at"]  # kept when omitted
    v3 = (
        await amend(
            client,
            clinic.doctor,
            v2["id"],
            data={"description": "Secondary hypertension", "status": "resolved"},
            reason="Resolved",
            confidential=True,
        )
    ).json()
    assert (v3["version"], v3["supersedes_id"], v3["confidential"]) == (3, v2["id"], True)

    old = (await client.get(f"/entries/{v1['id']}", headers=clinic.nurse.headers)).json()
    assert old["superseded_by_id"] == v2["id"]
    assert old["data"] == {"description": "Essential hypertension", "code": "I10", "status": "active"}
    for any_version in (v1, v2, v3):
        chain = (await client.get(f"/entries/{any_version['id']}/versions", headers=clinic.nurse.headers)).json()
        assert [v["id"] for v in chain] == [v1["id"], v2["id"], v3["id"]]
        assert [v["superseded_by_id"] for v in chain] == [v2["id"], v3["id"], None]

    path = f"/patients/{patient['id']}/entries"
    current = (await client.get(path, headers=clinic.nurse.headers)).json()
    assert [e["id"] for e in current["items"]] == [v3["id"]]
    everything = (await client.get(path, headers=clinic.nurse.headers, params={"include_superseded": "true"})).json()
    assert {e["id"] for e in everything["items"]} == {v1["id"], v2["id"], v3["id"]}


async def test_only_the_current_version_can_be_amended(
    client: httpx.AsyncClient, setting: tuple[Any, dict[str, Any]]
) -> None:
    clinic, patient = setting
    v1 = await entry(client, clinic.nurse, patient["id"], "note")
    assert (await amend(client, clinic.nurse, v1["id"], data={"text": "v2"}, reason="r")).status_code == 201
    stale = await amend(client, clinic.nurse, v1["id"], data={"text": "v2 again"}, reason="r")
    assert_problem(stale, 409, "entry_superseded")


async def test_amendment_keeps_the_kind_and_validates_data(
    client: httpx.AsyncClient, setting: tuple[Any, dict[str, Any]]
) -> None:
    clinic, patient = setting
    vitals = await entry(client, clinic.nurse, patient["id"], "vital_signs")
    for body in (
        {"data": {"text": "a note is another kind"}, "reason": "r"},
        {"data": {"heart_rate_bpm": 301}, "reason": "r"},
        {"data": {"heart_rate_bpm": 70}, "reason": ""},
        {"data": {"heart_rate_bpm": 70}, "reason": "x" * 501},
        {"data": {"heart_rate_bpm": 70}},
        {"data": {"heart_rate_bpm": 70}, "reason": "r", "kind": "note"},
        {"data": {"heart_rate_bpm": 70}, "reason": "r", "effective_at": "2999-01-01T00:00:00Z"},
    ):
        assert_problem(await amend(client, clinic.nurse, vitals["id"], **body), 422, "validation_error")
    problem = (await amend(client, clinic.nurse, vitals["id"], data={"heart_rate_bpm": 301}, reason="r")).json()
    assert problem["errors"][0]["loc"][:3] == ["body", "data", "heart_rate_bpm"]
    chain = (await client.get(f"/entries/{vitals['id']}/versions", headers=clinic.nurse.headers)).json()
    assert len(chain) == 1


async def test_concurrent_amendments_of_one_version_leave_one_winner(
    client: httpx.AsyncClient, session: AsyncSession, setting: tuple[Any, dict[str, Any]]
) -> None:
    clinic, patient = setting
    v1 = await entry(client, clinic.nurse, patient["id"], "note")
    answers = await asyncio.gather(
        *(
            amend(client, clinic.doctor if i % 2 else clinic.nurse, v1["id"], data={"text": f"take {i}"}, reason="r")
            for i in range(6)
        )
    )
    assert sorted(a.status_code for a in answers) == [201, 409, 409, 409, 409, 409]
    for loser in (a for a in answers if a.status_code == 409):
        assert_problem(loser, 409, "entry_superseded")
    versions = await session.scalar(select(func.count()).select_from(MedicalEntry).where(MedicalEntry.version == 2))
    assert versions == 1
