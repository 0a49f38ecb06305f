"""Clinic: patient search by a name part and a patient's entries page, at 64 connections.

    uv run python bench/clinic.py                                  # 1,000,000 patients, 5,000,000 entries
    uv run python bench/clinic.py --patients 100000 --duration 10  # a smaller run

What it does, all on this machine and bounded:
1. starts (or joins) an embedded PostgreSQL under --data-dir, migrates it;
2. seeds it in SQL unless it already holds the requested patients: one clinic ("one clinic group")
   with --patients patients (names from 40 first names x 900 surnames, so a surname part matches
   about a thousand patients, as in a real register) and five entries each (a diagnosis, a
   medication, two vital signs, a note), then VACUUM ANALYZE;
3. runs the app with uvicorn on 127.0.0.1 (one worker), signs up a doctor of that clinic;
4. runs `wrk` (64 connections, 1 thread, --duration seconds) on each endpoint, aiming at random
   surname parts and random patients through a Lua script, and prints req/s and p50/p99;
5. prints the plan of the search (EXPLAIN ANALYZE) to show the trigram index serving it.
The uvicorn process is stopped by its pid; the embedded server stops when this script exits.
Every read of the entries page writes its access-log row, as in production.
"""

import argparse
import asyncio
import json
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from insights import _libpq, free_port, start_server, wait_live  # noqa: E402

from app.core import embedded  # noqa: E402
from app.core.migrations import upgrade_head  # noqa: E402
from app.demo import catalog  # noqa: E402

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

SEED_SQL = """
INSERT INTO organizations (id, name, kind, timezone) VALUES ($1, 'Bench Clinic', 'clinic', 'Europe/Berlin');

INSERT INTO patients (id, organization_id, mrn, full_name, date_of_birth, sex, phone)
SELECT gen_random_uuid(), $1, 'B' || lpad(n::text, 8, '0'),
       ($2::text[])[1 + n % 40] || ' ' || ($3::text[])[1 + (n / 40) % 30] || ($4::text[])[1 + (n / 1200) % 30],
       DATE '1930-01-01' + (n::bigint * 7919 % 32000)::int, (ARRAY['female', 'male', 'other', 'unknown'])[1 + n % 4],
       '+49 30 ' || (1000000 + n)::text
FROM generate_series(1, $5::int) AS n;

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
) AS e;
"""


async def seed(url: str, patients: int) -> str:
    conn = await asyncpg.connect(_libpq(url))
    try:
        found = await conn.fetchrow("SELECT id FROM organizations WHERE name = 'Bench Clinic'")
        if found is not None:
            have = await conn.fetchval("SELECT count(*) FROM patients WHERE organization_id = $1", found["id"])
            if have != patients:
                raise SystemExit(f"the database holds {have:,} patients, not {patients:,}: use a fresh --data-dir")
            print(f"database already holds {have:,} patients: not seeding")
            return str(found["id"])
        clinic_id = __import__("uuid").uuid4()
        started = time.perf_counter()
        async with conn.transaction():
            for statement in SEED_SQL.split(";\n\n"):
                args = [clinic_id, list(catalog.FIRST_NAMES), list(PREFIXES), list(SUFFIXES), patients]
                used = sorted({int(n) for n in re.findall(r"\$(\d)", statement)})
                await conn.execute(statement, *[args[n - 1] for n in used])
        print(f"seeded in {time.perf_counter() - started:.0f} s; analysing")
        await conn.execute("VACUUM ANALYZE patients, medical_entries")
        counts = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM patients) AS patients, (SELECT count(*) FROM medical_entries) AS entries"
        )
        print("rows: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
        return str(clinic_id)
    finally:
        await conn.close()


async def doctor_headers(client: httpx.AsyncClient, url: str, clinic_id: str) -> dict[str, str]:
    email = f"bench-doctor-{time.time_ns()}@example.org"
    response = await client.post(
        "/api/v1/auth/register", json={"email": email, "password": "bench password 1", "full_name": "Dr. Bench"}
    )
    response.raise_for_status()
    conn = await asyncpg.connect(_libpq(url))
    try:
        await conn.execute(
            "INSERT INTO memberships (organization_id, user_id, role, clinical_role)"
            " SELECT $1, id, 'staff', 'doctor' FROM users WHERE email = $2",
            __import__("uuid").UUID(clinic_id),
            email,
        )
    finally:
        await conn.close()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


LUA = """
local paths = {%s}
local token = "%s"
wrk.headers["Authorization"] = "Bearer " .. token
math.randomseed(%d)
request = function()
    return wrk.format("GET", paths[math.random(#paths)])
end
local shown = false
response = function(status, headers, body)
    if status ~= 200 and not shown then
        shown = true
        io.write("first failure: " .. status .. " " .. body .. "\\n")
    end
end
"""


def run_wrk(port: int, paths: list[str], token: str, duration: int) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(LUA % (", ".join(json.dumps(p) for p in paths), token, random.randrange(1 << 30)))
    command = [
        "wrk", "-t1", "-c64", f"-d{duration}s", "--latency", "--timeout", "10s", "-s", script.name,
        f"http://127.0.0.1:{port}",
    ]  # fmt: skip
    output = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60, check=True).stdout
    Path(script.name).unlink()
    Path(tempfile.gettempdir(), "clinic-wrk-last.txt").write_text(output)

    def latency(label: str) -> float:
        match = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
        assert match, output
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if errors:
        print(re.findall(r"first failure: .*", output))
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),  # type: ignore[union-attr]
        "p50_ms": latency("50%"),
        "p99_ms": latency("99%"),
        "non_2xx": float(errors.group(1)) if errors else 0.0,
    }


async def explain(url: str, clinic_id: str, q: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect
    from sqlalchemy.ext.asyncio import create_async_engine

    from app.services.patients import service as patients_service
    from app.services.patients.models import Patient

    query = (
        patients_service.search_query(
            organization_id=__import__("uuid").UUID(clinic_id), q=q, assigned_to=None, archived=False
        )
        .order_by(Patient.full_name, Patient.id)
        .limit(20)
    )
    sql = query.compile(dialect=asyncpg_dialect.dialect(), compile_kwargs={"literal_binds": True})
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(text(f"EXPLAIN (ANALYZE, COSTS OFF) {sql}"))).scalars().all()
            print("\n".join(f"  {row}" for row in rows))
    finally:
        await engine.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=1_000_000)
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/queueless-bench-clinic"))
    parser.add_argument("--duration", type=int, default=10)
    args = parser.parse_args()
    if not 1000 <= args.patients <= 2_000_000 or not 1 <= args.duration <= 120:
        raise SystemExit("--patients 1,000..2,000,000, --duration 1..120")
    admin_uri = await asyncio.to_thread(embedded.start, args.data_dir)
    await embedded.ensure_database(admin_uri, "queueless_bench")
    url = embedded.with_database(admin_uri, "queueless_bench")
    await asyncio.to_thread(upgrade_head, url)
    clinic_id = await seed(url, args.patients)
    conn = await asyncpg.connect(_libpq(url))
    try:
        sample = [str(r["id"]) for r in await conn.fetch("SELECT id FROM patients TABLESAMPLE SYSTEM (1) LIMIT 2000")]
    finally:
        await conn.close()
    # A surname's inside, e.g. "delman" (of Adelmann): about 1/900 of the patients.
    parts = [f"{p[1:]}{s[:3]}".lower() for p in PREFIXES[:10] for s in SUFFIXES[:10]]
    port = free_port()
    process = start_server(url, args.data_dir, port)
    results = {}
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            await wait_live(client, process)
            headers = await doctor_headers(client, url, clinic_id)
            search = [f"/api/v1/organizations/{clinic_id}/patients?q={quote(q)}" for q in parts]
            entries = [f"/api/v1/patients/{p}/entries" for p in sample]
            for path in (search[0], entries[0]):
                response = await client.get(path, headers=headers)
                response.raise_for_status()
                print(f"{path}: total {response.json()['total']}")
            token = headers["Authorization"].split()[1]
            for name, paths in (("search by name part", search), ("entries page", entries)):
                results[name] = run_wrk(port, paths, token, args.duration)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    print(f"{args.patients:,} patients, 64 connections, {args.duration} s per endpoint, 1 uvicorn worker")
    print(f"{'endpoint':<22} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8}")
    for name, r in results.items():
        print(f"{name:<22} {r['rps']:>8.0f} {r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f} {r['non_2xx']:>8.0f}")
    print(f"plan of the search for q={parts[0]!r}:")
    await explain(url, clinic_id, parts[0])


if __name__ == "__main__":
    asyncio.run(main())
