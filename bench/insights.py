"""Insights endpoints over 90 days on a database of at least 1,000,000 appointments.

    uv run python bench/insights.py                       # seed once (~2-4 min), then measure
    uv run python bench/insights.py --requests 50 --explain

What it does, all on this machine and bounded:
1. starts (or joins) an embedded PostgreSQL under --data-dir (Unix socket only), migrates it;
2. seeds it in SQL (INSERT ... SELECT generate_series, no Python loops) unless it already holds
   the requested number of appointments: 100 organizations x 10 services, 20,000 citizens, N
   appointments spread over 360 days (270 past, 90 ahead), one organization holding 10% of them
   (the one measured: the worst case), their status history (booked, then checked in, started,
   completed / cancelled / no-show) and ratings of a third of the completed visits;
3. runs the app with uvicorn on 127.0.0.1 (a free port), signs up an administrator;
4. requests each endpoint --warmup times, then --requests times one after the other, the range
   being the last 90 days (today included), and prints p50 / p95 / max per endpoint;
5. with --explain, prints the indexes each query's plan used (EXPLAIN ANALYZE).
The uvicorn process is stopped by its pid; the embedded server stops when this script exits.
Results and notes: bench/INSIGHTS.md.
"""

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lib.server import wait_live  # noqa: E402

from app.core import embedded  # noqa: E402
from app.core.migrations import upgrade_head  # noqa: E402

ORGS = 100
SERVICES_PER_ORG = 10
CITIZENS = 20_000
SPREAD_DAYS = 360
PAST_DAYS = 270

SEED_SQL = """
SELECT setseed(0.42);

INSERT INTO users (id, email, password_hash, full_name)
SELECT gen_random_uuid(), 'citizen' || g || '@bench.invalid', 'x', 'Citizen ' || g
FROM generate_series(1, {citizens}) AS g;

INSERT INTO organizations (id, name, kind, timezone)
SELECT gen_random_uuid(), 'Organization ' || g, 'government',
       (ARRAY['Europe/Paris', 'America/New_York', 'Asia/Tokyo', 'UTC'])[1 + g % 4]
FROM generate_series(0, {orgs} - 1) AS g;

CREATE TEMP TABLE bench_orgs AS
SELECT id, row_number() OVER (ORDER BY name COLLATE "C") - 1 AS idx FROM organizations;

INSERT INTO services (id, organization_id, name, duration_minutes, capacity)
SELECT gen_random_uuid(), o.id, 'Service ' || o.idx || '.' || s, 30, 5
FROM bench_orgs AS o CROSS JOIN generate_series(0, {services_per_org} - 1) AS s;

CREATE TEMP TABLE bench_services AS
SELECT s.id, s.organization_id, o.idx * {services_per_org} + row_number() OVER (PARTITION BY o.idx ORDER BY s.name) - 1
    AS idx
FROM services AS s JOIN bench_orgs AS o ON o.id = s.organization_id;
CREATE UNIQUE INDEX ON bench_services (idx);

CREATE TEMP TABLE bench_citizens AS
SELECT id, row_number() OVER (ORDER BY email) - 1 AS idx FROM users WHERE email LIKE '%@bench.invalid';
CREATE UNIQUE INDEX ON bench_citizens (idx);

-- Start times step by a fixed interval so that one citizen's appointments (every CITIZENS-th)
-- are days apart: the citizen overlap constraint holds by construction.
-- Every 10th appointment goes to organization 0 (the measured one), the rest to the 99 others.
INSERT INTO appointments (id, reference, service_id, organization_id, citizen_id, starts_at, ends_at,
                          status, created_at, updated_at)
SELECT gen_random_uuid(), 'B' || lpad(to_hex(x.g), 10, '0'), s.id, s.organization_id, c.id,
       x.starts_at, x.starts_at + interval '30 minutes',
       CASE WHEN x.starts_at > now() THEN 'booked'
            WHEN x.r < 0.70 THEN 'completed'
            WHEN x.r < 0.85 THEN 'cancelled'
            WHEN x.r < 0.95 THEN 'no_show'
            ELSE 'completed' END,
       x.starts_at - make_interval(hours => 1 + (x.r2 * 24 * 14)::int),
       now()
FROM (
    SELECT g,
           date_trunc('minute', now() - interval '{past_days} days'
                      + make_interval(secs => g * ({spread_days} * 86400.0 / {n}))) AS starts_at,
           CASE WHEN g % 10 = 0 THEN 0 ELSE 1 + g % ({orgs} - 1) END AS org_idx,
           random() AS r, random() AS r2
    FROM generate_series(1, {n}) AS g
) AS x
JOIN bench_services AS s ON s.idx = x.org_idx * {services_per_org} + (x.g / 10) % {services_per_org}
JOIN bench_citizens AS c ON c.idx = x.g % {citizens};

INSERT INTO appointment_events (appointment_id, from_status, to_status, actor_id, at)
SELECT a.id, e.from_status, e.to_status, a.citizen_id, e.at
FROM appointments AS a
CROSS JOIN LATERAL (VALUES
    (1, NULL, 'booked', a.created_at),
    (2, 'booked', 'checked_in', a.starts_at - interval '10 minutes'),
    (3, 'checked_in', 'in_progress', a.starts_at + make_interval(mins => (random() * 20)::int)),
    (4, 'in_progress', 'completed', a.starts_at + make_interval(mins => 25 + (random() * 20)::int)),
    (5, 'booked', 'cancelled', a.starts_at - make_interval(hours => (random() * 48)::int)),
    (6, 'booked', 'no_show', a.starts_at + interval '30 minutes')
) AS e(step, from_status, to_status, at)
WHERE e.step = 1
   OR (a.status = 'completed' AND e.step IN (2, 3, 4))
   OR (a.status = 'cancelled' AND e.step = 5)
   OR (a.status = 'no_show' AND e.step = 6);

INSERT INTO ratings (id, appointment_id, service_id, organization_id, citizen_id, score, created_at)
SELECT gen_random_uuid(), a.id, a.service_id, a.organization_id, a.citizen_id, 1 + (random() * 4)::int, a.ends_at
FROM appointments AS a
WHERE a.status = 'completed' AND random() < 0.33;

UPDATE services AS s SET rating_count = r.n, rating_total = r.total
FROM (SELECT service_id, count(*) AS n, sum(score) AS total FROM ratings GROUP BY service_id) AS r
WHERE r.service_id = s.id;
"""


def _libpq(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://").replace(":@", "@")


async def seed(url: str, n: int) -> None:
    conn = await asyncpg.connect(_libpq(url))
    try:
        have = await conn.fetchval("SELECT count(*) FROM appointments")
        if have >= n:
            print(f"database already holds {have:,} appointments: not seeding")
            return
        if have:
            raise SystemExit(f"database holds {have:,} appointments (< {n:,}); use a fresh --data-dir")
        sql = SEED_SQL.format(
            n=n,
            orgs=ORGS,
            services_per_org=SERVICES_PER_ORG,
            citizens=CITIZENS,
            spread_days=SPREAD_DAYS,
            past_days=PAST_DAYS,
        )
        started = time.perf_counter()
        async with conn.transaction():
            await conn.execute(sql)
        print(f"seeded in {time.perf_counter() - started:.0f} s; analysing")
        await conn.execute("VACUUM ANALYZE")
        counts = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM appointments) AS appointments,"
            " (SELECT count(*) FROM appointment_events) AS events, (SELECT count(*) FROM ratings) AS ratings"
        )
        print("rows: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    finally:
        await conn.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(url: str, data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = os.environ | {
        "DATABASE_URL": url,
        "DATA_DIR": str(data_dir / "app"),
        "SECRET_KEY": "bench-" + "k" * 40,
        "LOG_LEVEL": "WARNING",
        "NOTIFICATION_WORKERS": "false",
        "REGISTRATIONS_PER_ADDRESS_PER_HOUR": "100000",
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "app.main:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
        ],
        cwd=ROOT,
        env=env,
    )


async def admin_headers(client: httpx.AsyncClient, url: str) -> dict[str, str]:
    email = f"bench-admin-{time.time_ns()}@example.org"
    response = await client.post(
        "/api/v1/auth/register", json={"email": email, "password": "bench password 1", "full_name": "Bench"}
    )
    response.raise_for_status()
    conn = await asyncpg.connect(_libpq(url))
    try:
        await conn.execute("UPDATE users SET role = 'admin' WHERE email = $1", email)
    finally:
        await conn.close()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def measure(
    client: httpx.AsyncClient, path: str, params: dict[str, str], headers: dict[str, str], warmup: int, requests: int
) -> dict[str, Any]:
    for _ in range(warmup):
        (await client.get(path, params=params, headers=headers)).raise_for_status()
    timings = []
    for _ in range(requests):
        started = time.perf_counter()
        response = await client.get(path, params=params, headers=headers)
        timings.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    timings.sort()
    return {
        "p50_ms": round(statistics.median(timings), 1),
        "p95_ms": round(timings[min(len(timings) - 1, int(len(timings) * 0.95))], 1),
        "max_ms": round(timings[-1], 1),
        "bytes": len(response.content),
    }


def _index_names(plan: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(plan, dict):
        if "Index Name" in plan:
            found.add(f"{plan['Index Name']} ({plan['Node Type']})")
        for value in plan.values():
            found |= _index_names(value)
    elif isinstance(plan, list):
        for value in plan:
            found |= _index_names(value)
    return found


async def explain(url: str, org_id: str, timezone: str, first: date, last: date) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from app.services.insights import service as insights_service

    engine = create_async_engine(url)
    queries = {
        "summary": (insights_service._ORG_SUMMARY, org_id, timezone),
        "daily": (insights_service._DAILY, org_id, timezone),
        "services": (insights_service._SERVICES, org_id, timezone),
        "peak-hours": (insights_service._PEAK_HOURS, org_id, timezone),
        "admin summary": (insights_service._PLATFORM_SUMMARY, None, "UTC"),
    }
    try:
        async with engine.connect() as conn:
            for name, (query, org, tz) in queries.items():
                params = {"org": org, "tz": tz, "d_from": first, "d_to": last}
                result = await conn.execute(text("EXPLAIN (ANALYZE, FORMAT JSON) " + query.text), params)
                plan = result.scalar_one()
                plan = json.loads(plan) if isinstance(plan, str) else plan
                runtime = plan[0]["Execution Time"]
                print(f"  {name:<14} {runtime:7.1f} ms in PostgreSQL; indexes: {', '.join(sorted(_index_names(plan)))}")
    finally:
        await engine.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--appointments", type=int, default=1_000_000)
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/queueless-bench-insights"))
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--explain", action="store_true")
    args = parser.parse_args()
    if not 1 <= args.requests <= 1000 or not 0 <= args.warmup <= 100 or not 1 <= args.days <= 366:
        raise SystemExit("--requests 1..1000, --warmup 0..100, --days 1..366")

    admin_uri = await asyncio.to_thread(embedded.start, args.data_dir)
    await embedded.ensure_database(admin_uri, "queueless_bench")
    url = embedded.with_database(admin_uri, "queueless_bench")
    await asyncio.to_thread(upgrade_head, url)
    await seed(url, args.appointments)

    conn = await asyncpg.connect(_libpq(url))
    try:
        org = await conn.fetchrow("SELECT o.id, o.timezone FROM organizations AS o WHERE o.name = 'Organization 0'")
        total = await conn.fetchval("SELECT count(*) FROM appointments")
    finally:
        await conn.close()
    last = date.today()
    first = last - timedelta(days=args.days - 1)
    params = {"from": first.isoformat(), "to": last.isoformat()}

    port = free_port()
    process = start_server(url, args.data_dir, port)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            await wait_live(client, process, within=90)
            headers = await admin_headers(client, url)
            prefix = f"/api/v1/organizations/{org['id']}/insights"
            endpoints = {
                "summary": f"{prefix}/summary",
                "daily": f"{prefix}/daily",
                "services": f"{prefix}/services",
                "peak-hours": f"{prefix}/peak-hours",
                "summary csv": f"{prefix}/summary",
                "admin summary": "/api/v1/admin/insights/summary",
            }
            in_range = await _count_in_range(url, org["id"], org["timezone"], first, last)
            print(
                f"{total:,} appointments; range {first} .. {last} ({args.days} days); organization 0 "
                f"({org['timezone']}) has {in_range[0]:,} in the range, the platform {in_range[1]:,}"
            )
            print(f"{'endpoint':<14} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}   ({args.requests} sequential requests)")
            results = {}
            for name, path in endpoints.items():
                query = params | ({"format": "csv"} if name.endswith("csv") else {})
                results[name] = await measure(client, path, query, headers, args.warmup, args.requests)
                r = results[name]
                print(f"{name:<14} {r['p50_ms']:>8} {r['p95_ms']:>8} {r['max_ms']:>8}")
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if args.explain:
        print("plans (EXPLAIN ANALYZE, same range):")
        await explain(url, str(org["id"]), org["timezone"], first, last)
    slow = [name for name, r in results.items() if r["p50_ms"] >= 300]
    print("p50 < 300 ms for every endpoint" if not slow else f"p50 >= 300 ms: {', '.join(slow)}")


async def _count_in_range(url: str, org_id: Any, timezone: str, first: date, last: date) -> tuple[int, int]:
    conn = await asyncpg.connect(_libpq(url))
    try:
        lo = "($2::date::timestamp AT TIME ZONE $3)"
        hi = "(($4::date + 1)::timestamp AT TIME ZONE $3)"
        org_count = await conn.fetchval(
            f"SELECT count(*) FROM appointments WHERE organization_id = $1 AND starts_at >= {lo} AND starts_at < {hi}",
            org_id,
            first,
            timezone,
            last,
        )
        platform = await conn.fetchval(
            "SELECT count(*) FROM appointments WHERE starts_at >= $1::date AND starts_at < $2::date + 1", first, last
        )
        return int(org_count), int(platform)
    finally:
        await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
