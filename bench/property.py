"""Property: the hold race under load, against a running server, checked in SQL afterwards.

    bench/property.sh        # runs this after the reads (compare.sh --after), on the same server

    .venv/bin/python bench/property.py --url http://127.0.0.1:PORT \\
        --database-url postgresql://bench@127.0.0.1:PGPORT/queueless_property \\
        --holders /tmp/queueless-bench/endpoints/property-holders.json [--duration 10] [--connections 64]

--connections concurrent clients, for --duration seconds, each request a random customer (the
access tokens bench/property_setup.py signed; the builder allows 20 holds a customer) holding a
random unit of a pool of --race-units units (300) drawn from the database, so that most requests
collide. Afterwards it checks in SQL that no unit has two running holds, that no running hold
stands beside an active booking, that the 201s, the holds stored and the units marked held agree,
and that `unit_stock` equals a recount of the units. It exits with status 1 when a check fails.
Every hold it made is removed first, so the race can run again on the same database. Results and
notes: bench/PROPERTY.md.
"""

import argparse
import asyncio
import json
import random
import sys
import time
from collections import Counter
from pathlib import Path

import asyncpg
import httpx

LOOPBACK = ("http://127.", "http://localhost")

RESET_SQL = """
UPDATE units SET hold_id = NULL, held_until = NULL WHERE hold_id IS NOT NULL;
DELETE FROM holds;
"""
FREE = "u.sale_status IS NULL AND u.held_until IS NULL"
# `unit_stock` rows that differ from a recount of the units (kept by triggers: see migration 0022).
STOCK_DRIFT_SQL = f"""
SELECT count(*) FROM unit_stock AS s FULL JOIN (
    SELECT u.project_id, u.bedrooms, count(*) AS units, count(*) FILTER (WHERE {FREE}) AS free,
        min(u.price) FILTER (WHERE {FREE}) AS free_from,
        coalesce(range_agg(numrange(u.price, u.price, '[]')) FILTER (WHERE {FREE}), '{{}}') AS free_prices,
        count(*) FILTER (WHERE u.sale_status IS NULL AND u.held_until IS NOT NULL) AS held
    FROM units AS u GROUP BY u.project_id, u.bedrooms
) AS c ON c.project_id = s.project_id AND c.bedrooms = s.bedrooms
WHERE (s.units, s.free, s.free_from, s.free_prices, s.held)
    IS DISTINCT FROM (coalesce(c.units, 0), coalesce(c.free, 0), c.free_from, coalesce(c.free_prices, '{{}}'),
        coalesce(c.held, 0))
"""


async def race(url: str, base: str, tokens: list[str], *, units: int, connections: int, duration: int) -> bool:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(RESET_SQL)
        pool = [str(r[0]) for r in await conn.fetch("SELECT id FROM units ORDER BY random() LIMIT $1", units)]
    finally:
        await conn.close()
    codes: Counter[int] = Counter()
    latencies: list[float] = []
    transport_errors = 0
    deadline = time.monotonic() + duration

    async def worker(client: httpx.AsyncClient, rng: random.Random) -> None:
        nonlocal transport_errors
        while time.monotonic() < deadline:
            headers = {"Authorization": f"Bearer {rng.choice(tokens)}"}
            started = time.monotonic()
            try:
                response = await client.post(f"/api/v1/units/{rng.choice(pool)}/holds", headers=headers, json={})
            except httpx.TransportError:
                # A kept-alive connection the server closed: the hold may or may not have been
                # made, which the SQL check below does not mind (it counts stored holds).
                transport_errors += 1
                continue
            latencies.append(time.monotonic() - started)
            codes[response.status_code] += 1

    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        await asyncio.gather(*(worker(client, random.Random(n)) for n in range(connections)))
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99)] * 1000 if latencies else 0
    print(
        f"hold race: {sum(codes.values()):,} requests in {duration} s, {dict(sorted(codes.items()))},"
        f" p99 {p99:.0f} ms, {transport_errors} transport errors"
    )
    conn = await asyncpg.connect(url)
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
        drift = await conn.fetchval(STOCK_DRIFT_SQL)
    finally:
        await conn.close()
    ok = doubles == 0 and beside_booking == 0 and stored == unit_rows and codes[201] <= stored and drift == 0
    unexpected = {code: n for code, n in codes.items() if code not in (201, 409)}
    print(
        f"hold race check (SQL): units with two running holds {doubles}, running holds beside an active booking"
        f" {beside_booking}, 201s {codes[201]} <= holds stored {stored} = units held {unit_rows},"
        f" unit_stock rows off their recount {drift}, other statuses {unexpected or 'none'}:"
        f" {'OK' if ok and not unexpected else 'FAILED'}"
    )
    return ok and not unexpected


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="the running server (loopback)")
    parser.add_argument("--database-url", required=True, help="its database (libpq URL)")
    parser.add_argument("--holders", required=True, type=Path, help="the customers' access tokens (JSON list)")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--race-units", type=int, default=300)
    args = parser.parse_args()
    if not args.url.startswith(LOOPBACK):
        raise SystemExit(f"refusing a server that is not on loopback: {args.url}")
    tokens = json.loads(args.holders.read_text())
    ok = asyncio.run(
        race(
            args.database_url,
            args.url.rstrip("/"),
            tokens,
            units=args.race_units,
            connections=args.connections,
            duration=min(args.duration, 60),
        )
    )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
