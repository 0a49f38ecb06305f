"""The search by a part of the name reads `patient_name_suffixes`: the triggers keep its rows in step
with `patients`, and what it finds is exactly what ILIKE '%part%' on the name finds."""

import uuid
from typing import Any

import httpx
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.services.patients import service as patients_service
from app.services.patients.models import SUFFIX_CHARS, Patient, patient_name_suffixes
from tests.patients.factories import Clinic, create_clinic, create_patient

LONG_NAME = "Maximiliane Wolkenstein-Rodenegg"  # longer than SUFFIX_CHARS from most of its letters
NAMES = [
    "Ada Lovelace",
    "Bob Lovell",
    "Zoë Östergaard",
    "ÅSA ÖSTERBERG",
    "Anna Banana",  # "ana" twice, "an" three times: found once
    "Percent 100% Sure",
    "Under_Score",
    LONG_NAME,
    "Maximiliane Wolkenstein-Rodenbach",  # the same first SUFFIX_CHARS characters as LONG_NAME's end
    "O'Brien",
    "Ilse",
    "x",
]
TERMS = [
    "love",
    "LOVE",
    "ovel",  # the middle of a name
    "östEr",  # any case, beyond ASCII
    "ÖSTER",
    "ana",
    "an",
    "a",
    "e",
    "x",
    "%",
    "0%",
    "_",
    "nde_",
    "der_s",
    "o'b",
    " ",
    "Wolkenstein-Rodenegg",  # longer than SUFFIX_CHARS
    "ne wolkenstein-rodenbach",
    "iliane wolkenstein-rode",
    "zzz",
]


async def _found(client: httpx.AsyncClient, clinic: Clinic, q: str, **params: Any) -> list[str]:
    response = await client.get(
        f"/organizations/{clinic.id}/patients", headers=clinic.staff.headers, params={"q": q, "size": 100, **params}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] == len(body["items"])
    return [item["full_name"] for item in body["items"]]


async def _ilike(session: AsyncSession, clinic: Clinic, q: str, archived: bool = False) -> list[str]:
    """What the search must answer: every name, read and compared (`search_query`, ILIKE)."""
    query = patients_service.search_query(organization_id=clinic.id, q=q, assigned_to=None, archived=archived)
    names = query.with_only_columns(Patient.full_name).order_by(Patient.full_name, Patient.id)
    return list(await session.scalars(names))


async def _rows(session: AsyncSession, patient_id: str) -> set[tuple[Any, ...]]:
    c = patient_name_suffixes.c
    rows = await session.execute(
        select(c.organization_id, c.archived, c.suffix, c.full_name).where(c.patient_id == uuid.UUID(patient_id))
    )
    return {tuple(row) for row in rows}


def _expected(clinic: Clinic, name: str, archived: bool = False) -> set[tuple[Any, ...]]:
    folded = name.lower()  # the names here lowercase alike in Python and PostgreSQL
    return {(clinic.id, archived, folded[n : n + SUFFIX_CHARS], name) for n in range(len(folded))}


async def test_name_parts_find_what_ilike_finds(client: httpx.AsyncClient, session: AsyncSession) -> None:
    clinic = await create_clinic(client, session)
    other = await create_clinic(client, session, name="Hillside")
    for name in NAMES:
        await create_patient(client, clinic, full_name=name)
        # The other clinic's patients, of the same names, are never found.
        await create_patient(client, other, full_name=name)
    for q in TERMS:
        expected = await _ilike(session, clinic, q)
        assert await _found(client, clinic, q) == expected, q
    assert await _found(client, clinic, "ovel") == ["Ada Lovelace", "Bob Lovell"]
    assert "ÅSA ÖSTERBERG" in await _found(client, clinic, "östEr")  # as far as `lower()` folds, any case
    assert await _found(client, clinic, "ana") == ["Anna Banana"]
    assert await _found(client, clinic, "%") == ["Percent 100% Sure"]
    assert await _found(client, clinic, "nde_") == []  # `_` is no wildcard (it would match "nder")
    assert await _found(client, clinic, "der_s") == ["Under_Score"]
    assert await _found(client, clinic, "Wolkenstein-Rodenegg") == [LONG_NAME]
    assert await _found(client, clinic, "zzz") == []
    assert len(await _found(client, clinic, "a")) > 5


async def test_the_rows_follow_new_renamed_and_archived_patients(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    clinic = await create_clinic(client, session)
    ada = await create_patient(client, clinic, full_name="Ada Lovelace")
    bob = await create_patient(client, clinic, full_name="Bob Lovell")
    assert await _rows(session, ada["id"]) == _expected(clinic, "Ada Lovelace")
    assert len(await _rows(session, bob["id"])) == len("Bob Lovell")

    renamed = await client.patch(
        f"/patients/{ada['id']}", headers=clinic.staff.headers, json={"full_name": "Ada King", "phone": "+1 555"}
    )
    assert renamed.status_code == 200, renamed.text
    assert await _rows(session, ada["id"]) == _expected(clinic, "Ada King")
    assert await _found(client, clinic, "love") == ["Bob Lovell"]
    assert await _found(client, clinic, "KING") == ["Ada King"]

    # A change of anything else leaves the rows as they are.
    before = await _rows(session, bob["id"])
    assert (await client.patch(f"/patients/{bob['id']}", headers=clinic.staff.headers, json={"sex": "male"})).is_success
    assert await _rows(session, bob["id"]) == before

    archived = await client.patch(f"/patients/{bob['id']}", headers=clinic.manager.headers, json={"archived": True})
    assert archived.status_code == 200, archived.text
    assert await _rows(session, bob["id"]) == _expected(clinic, "Bob Lovell", archived=True)
    assert await _found(client, clinic, "love") == []
    assert await _found(client, clinic, "love", archived="true") == ["Bob Lovell"]

    # Bulk writes (one statement, many patients) and deletes: the statement-level triggers.
    other = await create_clinic(client, session, name="Hillside")
    await session.execute(
        update(Patient)
        .where(Patient.organization_id == clinic.id)
        .values(organization_id=other.id, full_name=Patient.full_name + " Jr")
    )
    await session.commit()
    assert await _rows(session, ada["id"]) == _expected(other, "Ada King Jr")
    assert await _rows(session, bob["id"]) == _expected(other, "Bob Lovell Jr", archived=True)
    assert await _found(client, clinic, "king") == []
    await session.execute(text("DELETE FROM patients WHERE id = :id"), {"id": ada["id"]})
    await session.commit()
    assert await _rows(session, ada["id"]) == set()
    assert len(await _rows(session, bob["id"])) == len("Bob Lovell Jr")


async def test_assigned_doctor_and_the_row_terms_with_a_name_part(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """The name range is united with the MRN, national-id and phone matches, a patient once, and
    filtered by the assigned doctor like them."""
    clinic = await create_clinic(client, session)
    doctor = str(clinic.doctor.id)
    await create_patient(client, clinic, full_name="Mina Mrnova", mrn="mina", assigned_doctor_id=doctor)
    await create_patient(client, clinic, full_name="Other Mina", phone="+49 30 555")
    await create_patient(client, clinic, full_name="Nobody", mrn="MINA-2", national_id="Mina")
    assert await _found(client, clinic, "mina") == ["Mina Mrnova", "Nobody", "Other Mina"]
    assert await _found(client, clinic, "mina", assigned_to=doctor) == ["Mina Mrnova"]
    assert await _found(client, clinic, "31 5") == []  # digits: in no name, in no phone
    assert await _found(client, clinic, "0555") == ["Other Mina"]
    assert await _found(client, clinic, "m", assigned_to=doctor) == ["Mina Mrnova"]
