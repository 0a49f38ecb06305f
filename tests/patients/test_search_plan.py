"""Patient search is served by indexes (a range of `ix_patient_name_suffixes` for a name part, the
trigram GIN index for a phone part), not a scan of the clinic."""

import uuid
from typing import Any

import httpx
from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

from app.services.patients import service as patients_service
from tests.patients.factories import create_clinic, create_patient

ROWS = 80_000


async def _plan(session: AsyncSession, statement: Any) -> str:
    sql = statement.compile(dialect=asyncpg.dialect(), compile_kwargs={"literal_binds": True})
    rows = await session.execute(text(f"EXPLAIN {sql}"))
    return "\n".join(row[0] for row in rows)


async def test_search_by_name_part_and_phone_part_uses_the_indexes(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    clinic = await create_clinic(client, session)
    wanted = await create_patient(client, clinic, full_name="Augusta Lovelace", phone="+44 20 7946 0958")
    # A clinic of many patients with made-up names (8 characters: 8 rows each in
    # `patient_name_suffixes`) and numbers: enough that the planner, left to
    # itself, prefers the indexes to a scan (at ~30,000 rows a scan still costs less).
    await session.execute(
        text(
            "INSERT INTO patients (id, organization_id, mrn, full_name, phone)"
            " SELECT gen_random_uuid(), :org, 'B' || n, left(md5(n::text), 8),"
            " '+1 ' || (1000000 + n * 13)::text FROM generate_series(1, :rows) AS n"
        ),
        {"org": clinic.id, "rows": ROWS},
    )
    await session.execute(text("ANALYZE patients, patient_name_suffixes"))
    await session.commit()

    for q, index in (
        ("ovelac", "Index Only Scan using ix_patient_name_suffixes"),
        ("7946 09", "ix_patients_phone_digits_trgm"),
    ):
        query = patients_service.name_range_query(
            organization_id=clinic.id, terms=patients_service.Terms.of(q), assigned_to=None, archived=False
        ).subquery()
        page = select(query).order_by(query.c.full_name, query.c.id).limit(20)
        count = select(func.count()).select_from(query)
        for statement in (page, count):
            plan = await _plan(session, statement)
            assert index in plan, plan
            assert "Seq Scan" not in plan, plan
        found = (await session.execute(page)).all()
        assert [row.id for row in found] == [uuid.UUID(wanted["id"])]
