"""The staff ticket queue and a ticket's read under load, over a large helpdesk.

    uv run python bench/helpdesk.py --tickets 100000 --messages-per-ticket 10     # seed once, measure
    uv run python bench/helpdesk.py --tickets 1000000 --messages-per-ticket 10    # the full scale

What it does, all on this machine:
1. starts (or joins) an embedded PostgreSQL under --data-dir (or uses --database-url), migrates it;
2. seeds it in SQL (INSERT ... SELECT generate_series) unless it already holds the tickets: 20
   organizations with 20 staff each, 20,000 requesters, N tickets over 365 days (organization 0,
   the one measured, holds 10% of them) in every status with stored due times and breaches, one
   conversation per ticket and M messages each (a tenth of them internal notes);
3. runs the app under uvicorn (one worker) on 127.0.0.1, signs up a member of organization 0;
4. runs wrk (64 connections, one thread) against: the staff queue `GET /organizations/{id}/tickets
   ?status=open&assignee_id=<a staff member>` (page of 20), one ticket's read `GET /tickets/{id}`,
   and, as the same run's reference, `GET /users/me` (the smallest authenticated read);
5. prints req/s and p50 / p99 for each, and with --explain the queue query's plan.
Results and notes: bench/HELPDESK.md.
"""

import argparse
import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.core import embedded  # noqa: E402
from app.core.migrations import upgrade_head  # noqa: E402

ORGS = 20
STAFF_PER_ORG = 20
REQUESTERS = 20_000

SEED_SQL = """
SELECT setseed(0.18);

CREATE TEMP TABLE bench_orgs AS
SELECT g AS n, gen_random_uuid() AS id FROM generate_series(0, {orgs} - 1) AS g;
INSERT INTO organizations (id, name, kind, timezone)
SELECT id, 'Desk ' || n, 'business', 'Europe/Berlin' FROM bench_orgs;

CREATE TEMP TABLE bench_staff AS
SELECT o.n AS org_n, o.id AS org_id, s AS n, gen_random_uuid() AS id
FROM bench_orgs o, generate_series(0, {staff} - 1) AS s;
INSERT INTO users (id, email, password_hash, full_name)
SELECT id, 'staff-' || org_n || '-' || n || '@bench.invalid', 'x', 'Staff ' || org_n || '-' || n FROM bench_staff;
INSERT INTO memberships (organization_id, user_id, role)
SELECT org_id, id, CASE WHEN n = 0 THEN 'owner' ELSE 'staff' END FROM bench_staff;

CREATE TEMP TABLE bench_requesters AS
SELECT g AS n, gen_random_uuid() AS id FROM generate_series(0, {requesters} - 1) AS g;
INSERT INTO users (id, email, password_hash, full_name)
SELECT id, 'requester-' || n || '@bench.invalid', 'x', 'Requester ' || n FROM bench_requesters;

SELECT setseed(0.5);
CREATE TEMP TABLE bench_tickets AS
SELECT g AS n,
       gen_random_uuid() AS id,
       gen_random_uuid() AS conversation_id,
       CASE WHEN g % 10 = 0 THEN 0 ELSE 1 + g % ({orgs} - 1) END AS org_n,
       floor(random() * {staff})::int AS staff_n,
       floor(random() * {requesters})::int AS requester_n,
       (ARRAY['new', 'open', 'open', 'open', 'pending', 'on_hold', 'solved', 'closed', 'closed', 'closed'])
           [1 + floor(random() * 10)::int] AS status,
       (ARRAY['low', 'normal', 'normal', 'high', 'urgent'])[1 + floor(random() * 5)::int] AS priority,
       now() - make_interval(secs => (g * 2654435761::bigint) % (365 * 86400)) AS created_at
FROM generate_series(1, {tickets}) AS g;

INSERT INTO conversations (id, organization_id, citizen_id, subject, status, created_at, last_activity_at)
SELECT t.conversation_id, o.id, r.id, 'Ticket ' || t.n, CASE WHEN t.status = 'closed' THEN 'closed' ELSE 'open' END,
       t.created_at, t.created_at
FROM bench_tickets t JOIN bench_orgs o ON o.n = t.org_n JOIN bench_requesters r ON r.n = t.requester_n;

INSERT INTO tickets (id, reference, organization_id, subject, description, status, priority, assignee_id,
                     requester_id, requester_email, tags, channel, conversation_id, first_response_due_at,
                     resolution_due_at, first_responded_at, solved_at, closed_at, first_response_breached,
                     resolution_breached, sla_paused, first_response_minutes, resolution_minutes, created_at,
                     updated_at)
SELECT t.id, 'B' || lpad(to_hex(t.n), 7, '0'), o.id, 'Ticket ' || t.n, 'Please help with case ' || t.n,
       t.status, t.priority, CASE WHEN t.status = 'new' THEN NULL ELSE s.id END, r.id, r.n || '@bench.invalid',
       CASE WHEN t.n % 7 = 0 THEN ARRAY['vip'] ELSE '{{}}'::varchar[] END, 'web', t.conversation_id,
       CASE WHEN t.status IN ('new') THEN t.created_at + interval '4 hours' END,
       CASE WHEN t.status IN ('new', 'open', 'on_hold') THEN t.created_at + interval '3 days' END,
       CASE WHEN t.status <> 'new' THEN t.created_at + interval '1 hour' END,
       CASE WHEN t.status IN ('solved', 'closed') THEN t.created_at + interval '2 days' END,
       CASE WHEN t.status = 'closed' THEN t.created_at + interval '9 days' END,
       t.n % 5 = 0, t.n % 9 = 0, t.status = 'pending',
       CASE WHEN t.status <> 'new' THEN 60 END, CASE WHEN t.status IN ('solved', 'closed') THEN 960 END,
       t.created_at, t.created_at
FROM bench_tickets t
JOIN bench_orgs o ON o.n = t.org_n
JOIN bench_staff s ON s.org_n = t.org_n AND s.n = t.staff_n
JOIN bench_requesters r ON r.n = t.requester_n;

INSERT INTO ticket_events (ticket_id, type, actor_id, data, at)
SELECT t.id, 'created', NULL, jsonb_build_object('status', 'new', 'priority', t.priority), t.created_at
FROM bench_tickets t;

INSERT INTO chat_messages (conversation_id, sender_id, body, internal, created_at)
SELECT t.conversation_id, CASE WHEN m % 2 = 0 THEN r.id ELSE s.id END, 'Message ' || m || ' of ticket ' || t.n,
       m % 10 = 9, t.created_at + make_interval(mins => m * 30)
FROM bench_tickets t
JOIN bench_requesters r ON r.n = t.requester_n
JOIN bench_staff s ON s.org_n = t.org_n AND s.n = t.staff_n
CROSS JOIN generate_series(0, {messages} - 1) AS m
ORDER BY t.n, m;

UPDATE conversations c SET last_message_id = x.id, last_activity_at = x.created_at
FROM (SELECT conversation_id, max(id) AS id, max(created_at) AS created_at FROM chat_messages
      WHERE NOT internal GROUP BY conversation_id) AS x
WHERE c.id = x.conversation_id;
"""


def _libpq(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://").replace(":@", "@")


async def seed(url: str, tickets: int, messages: int) -> None:
    conn = await asyncpg.connect(_libpq(url))
    try:
        have = await conn.fetchval("SELECT count(*) FROM tickets")
        if have >= tickets:
            print(f"database already holds {have:,} tickets: not seeding")
            return
        if have:
            raise SystemExit(f"database holds {have:,} tickets (< {tickets:,}); use a fresh database")
        sql = SEED_SQL.format(orgs=ORGS, staff=STAFF_PER_ORG, requesters=REQUESTERS, tickets=tickets, messages=messages)
        started = time.perf_counter()
        async with conn.transaction():
            await conn.execute(sql)
        print(f"seeded in {time.perf_counter() - started:.0f} s; vacuuming")
        await conn.execute("VACUUM ANALYZE")
        counts = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM tickets) AS tickets, (SELECT count(*) FROM chat_messages) AS messages"
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
        "ENVIRONMENT": "production",
        "LOG_LEVEL": "WARNING",
        "NOTIFICATION_WORKERS": "false",
        "ACCESS_TOKEN_MINUTES": "600",
        # A shared PostgreSQL (other benches and test runs) may not have 40 more connections.
        "DB_POOL_SIZE": os.environ.get("DB_POOL_SIZE", "20"),
        "REGISTRATIONS_PER_ADDRESS_PER_HOUR": "100000",
    }
    command = [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(port)]
    return subprocess.Popen([*command, "--no-access-log"], cwd=ROOT, env=env)


async def wait_live(client: httpx.AsyncClient, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("the server exited")
        try:
            if (await client.get("/health/live")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.3)
    raise SystemExit("the server did not start within 90 s")


async def member_of_org0(client: httpx.AsyncClient, url: str) -> tuple[str, str, str, str]:
    """A new member of organization 0: (token, organization id, a busy assignee's id, a ticket id)."""
    email = f"bench-member-{time.time_ns()}@example.org"
    response = await client.post(
        "/api/v1/auth/register", json={"email": email, "password": "bench password 1", "full_name": "Bench"}
    )
    response.raise_for_status()
    conn = await asyncpg.connect(_libpq(url))
    try:
        org_id = await conn.fetchval("SELECT id FROM organizations WHERE name = 'Desk 0'")
        await conn.execute(
            "INSERT INTO memberships (organization_id, user_id, role) "
            "SELECT $1, id, 'staff' FROM users WHERE email = $2",
            org_id,
            email,
        )
        assignee = await conn.fetchval(
            "SELECT assignee_id FROM tickets WHERE organization_id = $1 AND status = 'open' "
            "GROUP BY assignee_id ORDER BY count(*) DESC LIMIT 1",
            org_id,
        )
        ticket = await conn.fetchval(
            "SELECT id FROM tickets WHERE organization_id = $1 AND status = 'open' ORDER BY created_at DESC LIMIT 1",
            org_id,
        )
    finally:
        await conn.close()
    return response.json()["access_token"], str(org_id), str(assignee), str(ticket)


def wrk(url: str, token: str, connections: int, duration: int) -> dict[str, float]:
    """req/s, p50 and p99 (ms) and non-2xx count of one wrk run."""
    result = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "-H", f"Authorization: Bearer {token}", url],
        capture_output=True,
        text=True,
        check=True,
    )
    out = result.stdout

    def latency(label: str) -> float:
        match = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if not match:
            return float("nan")
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {"rps": rps, "p50": latency("50"), "p99": latency("99"), "non_2xx": float(errors.group(1)) if errors else 0}


async def explain(url: str, org_id: str, assignee: str) -> None:
    conn = await asyncpg.connect(_libpq(url))
    try:
        rows = await conn.fetch(
            "EXPLAIN (ANALYZE, BUFFERS) SELECT * FROM tickets WHERE organization_id = $1 AND status = 'open' "
            "AND assignee_id = $2 ORDER BY created_at DESC, id DESC LIMIT 20",
            org_id,
            assignee,
        )
        print("\n".join(row[0] for row in rows))
    finally:
        await conn.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/ql-helpdesk-bench"))
    parser.add_argument("--database-url", help="use this database instead of an embedded server")
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--messages-per-ticket", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--explain", action="store_true")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed (apt-get install wrk)")
    if args.database_url:
        url = args.database_url.replace("postgresql://", "postgresql+asyncpg://", 1)
    else:
        admin = await asyncio.to_thread(embedded.start, args.data_dir)
        await embedded.ensure_database(admin, "helpdesk_bench")
        url = embedded.with_database(admin, "helpdesk_bench")
    await asyncio.to_thread(upgrade_head, url)
    await seed(url, args.tickets, args.messages_per_ticket)
    port = free_port()
    server = start_server(url, args.data_dir, port)
    try:
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            await wait_live(client, server)
            token, org_id, assignee, ticket = await member_of_org0(client, url)
        targets = {
            "queue (status=open, assignee, page of 20)": (
                f"{base}/api/v1/organizations/{org_id}/tickets?status=open&assignee_id={assignee}&size=20"
            ),
            "ticket read": f"{base}/api/v1/tickets/{ticket}",
            "users/me (reference)": f"{base}/api/v1/users/me",
        }
        for name, target in targets.items():
            wrk(target, token, args.connections, 2)  # warm-up
            figures = wrk(target, token, args.connections, args.duration)
            print(
                f"{name:45} {figures['rps']:8.0f} req/s  p50 {figures['p50']:6.1f} ms  p99 {figures['p99']:6.1f} ms"
                f"  non-2xx {figures['non_2xx']:.0f}"
            )
        if args.explain:
            await explain(url, org_id, assignee)
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    asyncio.run(main())
