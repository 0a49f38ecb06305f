"""The setup of bench/booking.sh and bench/same_sql.sh: a database of the project beside the baseline's.

Runs after bench/lib/pg.sh has started the throwaway cluster and loaded the baseline's tables
into its `postgres` database (BENCH_DSN). Creates a database `queueless_bench` in the same
cluster, migrates it, seeds it with `queueless seed-demo` (1,000,000 appointments over 1,000
services by default), signs in two bench citizens (session rows + access tokens signed with
SECRET_KEY, as the server will verify them) and writes the requests for bench/lib/loadrun.py
(OUT_DIR/booking.json), each naming the baseline request it is measured beside (`compare`).

Environment: BENCH_DSN, SECRET_KEY, BENCH_APPOINTMENTS (1000000), BENCH_SERVICES (1000),
BENCH_CITIZENS (10000). Usage: booking_setup.py OUT_DIR
"""

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
from lib.database import create_database, database_url

from app.core.security import TokenSigner
from app.core.settings import Settings
from app.demo import catalog
from app.demo import seed as demo_seed

ROOT = Path(__file__).resolve().parent.parent
DATABASE = "queueless_bench"
BOOKER = f"bench.booker@{demo_seed.DOMAIN}"
ACTIVE = "('booked', 'checked_in', 'in_progress')"

# The booker's own bookings are removed before each booking run (the "before" hook), so that
# every run starts from the seeded state, as the baseline's `bench/lib/pg.sh reset` does.
RESET_SQL = f"""
WITH gone AS (
    DELETE FROM appointments WHERE citizen_id = (SELECT id FROM users WHERE email = '{BOOKER}')
    RETURNING service_id, starts_at, status
), freed AS (
    SELECT service_id, starts_at, count(*) AS n FROM gone WHERE status IN {ACTIVE} GROUP BY 1, 2
)
UPDATE slot_loads l SET booked = l.booked - f.n FROM freed f
WHERE l.service_id = f.service_id AND l.starts_at = f.starts_at
"""


async def sign_in(url: str, signer: TokenSigner) -> dict[str, str]:
    """The booker (no appointments: books freely) and citizen 00001 (~100 seeded appointments)."""
    conn = await asyncpg.connect(url)
    try:
        hash_ = await conn.fetchval("SELECT password_hash FROM users WHERE email = $1", demo_seed.ADMIN_EMAIL)
        await conn.execute(
            "INSERT INTO users (id, email, password_hash, full_name) VALUES ($1, $2, $3, 'Bench Booker')",
            uuid.uuid4(),
            BOOKER,
            hash_,
        )
        tokens = {}
        for key, email in (("booker", BOOKER), ("reader", demo_seed.citizen_email(1))):
            user_id = await conn.fetchval("SELECT id FROM users WHERE email = $1", email)
            session_id = uuid.uuid4()
            await conn.execute("INSERT INTO login_sessions (id, user_id) VALUES ($1, $2)", session_id, user_id)
            tokens[key] = signer.issue_access(user_id=user_id, session_id=session_id)
        reader_id = await conn.fetchval("SELECT id FROM users WHERE email = $1", demo_seed.citizen_email(1))
        low, high, count = await conn.fetchrow(
            "SELECT min(right(id::text, 12)), max(right(id::text, 12)), count(*) FROM appointments"
            " WHERE citizen_id = $1",
            reader_id,
        )
        assert int(high) - int(low) + 1 == count, "citizen 1's demo appointments are not contiguous"
        tokens["reader_low"], tokens["reader_high"], tokens["reader_count"] = low, high, str(count)
        return tokens
    finally:
        await conn.close()


def _rand(low: int | str, high: int | str) -> str:
    """bench/lib/wrk.lua's placeholder: an integer in [low, high] per request."""
    return "{rand:" + f"{low}:{high}" + "}"


def endpoints(out: Path, tokens: dict[str, str]) -> None:
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date()
    week_end, month_end = tomorrow + timedelta(days=6), tomorrow + timedelta(days=30)
    n_services = int(os.environ.get("BENCH_SERVICES", "1000"))
    services = "00000000-0000-4000-a000-" + _rand(100_000_000_001, 100_000_000_000 + n_services)
    points = "00000000-0000-4000-a000-" + _rand(100_000_000_001 + catalog.N_SERVICES, 100_000_000_000 + n_services)
    reader = {"headers": f"Authorization: Bearer {tokens['reader']}"}
    booker = {"headers": f"Authorization: Bearer {tokens['booker']}"}
    appointment = "00000000-0000-4000-8000-" + _rand(tokens["reader_low"], tokens["reader_high"])
    by_id = {"name": "by_id", "compare": "db", "method": "GET", "path": f"/api/v1/appointments/{appointment}", **reader}
    slots_week = {
        "name": "slots_7d",
        "compare": "slots",
        "method": "GET",
        "path": f"/api/v1/services/{services}/slots?from={tomorrow}&to={week_end}",
    }
    slots_month = slots_week | {"name": "slots_31d", "path": slots_week["path"].replace(str(week_end), str(month_end))}
    # Hourly slots 10:00-19:00 UTC of the generated service points, up to 700 days ahead.
    starts_at = "{date:" + f"{tomorrow}:700" + "}T" + _rand(10, 19) + ":00:00Z"
    book = {
        "name": "book",
        "method": "POST",
        "path": "/api/v1/appointments",
        "body": json.dumps({"service_id": points, "starts_at": starts_at}),
        "before": f'psql -q -X -d {DATABASE} -c "{" ".join(RESET_SQL.split())}"',
        **booker,
    }
    # The citizen's list, any of its pages (20 rows a page): beside the baseline's list (up to 50
    # free slots), and beside its one row by id (stricter).
    pages = max(1, int(tokens["reader_count"]) // 20)
    listing = {
        "name": "list",
        "compare": "slots",
        "method": "GET",
        "path": f"/api/v1/appointments?page={_rand(1, pages)}&size=20",
        **reader,
    }
    out.mkdir(parents=True, exist_ok=True)
    requests = [by_id, slots_week, book, slots_month, listing, listing | {"name": "list_vs_row", "compare": "db"}]
    (out / "booking.json").write_text(json.dumps(requests, indent=1))


def main() -> None:
    out = Path(sys.argv[1])
    dsn = os.environ["BENCH_DSN"]
    url = database_url(dsn, DATABASE)
    started = time.monotonic()
    asyncio.run(create_database(dsn, DATABASE))
    env = {**os.environ, "DATABASE_URL": url, "BCRYPT_ROUNDS": "4", "LOG_LEVEL": "WARNING"}
    queueless = str(ROOT / ".venv" / "bin" / "queueless")
    subprocess.run([queueless, "migrate"], env=env, check=True, cwd=ROOT, timeout=300)
    subprocess.run(
        [
            queueless,
            "seed-demo",
            "--appointments",
            os.environ.get("BENCH_APPOINTMENTS", "1000000"),
            "--services",
            os.environ.get("BENCH_SERVICES", "1000"),
            "--citizens",
            os.environ.get("BENCH_CITIZENS", "10000"),
        ],
        env=env,
        check=True,
        cwd=ROOT,
        timeout=1200,
    )
    settings = Settings(database_url=url, secret_key=os.environ["SECRET_KEY"])
    signer = TokenSigner(
        secret_key=os.environ["SECRET_KEY"],
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        access_ttl=timedelta(hours=3),
    )
    tokens = asyncio.run(sign_in(database_url(dsn, DATABASE), signer))
    endpoints(out, tokens)
    print(f"bench setup: {DATABASE} seeded and endpoints written to {out} in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
