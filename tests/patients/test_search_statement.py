"""The patient search as one statement (`patients_service.search_statement`): the bodies PostgreSQL
writes are pydantic's, and the clinic gate (`require`-style answers of `ClinicMember`) holds inside
the statement."""

import json
import uuid
from datetime import UTC, datetime

import httpx
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.services.auth.models import LoginSession
from app.services.organizations.models import Organization
from app.services.patients import queries
from app.services.patients import service as patients_service
from app.services.patients.models import Patient
from app.services.patients.schemas import PatientRead
from app.services.users.models import User
from tests.apikeys.test_routes import create_key, key_headers
from tests.helpers import assert_problem, register
from tests.patients.factories import create_clinic, create_patient

TRICKY_NAME = 'Zoë "Ada" O\'Brien \\ tab\there </script> 🚀'


async def test_bodies_written_by_postgresql_match_pydantic(client: httpx.AsyncClient, session: AsyncSession) -> None:
    """The search sends the JSON PostgreSQL writes (`queries.BODY_JSON`), the other patient routes
    pydantic's: both say the same, every null, date and timestamp string included."""
    clinic = await create_clinic(client, session)
    citizen = await register(client)
    full = await create_patient(
        client,
        clinic,
        full_name=TRICKY_NAME,
        date_of_birth="1968-04-23",
        sex="female",
        phone="+49 (30) 1234-567",
        email="zoe@example.org",
        address="Seestraße 1\nBerlin",
        mrn="LK-1",
        national_id="N-1",
        user_id=str(citizen.id),
        assigned_doctor_id=str(clinic.doctor.id),
    )
    bare = await create_patient(client, clinic, full_name="Bare Minimum")
    # Whole-second timestamps (no fraction) beside the fractional ones `now()` gives.
    whole = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    await session.execute(update(Patient).where(Patient.id == bare["id"]).values(created_at=whole, updated_at=whole))
    await session.commit()

    statement = select(queries.BODY_JSON.label("body"), Patient).where(Patient.organization_id == clinic.id)
    rows = (await session.execute(statement)).all()
    assert len(rows) == 2
    for row in rows:
        written_by_pydantic = PatientRead.model_validate(row.Patient).model_dump_json()
        assert json.loads(row.body) == json.loads(written_by_pydantic)
        assert list(json.loads(row.body)) == list(PatientRead.model_fields)

    # Through the routes: each item of the search is the patient's own read (pydantic's).
    listed = await client.get(f"/organizations/{clinic.id}/patients", headers=clinic.staff.headers)
    assert listed.status_code == 200, listed.text
    page = listed.json()
    assert (page["total"], page["page"], page["size"], page["pages"]) == (2, 1, 20, 1)
    assert [item["id"] for item in page["items"]] == [bare["id"], full["id"]]  # by full_name
    for item in page["items"]:
        read = await client.get(f"/patients/{item['id']}", headers=clinic.staff.headers)
        assert item == read.json()
    found = await client.get(
        f"/organizations/{clinic.id}/patients", headers=clinic.doctor.headers, params={"q": "o'bri"}
    )
    assert [item["full_name"] for item in found.json()["items"]] == [TRICKY_NAME]


async def test_pages_and_filters_of_the_statement(client: httpx.AsyncClient, session: AsyncSession) -> None:
    clinic = await create_clinic(client, session)
    names = [f"Lovelace {n:02d}" for n in range(5)]
    for name in reversed(names):
        await create_patient(client, clinic, full_name=name, phone="+44 20 7946 0958")
    await create_patient(client, clinic, full_name="Other", assigned_doctor_id=str(clinic.doctor.id))
    path = f"/organizations/{clinic.id}/patients"
    seen = []
    for number in (1, 2, 3):
        response = await client.get(path, headers=clinic.staff.headers, params={"q": "LOVE", "size": 2, "page": number})
        body = response.json()
        assert (body["total"], body["pages"]) == (5, 3)
        seen += [item["full_name"] for item in body["items"]]
    assert seen == names
    past_the_end = (await client.get(path, headers=clinic.staff.headers, params={"q": "love", "page": 9})).json()
    assert (past_the_end["items"], past_the_end["total"]) == ([], 5)
    by_phone = (await client.get(path, headers=clinic.staff.headers, params={"q": "7946 09"})).json()
    assert by_phone["total"] == 5
    mine = (await client.get(path, headers=clinic.doctor.headers, params={"assigned_to": "me"})).json()
    assert [item["full_name"] for item in mine["items"]] == ["Other"]
    everyone = (await client.get(path, headers=clinic.staff.headers)).json()
    assert everyone["total"] == 6


async def test_clinic_gate_runs_in_the_search_statement(client: httpx.AsyncClient, session: AsyncSession) -> None:
    """Each answer of the clinic gate (`ClinicMember`) holds inside the one statement: members
    pass, outsiders and other clinics get 404, a member held back by the MFA policy 403
    `mfa_required`, an ended login 401; API keys are refused as before."""
    clinic = await create_clinic(client, session)
    other = await create_clinic(client, session, name="Hillside")
    citizen = await register(client)
    await create_patient(client, clinic, full_name="Pat Findable")
    url = f"/organizations/{clinic.id}/patients"
    params = {"q": "findable"}
    for account in clinic.members.values():
        response = await client.get(url, headers=account.headers, params=params)
        assert response.status_code == 200, response.text
        assert response.json()["total"] == 1
    for outsider in (citizen, other.doctor, other.owner, clinic.admin):
        assert_problem(await client.get(url, headers=outsider.headers, params=params), 404, "not_found")
    unknown = await client.get(f"/organizations/{uuid.uuid4()}/patients", headers=clinic.doctor.headers)
    assert_problem(unknown, 404, "not_found")
    town = await client.post(
        "/organizations", headers=clinic.admin.headers, json={"name": "Town", "kind": "government", "timezone": "UTC"}
    )
    await client.post(
        f"/organizations/{town.json()['id']}/members",
        headers=clinic.admin.headers,
        json={"email": clinic.doctor.email, "role": "staff"},
    )
    not_a_clinic = await client.get(f"/organizations/{town.json()['id']}/patients", headers=clinic.doctor.headers)
    assert_problem(not_a_clinic, 404, "not_found")
    assert_problem(await client.get(url, params=params), 401, "not_authenticated")
    # No scope reads patients: the clinic's own key with every scope is refused.
    key = await create_key(client, clinic.owner, clinic.id, ["appointments:write", "members:read"])
    assert_problem(await client.get(url, headers=key_headers(key), params=params), 403, "insufficient_scope")

    # The clinic's MFA policy holds back members without MFA; one who has it passes.
    await session.execute(update(Organization).where(Organization.id == clinic.id).values(require_mfa=True))
    await session.execute(update(User).where(User.id == clinic.nurse.id).values(mfa_enabled_at=datetime.now(UTC)))
    await session.commit()
    assert_problem(await client.get(url, headers=clinic.doctor.headers, params=params), 403, "mfa_required")
    assert (await client.get(url, headers=clinic.nurse.headers, params=params)).json()["total"] == 1
    assert_problem(await client.get(url, headers=citizen.headers, params=params), 404, "not_found")

    logout = await client.post("/auth/logout", json={"refresh_token": clinic.nurse.refresh_token})
    assert logout.status_code == 204
    assert_problem(await client.get(url, headers=clinic.nurse.headers, params=params), 401, "not_authenticated")


async def test_the_search_statement_is_planned_once_and_served_by_the_indexes(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """The statement the route runs gets a generic plan (planned once per connection, not for every
    term: its terms are scalar subqueries) that reads the name part's range of
    `ix_patient_name_suffixes` (index only) and the MRN index, once for both the page and the
    total, at a scale where a scan would be cheap enough to tempt the planner (see
    test_search_plan.py)."""
    clinic = await create_clinic(client, session)
    wanted = await create_patient(client, clinic, full_name="Augusta Lovelace")
    await session.execute(
        text(
            "INSERT INTO patients (id, organization_id, mrn, full_name, phone)"
            " SELECT gen_random_uuid(), :org, 'B' || n, left(md5(n::text), 8),"
            " '+1 ' || (1000000 + n * 13)::text FROM generate_series(1, 80000) AS n"
        ),
        {"org": clinic.id},
    )
    await session.execute(text("ANALYZE patients, patient_name_suffixes"))
    await session.commit()
    session_id = await session.scalar(select(LoginSession.id).where(LoginSession.user_id == clinic.doctor.id))
    statement = patients_service.search_statement(q=True, phone=False, assigned=False)
    arguments = statement.arguments(
        {
            "user_id": clinic.doctor.id,
            "session_id": session_id,
            "organization_id": clinic.id,
            "archived": False,
            "offset": 0,
            "limit": 20,
            **patients_service.Terms.of("ovelac").parameters(),
        }
    )
    raw = (await (await session.connection()).get_raw_connection()).driver_connection
    prepared = await raw.prepare(statement.sql)
    for _ in range(8):
        row = await prepared.fetchrow(*arguments)
        assert row is not None
        assert row["total"] == 1
        assert json.loads(f"[{row['items']}]")[0]["id"] == wanted["id"]
    name = prepared.get_name()
    plans = await raw.fetchrow("SELECT generic_plans FROM pg_prepared_statements WHERE name = $1", name)
    assert plans["generic_plans"] >= 2, dict(plans)
    literals = ", ".join(f"'{value}'" for value in arguments)
    plan = "\n".join(line[0] for line in await raw.fetch(f"EXPLAIN EXECUTE {name}({literals})"))
    assert "Index Only Scan using ix_patient_name_suffixes" in plan, plan
    assert "patients_organization_id_mrn_key" in plan, plan
    # The login's and the organization's rows are a handful here, so the planner may scan them;
    # the patients and their names' suffixes must never be.
    assert "Seq Scan on patient" not in plan, plan
    assert plan.count("ix_patient_name_suffixes") == 1, plan
    assert plan.count("Bitmap Heap Scan on patients") == 1, plan
