"""The migrations are the schema: they match the models and run both ways on a populated database."""

import asyncio
import uuid
from collections.abc import Iterator

import asyncpg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from app.core.database import Base
from app.core.migrations import alembic_config, head_revisions, upgrade_head
from tests.conftest import _database_admin, _libpq, _with_database


@pytest.fixture
def scratch_database(server_url: str) -> Iterator[str]:
    name = f"queueless_migrations_{uuid.uuid4().hex[:8]}"
    _database_admin(server_url, f'CREATE DATABASE "{name}"')
    yield _with_database(server_url, name)
    _database_admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_models_and_migrations_agree(database_url: str) -> None:
    def diff(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    async def run() -> list[object]:
        engine = create_async_engine(database_url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(diff)
        finally:
            await engine.dispose()

    assert asyncio.run(run()) == []


async def _count_tables(url: str) -> int:
    conn = await asyncpg.connect(_libpq(url))
    try:
        return int(await conn.fetchval("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"))
    finally:
        await conn.close()


async def _insert_sample_rows(url: str) -> None:
    conn = await asyncpg.connect(_libpq(url))
    try:
        user_id = uuid.uuid4()
        await conn.execute(
            "INSERT INTO users (id, email, password_hash, full_name) VALUES ($1, 'm@example.org', 'x', 'M')", user_id
        )
        await conn.execute("INSERT INTO login_sessions (id, user_id) VALUES ($1, $2)", uuid.uuid4(), user_id)
        # A clinic with a doctor, a patient and an entry that was read (append-only tables included).
        clinic_id, patient_id, entry_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        await conn.execute(
            "INSERT INTO organizations (id, name, kind, timezone) VALUES ($1, 'C', 'clinic', 'UTC')", clinic_id
        )
        await conn.execute(
            "INSERT INTO memberships (organization_id, user_id, role, clinical_role)"
            " VALUES ($1, $2, 'owner', 'doctor')",
            clinic_id,
            user_id,
        )
        await conn.execute(
            "INSERT INTO patients (id, organization_id, mrn, full_name) VALUES ($1, $2, 'M1', 'P')",
            patient_id,
            clinic_id,
        )
        await conn.execute(
            "INSERT INTO medical_entries (id, patient_id, chain_id, version, kind, data, confidential,"
            " effective_at, author_name, author_role)"
            " VALUES ($1, $2, $1, 1, 'note', '{\"text\": \"t\"}', false, now(), 'D', 'doctor')",
            entry_id,
            patient_id,
        )
        await conn.execute(
            "INSERT INTO record_access_log (id, organization_id, patient_id, actor_name, actor_role, action, entry_id)"
            " VALUES ($1, $2, $3, 'D', 'doctor', 'read_entry', $4)",
            uuid.uuid4(),
            clinic_id,
            patient_id,
            entry_id,
        )
    finally:
        await conn.close()


def test_upgrade_downgrade_upgrade_on_a_populated_database(scratch_database: str) -> None:
    upgrade_head(scratch_database)
    asyncio.run(_insert_sample_rows(scratch_database))
    command.downgrade(alembic_config(scratch_database), "base")
    assert asyncio.run(_count_tables(scratch_database)) == 1  # only alembic_version is left
    upgrade_head(scratch_database)
    assert asyncio.run(_count_tables(scratch_database)) == len(Base.metadata.tables) + 1


async def _stock_after_units(url: str, *, insert: bool) -> list[tuple[object, ...]]:
    """A property project with units of two sizes, one of them held (`insert`), and the
    `unit_stock` rows that say so."""
    conn = await asyncpg.connect(_libpq(url))
    try:
        if insert:
            org_id, project_id = uuid.uuid4(), uuid.uuid4()
            await conn.execute(
                "INSERT INTO organizations (id, name, kind, timezone) VALUES ($1, 'B', 'property', 'UTC')", org_id
            )
            await conn.execute(
                "INSERT INTO projects (id, organization_id, name, city, status, currency, published)"
                " VALUES ($1, $2, 'P', 'Lisbon', 'planned', 'EUR', true)",
                project_id,
                org_id,
            )
            await conn.execute(
                "INSERT INTO units (id, project_id, organization_id, code, type, floor, bedrooms, area_m2, price,"
                " hold_id, held_until)"
                " SELECT gen_random_uuid(), $1, $2, 'U' || n, 'apartment', 1, n % 2, 50, 1000 * n,"
                " CASE WHEN n = 1 THEN gen_random_uuid() END, CASE WHEN n = 1 THEN now() END"
                " FROM generate_series(1, 4) AS n",
                project_id,
                org_id,
            )
        rows = await conn.fetch(
            "SELECT bedrooms, city_key, units, free, free_from, free_prices::text, held FROM unit_stock ORDER BY 1"
        )
        return [tuple(row) for row in rows]
    finally:
        await conn.close()


def test_unit_stock_is_counted_from_a_populated_database(scratch_database: str) -> None:
    upgrade_head(scratch_database)
    kept_by_triggers = asyncio.run(_stock_after_units(scratch_database, insert=True))
    assert [row[:5] for row in kept_by_triggers] == [(0, "lisbon", 2, 2, 2000), (1, "lisbon", 2, 1, 3000)]
    command.downgrade(alembic_config(scratch_database), "0022-1")
    upgrade_head(scratch_database)
    assert asyncio.run(_stock_after_units(scratch_database, insert=False)) == kept_by_triggers


def test_migrations_have_a_single_head() -> None:
    # `alembic upgrade head` (the documented command) refuses to run with several heads.
    assert len(head_revisions()) == 1


async def _name_suffixes(url: str, *, insert: bool) -> list[tuple[object, ...]]:
    """A clinic's patient (`insert`) and its `patient_name_suffixes` rows."""
    conn = await asyncpg.connect(_libpq(url))
    try:
        if insert:
            clinic_id = uuid.uuid4()
            await conn.execute(
                "INSERT INTO organizations (id, name, kind, timezone) VALUES ($1, 'C', 'clinic', 'UTC')", clinic_id
            )
            await conn.execute(
                "INSERT INTO patients (id, organization_id, mrn, full_name) VALUES ($1, $2, 'M1', 'Ann Lee')",
                uuid.uuid4(),
                clinic_id,
            )
        rows = await conn.fetch("SELECT suffix, full_name, archived FROM patient_name_suffixes ORDER BY 1")
        return [tuple(row) for row in rows]
    finally:
        await conn.close()


def test_name_suffixes_are_added_for_existing_patients(scratch_database: str) -> None:
    upgrade_head(scratch_database)
    kept_by_triggers = asyncio.run(_name_suffixes(scratch_database, insert=True))
    assert [row[0] for row in kept_by_triggers] == [" lee", "ann lee", "e", "ee", "lee", "n lee", "nn lee"]
    command.downgrade(alembic_config(scratch_database), "0024-1")
    upgrade_head(scratch_database)
    assert asyncio.run(_name_suffixes(scratch_database, insert=False)) == kept_by_triggers
