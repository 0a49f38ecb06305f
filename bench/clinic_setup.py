"""The setup of bench/clinic.sh: one clinic of 1,000,000 patients and 5,000,000 entries beside the baseline.

Runs after bench/lib/pg.sh has started the throwaway cluster and loaded the baseline's tables into
its `postgres` database (BENCH_DSN). Creates a database `queueless_clinic` in the same cluster,
migrates it and seeds it in SQL, loading first and indexing after: the indexes and keys of
`patients`, `patient_name_suffixes` (filled by the triggers on `patients`, in the same statement)
and `medical_entries` (and the foreign keys that point at them) are dropped, the rows go
in with `INSERT … SELECT … generate_series`, and everything dropped is made again from its own
definition (`pg_get_indexdef`, `pg_get_constraintdef`), so the load takes minutes, not hours.

- One clinic, BENCH_PATIENTS patients (1,000,000): 40 first names x 900 surnames (30 prefixes x 30
  suffixes, e.g. "Adelmann"), so an inner part of a surname such as `delman` matches about one
  patient in 900, as a surname does in a real register. Patient N's id is
  `00000000-0000-4000-8000-1NNNNNNNNNNN` (100000000000 + N), which is how `{rand:A:B}` aims at them.
- Five entries each (a diagnosis, a medication, two vital signs, a note): 5,000,000.
- A doctor of the clinic, signed in (a login session row, and an access token signed with
  SECRET_KEY as the server will verify it).

Then it writes the requests (OUT_DIR/clinic.json), each beside the baseline's list (`slots`):
`search` (`GET /api/v1/organizations/{id}/patients?q=<one of 100 surname parts>`) and `entries`
(`GET /api/v1/patients/{random patient}/entries`; every such read also writes its access-log row),
and prints the plan of each hot statement (EXPLAIN ANALYZE) for one request of each.

Environment: BENCH_DSN, SECRET_KEY, BENCH_PATIENTS (1000000). Usage: clinic_setup.py OUT_DIR
"""

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import asyncpg
from lib.database import create_database, database_url

from app.core.security import TokenSigner
from app.core.settings import Settings
from app.demo import catalog
from app.services.medical_records import queries as records_queries
from app.services.patients import service as patients_service

ROOT = Path(__file__).resolve().parent.parent
DATABASE = "queueless_clinic"
CLINIC_ID = uuid.UUID("00000000-0000-4000-8000-c11c00000001")
DOCTOR_ID = uuid.UUID("00000000-0000-4000-8000-d0c000000001")
PATIENT_IDS = "00000000-0000-4000-8000-"
FIRST_PATIENT = 100_000_000_001  # the last 12 digits of patient 1's id
TABLES = ("patients", "patient_name_suffixes", "medical_entries")

PREFIXES = (
    "Adel", "Bran", "Carl", "Dorn", "Eber", "Falk", "Gold", "Hart", "Isen", "Jung", "Kron", "Lind", "Mar", "Nord",
    "Ost", "Pfeif", "Quell", "Ros", "Stein", "Thal", "Ul", "Vog", "Wald", "Xan", "Yor", "Zell", "Ahl", "Berg",
    "Dahl", "Fried",
)  # fmt: skip
SUFFIXES = (
    "mann", "berg", "feld", "hagen", "stein", "bach", "dorf", "holz", "wald", "brück", "hof", "kamp", "ried",
    "sen", "strom", "thal", "wick", "ström", "quist", "gren", "ley", "ton", "ford", "worth", "field", "more",
    "son", "ing", "ard", "ez",
)  # fmt: skip
# What a receptionist types: the inside of a surname, e.g. "delman" of Adelmann.
NAME_PARTS = [f"{p[1:]}{s[:3]}".lower() for p in PREFIXES[:10] for s in SUFFIXES[:10]]

PEOPLE_SQL = f"""
INSERT INTO organizations (id, name, kind, timezone) VALUES ('{CLINIC_ID}', 'Bench Clinic', 'clinic', 'Europe/Berlin');
INSERT INTO users (id, email, password_hash, full_name)
VALUES ('{DOCTOR_ID}', 'bench.doctor@example.org', '!', 'Dr. Bench');
INSERT INTO memberships (organization_id, user_id, role, clinical_role)
VALUES ('{CLINIC_ID}', '{DOCTOR_ID}', 'staff', 'doctor');
"""

PATIENTS_SQL = f"""
INSERT INTO patients (id, organization_id, mrn, full_name, date_of_birth, sex, phone)
SELECT ('{PATIENT_IDS}' || ({FIRST_PATIENT - 1} + n))::uuid, '{CLINIC_ID}', 'B' || lpad(n::text, 8, '0'),
       ($1::text[])[1 + n % 40] || ' ' || ($2::text[])[1 + (n / 40) % 30] || ($3::text[])[1 + (n / 1200) % 30],
       DATE '1930-01-01' + (n::bigint * 7919 % 32000)::int, (ARRAY['female', 'male', 'other', 'unknown'])[1 + n % 4],
       '+49 30 ' || (1000000 + n)::text
FROM generate_series(1, $4::int) AS n
"""

ENTRIES_SQL = """
INSERT INTO medical_entries (id, patient_id, chain_id, version, kind, data, confidential, effective_at,
                             author_name, author_role, created_at)
SELECT e.id, e.patient_id, e.id, 1, e.kind, e.data, false, e.at, 'Dr. Bench', e.role, e.at
FROM (
    SELECT gen_random_uuid() AS id, p.id AS patient_id, s.kind, s.data, s.role,
           now() - make_interval(days => (s.slot * 97 + abs(hashtext(p.mrn)) % 700)) AS at
    FROM patients AS p
    CROSS JOIN LATERAL (VALUES
        (1, 'diagnosis', '{"description": "Hypertension", "code": "I10", "status": "active"}'::jsonb, 'doctor'),
        (2, 'medication', '{"name": "Amlodipine", "dose": "5 mg", "frequency": "once daily"}'::jsonb, 'doctor'),
        (3, 'vital_signs', '{"systolic_mmhg": 128, "diastolic_mmhg": 82, "heart_rate_bpm": 71}'::jsonb, 'nurse'),
        (4, 'vital_signs', '{"temperature_c": 36.8, "weight_kg": 74.5, "spo2_percent": 98}'::jsonb, 'nurse'),
        (5, 'note', '{"text": "Feels well. Follow-up in three months."}'::jsonb, 'nurse')
    ) AS s(slot, kind, data, role)
) AS e
"""

# What the load drops and makes again: the foreign keys from and to the two tables, their primary
# and unique keys, then their other indexes (in that order; made again in the reverse one).
DEFINITIONS_SQL = """
SELECT 1 AS step, format('ALTER TABLE %s DROP CONSTRAINT %I', conrelid::regclass, conname) AS drop,
       format('ALTER TABLE %s ADD CONSTRAINT %I %s', conrelid::regclass, conname, pg_get_constraintdef(oid)) AS make
FROM pg_constraint WHERE contype = 'f' AND (conrelid = ANY($1::regclass[]) OR confrelid = ANY($1::regclass[]))
UNION ALL
SELECT 2, format('ALTER TABLE %s DROP CONSTRAINT %I', conrelid::regclass, conname),
       format('ALTER TABLE %s ADD CONSTRAINT %I %s', conrelid::regclass, conname, pg_get_constraintdef(oid))
FROM pg_constraint WHERE contype IN ('p', 'u') AND conrelid = ANY($1::regclass[])
UNION ALL
SELECT 3, format('DROP INDEX %s', indexrelid::regclass), pg_get_indexdef(indexrelid)
FROM pg_index
WHERE indrelid = ANY($1::regclass[]) AND NOT EXISTS (SELECT FROM pg_constraint WHERE conindid = indexrelid)
ORDER BY 1
"""


def _timed(label: str, started: float) -> float:
    now = time.monotonic()
    print(f"  {label}: {now - started:.0f} s", flush=True)
    return now


async def seed(url: str, patients: int) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("SET maintenance_work_mem = '1GB'; SET max_parallel_maintenance_workers = 2")
        await conn.execute(PEOPLE_SQL)
        definitions = await conn.fetch(DEFINITIONS_SQL, list(TABLES))
        step = time.monotonic()
        async with conn.transaction():
            for row in definitions:
                await conn.execute(row["drop"])
            await conn.execute(PATIENTS_SQL, list(catalog.FIRST_NAMES), list(PREFIXES), list(SUFFIXES), patients)
            step = _timed(f"{patients:,} patients", step)
            await conn.execute(ENTRIES_SQL)
            step = _timed(f"{patients * 5:,} entries", step)
            for row in reversed(definitions):
                await conn.execute(row["make"])
            step = _timed(f"{len(definitions)} indexes and keys made again", step)
        await conn.execute(f"VACUUM ANALYZE {', '.join(TABLES)}")
        _timed("VACUUM ANALYZE", step)
    finally:
        await conn.close()


async def sign_in(url: str, signer: TokenSigner) -> str:
    conn = await asyncpg.connect(url)
    try:
        session_id = uuid.uuid4()
        await conn.execute("INSERT INTO login_sessions (id, user_id) VALUES ($1, $2)", session_id, DOCTOR_ID)
        return signer.issue_access(user_id=DOCTOR_ID, session_id=session_id)
    finally:
        await conn.close()


async def explain(url: str, token_claims: dict[str, uuid.UUID]) -> None:
    """The plans of the two hot statements, as the server runs them (one call each)."""
    conn = await asyncpg.connect(url)
    try:
        for title, statement, params in (
            (
                f"search, q={NAME_PARTS[0]!r}",
                patients_service.search_statement(q=True, phone=False, assigned=False),
                {"organization_id": CLINIC_ID, **patients_service.Terms.of(NAME_PARTS[0]).parameters()},
            ),
            (
                "entries page of patient 1",
                records_queries.page_statement(kind=False, include_superseded=False),
                {"patient_id": uuid.UUID(f"{PATIENT_IDS}{FIRST_PATIENT}"), "request_id": "bench-setup-explain"},
            ),
        ):
            arguments = statement.arguments(
                {"archived": False, "assigned_to": None, "offset": 0, "limit": 20, **params, **token_claims}
            )
            await conn.fetch(statement.sql, *arguments)  # warm
            rows = await conn.fetch(f"EXPLAIN (ANALYZE, COSTS OFF) {statement.sql}", *arguments)
            print(f"plan of the {title}:")
            print("\n".join(f"  {row[0]}" for row in rows))
    finally:
        await conn.close()


def endpoints(out: Path, token: str, patients: int) -> None:
    headers = f"Authorization: Bearer {token}"
    search = {
        "name": "search",
        "compare": "slots",
        "method": "GET",
        "path": f"/api/v1/organizations/{CLINIC_ID}/patients?q={{pick:{','.join(map(quote, NAME_PARTS))}}}",
        "headers": headers,
    }
    patient = f"{PATIENT_IDS}{{rand:{FIRST_PATIENT}:{FIRST_PATIENT + patients - 1}}}"
    entries = {
        "name": "entries",
        "compare": "slots",
        "method": "GET",
        "path": f"/api/v1/patients/{patient}/entries",
        "headers": headers,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "clinic.json").write_text(json.dumps([search, entries], indent=1))


def main() -> None:
    out = Path(sys.argv[1])
    dsn = os.environ["BENCH_DSN"]
    patients = int(os.environ.get("BENCH_PATIENTS", "1000000"))
    url = database_url(dsn, DATABASE)
    started = time.monotonic()
    asyncio.run(create_database(dsn, DATABASE))
    env = {**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "WARNING"}
    subprocess.run([str(ROOT / ".venv" / "bin" / "queueless"), "migrate"], env=env, check=True, cwd=ROOT, timeout=300)
    print(f"clinic setup: seeding {DATABASE}", flush=True)
    asyncio.run(seed(url, patients))
    settings = Settings(database_url=url, secret_key=os.environ["SECRET_KEY"])
    signer = TokenSigner(
        secret_key=os.environ["SECRET_KEY"],
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        access_ttl=timedelta(hours=3),
    )
    token = asyncio.run(sign_in(url, signer))
    claims = signer.verify_access(token)
    asyncio.run(explain(url, {"user_id": claims.user_id, "session_id": claims.session_id}))
    endpoints(out, token, patients)
    print(f"clinic setup: {DATABASE} seeded and endpoints written to {out} in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
