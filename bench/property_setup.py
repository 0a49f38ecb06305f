"""The setup of bench/property.sh: a property database beside the baseline's, and its requests.

Runs after bench/lib/pg.sh has started the throwaway cluster (BENCH_DSN). Creates the database
`queueless_property` in it, migrates it and seeds it in SQL: one builder (holds last a day, at
most 20 a customer), BENCH_PROJECTS published projects (10,000) over 20 cities (`City1` ..
`City20`) with fixed ids (`00000000-0000-4000-b000-1000000NNNNN`, so that `{rand:A:B}` can aim at
real projects), and BENCH_UNITS_PER_PROJECT units each (100: 1,000,000 units) with random type,
bedrooms (0-5) and price (100,000-999,999), inserted through the real triggers that keep
`unit_stock`. It then signs in BENCH_HOLDERS customers (300) for the hold race (session rows +
access tokens signed with SECRET_KEY, as the server will verify them) and writes:

- OUT_DIR/property.json, the requests for bench/lib/loadrun.py, each measured beside the
  baseline's list (`slots`): `search` (a random city, price band and bedroom count) and `units`
  (a random project's page 1-5 of 20 units);
- OUT_DIR/property-holders.json, the customers' tokens, for bench/property.py (the race).

SMOKE=1: 1,000 projects (100,000 units). Usage: property_setup.py OUT_DIR
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

import asyncpg
from lib.database import create_database, database_url

from app.core.security import TokenSigner
from app.core.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
DATABASE = "queueless_property"
CITIES = 20
FIRST_PROJECT = 100_000_000_001  # the last 12 digits of the first project's id
PAGES = 5  # pages of 20 units the `units` row reads (a project has 100)

SEED_SQL = """
SELECT setseed(0.2);
INSERT INTO organizations (id, name, kind, timezone, email)
VALUES ('{builder}', 'Bench Builders', 'property', 'Europe/London', 'builder@bench.invalid');
INSERT INTO property_settings (organization_id, hold_minutes, max_holds_per_customer) VALUES ('{builder}', 1440, 20);
INSERT INTO projects (id, organization_id, name, city, address, status, currency, published, created_at)
SELECT ('00000000-0000-4000-b000-' || ({first} + g - 1))::uuid, '{builder}', 'Project ' || g,
       'City' || (1 + g % {cities}), g || ' Bench Street', (ARRAY['planned', 'under_construction'])[1 + g % 2],
       'EUR', true, now() - make_interval(mins => g)
FROM generate_series(1, {projects}) AS g;
INSERT INTO units (id, project_id, organization_id, code, type, floor, bedrooms, area_m2, price)
SELECT gen_random_uuid(), p.id, p.organization_id, 'U-' || lpad(u::text, 4, '0'),
       (ARRAY['apartment', 'apartment', 'villa', 'house', 'office', 'parking'])[1 + u % 6],
       u / 8, u % 6, 40 + (u % 6) * 25, 100000 + floor(random() * 900000)::int
FROM projects AS p, generate_series(1, {units}) AS u
ORDER BY p.id, u;  -- a project's units side by side, as a builder adds them
"""


async def seed(url: str, *, projects: int, units: int) -> None:
    conn = await asyncpg.connect(url)
    try:
        sql = SEED_SQL.format(builder=uuid.uuid4(), first=FIRST_PROJECT, cities=CITIES, projects=projects, units=units)
        await conn.execute(sql)
        await conn.execute("VACUUM (ANALYZE) projects, units, unit_stock")
    finally:
        await conn.close()


async def sign_in(url: str, signer: TokenSigner, count: int) -> list[str]:
    conn = await asyncpg.connect(url)
    try:
        tokens = []
        for n in range(count):
            user_id, session_id = uuid.uuid4(), uuid.uuid4()
            await conn.execute(
                "INSERT INTO users (id, email, password_hash, full_name) VALUES ($1, $2, 'x', $3)",
                user_id,
                f"holder{n}@bench.invalid",
                f"Holder {n}",
            )
            await conn.execute("INSERT INTO login_sessions (id, user_id) VALUES ($1, $2)", session_id, user_id)
            tokens.append(signer.issue_access(user_id=user_id, session_id=session_id))
        return tokens
    finally:
        await conn.close()


def _rand(low: int, high: int) -> str:
    """bench/lib/wrk.lua's placeholder: an integer in [low, high] per request."""
    return "{rand:" + f"{low}:{high}" + "}"


def endpoints(out: Path, *, projects: int) -> None:
    # Bands from 100,000-790,000 up to 200,000-990,000 (about one in seven is empty: max < min).
    search = {
        "name": "search",
        "compare": "slots",
        "method": "GET",
        "path": f"/api/v1/projects?city=city{_rand(1, CITIES)}&min_price={_rand(10, 79)}0000"
        f"&max_price={_rand(20, 99)}0000&bedrooms={_rand(0, 5)}",
    }
    project = "00000000-0000-4000-b000-" + _rand(FIRST_PROJECT, FIRST_PROJECT + projects - 1)
    units = {
        "name": "units",
        "compare": "slots",
        "method": "GET",
        "path": f"/api/v1/projects/{project}/units?page={_rand(1, PAGES)}",
    }
    (out / "property.json").write_text(json.dumps([search, units], indent=1))


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    smoke = os.environ.get("SMOKE") == "1"
    projects = int(os.environ.get("BENCH_PROJECTS", "1000" if smoke else "10000"))
    per_project = int(os.environ.get("BENCH_UNITS_PER_PROJECT", "100"))
    dsn = os.environ["BENCH_DSN"]
    url = database_url(dsn, DATABASE)
    started = time.monotonic()
    asyncio.run(create_database(dsn, DATABASE))
    env = {**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "WARNING"}
    subprocess.run([str(ROOT / ".venv" / "bin" / "queueless"), "migrate"], env=env, check=True, cwd=ROOT, timeout=300)
    asyncio.run(seed(url, projects=projects, units=per_project))
    seeded = time.monotonic() - started
    settings = Settings(database_url=url, secret_key=os.environ["SECRET_KEY"])
    signer = TokenSigner(
        secret_key=os.environ["SECRET_KEY"],
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        access_ttl=timedelta(hours=3),
    )
    tokens = asyncio.run(sign_in(url, signer, int(os.environ.get("BENCH_HOLDERS", "300"))))
    (out / "property-holders.json").write_text(json.dumps(tokens))
    endpoints(out, projects=projects)
    print(
        f"property setup: {projects:,} projects and {projects * per_project:,} units seeded in {seeded:.0f} s,"
        f" {len(tokens)} holders signed in, endpoints written to {out}"
    )


if __name__ == "__main__":
    main()
