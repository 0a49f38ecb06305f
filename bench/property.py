"""Property: the public project search, a project's unit list, and the hold race under load.

    uv run python bench/property.py --database-url postgresql://postgres@127.0.0.1:5432/queueless_property_bench
    uv run python bench/property.py --database-url ... --projects 10000 --units-per-project 100   # full scale

What it does, on this machine and bounded:
1. creates the database if needed and migrates it; seeds it in SQL (INSERT ... SELECT
   generate_series) unless it already holds the requested scale: one builder, --projects published
   projects over 20 cities, --units-per-project units each (random type, bedrooms, price);
2. runs the app with uvicorn on 127.0.0.1 (--workers processes, 1 by default) and signs in --holders customers (session
   rows and access tokens signed with the server's key);
3. reads: wrk, --connections connections for --duration seconds each, on
   `GET /projects?city=&min_price=&max_price=&bedrooms=` (random filters per request) and on
   `GET /projects/{id}/units?page=` (random project and page), printing req/s and p50/p99;
4. the hold race: --connections concurrent clients holding random units of a pool of
   --race-units units (so most requests collide) for --duration seconds, then checks in SQL that
   no unit has two running holds or a running hold beside an active booking, and that the number
   of 201s equals the holds stored.
The uvicorn process is stopped by its pid. Results and notes: bench/PROPERTY.md.
"""

import argparse
import asyncio
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.core.migrations import upgrade_head  # noqa: E402
from app.core.security import TokenSigner  # noqa: E402
from app.core.settings import Settings, to_asyncpg_url  # noqa: E402

SECRET = "bench-property-" + "k" * 40
CITIES = [
    "Riverton", "Lisbon", "Porto", "Manchester", "Bristol", "Leeds", "Madrid", "Valencia", "Berlin", "Hamburg",
    "Vienna", "Prague", "Warsaw", "Dublin", "Cork", "Milan", "Turin", "Lyon", "Nantes", "Ghent",
]  # fmt: skip
BUILDER_EMAIL = "builder@bench.invalid"

SEED_SQL = """
SELECT setseed(0.2);
INSERT INTO organizations (id, name, kind, timezone, email)
VALUES (gen_random_uuid(), 'Bench Builders', 'property', 'Europe/London', '{builder}');
INSERT INTO property_settings (organization_id, hold_minutes, max_holds_per_customer)
SELECT id, 1440, 20 FROM organizations WHERE email = '{builder}';
INSERT INTO projects (id, organization_id, name, city, address, status, currency, published, created_at)
SELECT gen_random_uuid(), o.id, 'Project ' || g, (ARRAY[{cities}])[1 + g % 20], g || ' Bench Street',
       (ARRAY['planned', 'under_construction'])[1 + g % 2], 'EUR', true, now() - make_interval(mins => g)
FROM organizations AS o, generate_series(1, {projects}) AS g WHERE o.email = '{builder}';
INSERT INTO units (id, project_id, organization_id, code, type, floor, bedrooms, area_m2, price)
SELECT gen_random_uuid(), p.id, p.organization_id, 'U-' || lpad(u::text, 4, '0'),
       (ARRAY['apartment', 'apartment', 'villa', 'house', 'office', 'parking'])[1 + u % 6],
       u / 8, u % 6, 40 + (u % 6) * 25, 100000 + floor(random() * 900000)::int
FROM projects AS p, generate_series(1, {units}) AS u
ORDER BY p.id, u;  -- a project's units side by side, as a builder adds them
"""

WRK_SCRIPT = """
local paths = {{{paths}}}
request = function()
  return wrk.format("GET", paths[math.random(#paths)])
end
"""


def libpq(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://").replace(":@", "@")


async def prepare(url: str, *, projects: int, units: int) -> None:
    admin = libpq(url).rsplit("/", 1)[0] + "/postgres"
    name = libpq(url).rsplit("/", 1)[1].split("?")[0]
    conn = await asyncpg.connect(admin)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    await asyncio.to_thread(upgrade_head, to_asyncpg_url(url))
    conn = await asyncpg.connect(libpq(url))
    try:
        have = await conn.fetchval("SELECT count(*) FROM units")
        if have >= projects * units:
            print(f"database already holds {have:,} units: not seeding")
        else:
            started = time.monotonic()
            await conn.execute("TRUNCATE organizations CASCADE")
            cities = ", ".join(f"'{city}'" for city in CITIES)
            await conn.execute(SEED_SQL.format(builder=BUILDER_EMAIL, cities=cities, projects=projects, units=units))
            await conn.execute("VACUUM (ANALYZE) projects, units, holds, bookings")
            print(f"seeded {projects:,} projects and {projects * units:,} units in {time.monotonic() - started:.0f} s")
        # Every run starts from free units: the previous race's holds are removed.
        await conn.execute("UPDATE units SET hold_id = NULL, held_until = NULL WHERE hold_id IS NOT NULL")
        await conn.execute("DELETE FROM holds")
    finally:
        await conn.close()


async def sign_in(url: str, count: int) -> list[str]:
    settings = Settings(database_url=url, secret_key=SECRET)
    signer = TokenSigner(
        secret_key=SECRET, issuer=settings.jwt_issuer, audience=settings.jwt_audience, access_ttl=timedelta(hours=2)
    )
    conn = await asyncpg.connect(libpq(url))
    tokens = []
    try:
        for n in range(count):
            email = f"holder{n}@bench.invalid"
            user_id = await conn.fetchval(
                "INSERT INTO users (id, email, password_hash, full_name) VALUES ($1, $2, 'x', $3)"
                " ON CONFLICT (email) DO UPDATE SET full_name = excluded.full_name RETURNING id",
                uuid.uuid4(),
                email,
                f"Holder {n}",
            )
            session_id = uuid.uuid4()
            await conn.execute("INSERT INTO login_sessions (id, user_id) VALUES ($1, $2)", session_id, user_id)
            tokens.append(signer.issue_access(user_id=user_id, session_id=session_id))
    finally:
        await conn.close()
    return tokens


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(url: str, port: int, data_dir: str, workers: int) -> subprocess.Popen[bytes]:
    env = os.environ | {
        "DATABASE_URL": url,
        "DATA_DIR": data_dir,
        "SECRET_KEY": SECRET,
        "LOG_LEVEL": "WARNING",
        "ENVIRONMENT": "production",
        # The PostgreSQL server is shared: 16 connections per process are plenty on 2 cores.
        "DB_POOL_SIZE": "16",
    }
    command = [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(port)]
    options = ["--workers", str(workers), "--timeout-keep-alive", "60", "--no-access-log"]
    return subprocess.Popen([*command, *options], cwd=ROOT, env=env)


async def wait_live(base: str, process: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient(base_url=base) as client:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SystemExit("the server exited")
            try:
                if (await client.get("/health/ready")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.3)
    raise SystemExit("the server did not start within 90 s")


def wrk(base: str, paths: list[str], *, connections: int, duration: int, label: str) -> None:
    script = WRK_SCRIPT.format(paths=", ".join(f'"{p}"' for p in paths))
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        # Warm-up, then the measured run.
        subprocess.run(["wrk", "-t1", f"-c{connections}", "-d3s", "-s", handle.name, base], capture_output=True)
        out = subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "-s", handle.name, base],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(handle.name)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"50%\s+(\S+)", out)
    p99 = re.search(r"99%\s+(\S+)", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    print(
        f"{label}: {float(rate.group(1)) if rate else 0:,.0f} req/s, p50 {p50.group(1) if p50 else '?'},"
        f" p99 {p99.group(1) if p99 else '?'}, non-2xx {errors.group(1) if errors else 0}"
    )


async def read_paths(url: str, rng: random.Random) -> tuple[list[str], list[str]]:
    conn = await asyncpg.connect(libpq(url))
    try:
        ids = [r[0] for r in await conn.fetch("SELECT id FROM projects ORDER BY random() LIMIT 2000")]
        per_project = await conn.fetchval("SELECT count(*) FROM units WHERE project_id = $1", ids[0])
    finally:
        await conn.close()
    search = []
    for _ in range(2000):
        low = rng.randrange(100_000, 800_000, 10_000)
        search.append(
            f"/api/v1/projects?city={rng.choice(CITIES).lower()}&min_price={low}"
            f"&max_price={low + rng.randrange(50_000, 300_000, 10_000)}&bedrooms={rng.randrange(0, 6)}"
        )
    pages = max(1, per_project // 20)
    units = [f"/api/v1/projects/{rng.choice(ids)}/units?page={rng.randrange(1, pages + 1)}" for _ in range(2000)]
    return search, units


async def hold_race(url: str, base: str, tokens: list[str], *, units: int, connections: int, duration: int) -> None:
    conn = await asyncpg.connect(libpq(url))
    try:
        pool = [str(r[0]) for r in await conn.fetch("SELECT id FROM units ORDER BY random() LIMIT $1", units)]
    finally:
        await conn.close()
    codes: Counter[int] = Counter()
    latencies: list[float] = []
    transport_errors: list[int] = []
    deadline = time.monotonic() + duration

    async def worker(client: httpx.AsyncClient, rng: random.Random) -> None:
        while time.monotonic() < deadline:
            token = rng.choice(tokens)
            started = time.monotonic()
            try:
                response = await client.post(
                    f"/api/v1/units/{rng.choice(pool)}/holds", headers={"Authorization": f"Bearer {token}"}, json={}
                )
            except httpx.TransportError:
                # A kept-alive connection the server closed: the hold may or may not have been
                # made, which the SQL check below does not mind (it counts stored holds).
                transport_errors.append(1)
                continue
            latencies.append(time.monotonic() - started)
            codes[response.status_code] += 1

    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        await asyncio.gather(*(worker(client, random.Random(n)) for n in range(connections)))
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99)] * 1000 if latencies else 0
    print(
        f"hold race: {sum(codes.values()):,} requests, {dict(codes)}, p99 {p99:.0f} ms,"
        f" {len(transport_errors)} transport errors"
    )
    conn = await asyncpg.connect(libpq(url))
    try:
        doubles = await conn.fetchval(
            "SELECT count(*) FROM (SELECT unit_id FROM holds WHERE state = 'active' AND expires_at > now()"
            " GROUP BY unit_id HAVING count(*) > 1) AS d"
        )
        beside_booking = await conn.fetchval(
            "SELECT count(*) FROM holds h JOIN bookings b ON b.unit_id = h.unit_id"
            " WHERE h.state = 'active' AND h.expires_at > now() AND b.status IN ('reserved', 'sold')"
        )
        stored = await conn.fetchval("SELECT count(*) FROM holds")
        unit_rows = await conn.fetchval("SELECT count(*) FROM units WHERE held_until > now()")
    finally:
        await conn.close()
    ok = doubles == 0 and beside_booking == 0 and stored == unit_rows and codes[201] <= stored
    print(
        f"hold race check (SQL): units with two running holds {doubles}, running holds beside an active booking"
        f" {beside_booking}, 201s {codes[201]} <= holds stored {stored} = units held {unit_rows}:"
        f" {'OK' if ok else 'FAILED'}"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--projects", type=int, default=1000)
    parser.add_argument("--units-per-project", type=int, default=100)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--holders", type=int, default=300)
    parser.add_argument("--race-units", type=int, default=300)
    parser.add_argument(
        "--workers", type=int, default=1, help="uvicorn worker processes (2: holds race across processes)"
    )
    args = parser.parse_args()
    await prepare(args.database_url, projects=args.projects, units=args.units_per_project)
    tokens = await sign_in(args.database_url, args.holders)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as data_dir:
        process = start_server(args.database_url, port, data_dir, args.workers)
        try:
            await wait_live(base, process)
            search, units = await read_paths(args.database_url, random.Random(7))
            common = {"connections": args.connections, "duration": args.duration}
            wrk(base, search, label="GET /projects?city=&min_price=&max_price=&bedrooms=", **common)
            wrk(base, units, label="GET /projects/{id}/units?page=", **common)
            await hold_race(args.database_url, base, tokens, units=args.race_units, **common)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


if __name__ == "__main__":
    asyncio.run(main())
