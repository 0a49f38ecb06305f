"""The setup of bench/helpdesk.sh: a large helpdesk beside the baseline, in the throwaway cluster.

Runs after bench/lib/pg.sh has started the cluster (BENCH_DSN). Creates `queueless_helpdesk`,
migrates it and seeds it in SQL, loading first and indexing after (the tables' secondary indexes are
dropped, the rows inserted without foreign-key checks, the indexes built again and the tables
analysed): 20 organizations with 20 staff each, 20,000 requesters, BENCH_TICKETS tickets over 365
days in every status with stored due times and breaches (organization 0, the one measured, holds a
tenth of them), one conversation per ticket with BENCH_MESSAGES messages each (a tenth of them
internal notes). Then it signs in a member of organization 0 (a session row and an access token
signed with SECRET_KEY) and writes the requests (OUT_DIR/helpdesk.json):

- `queue`: `GET /organizations/{org 0}/tickets?status=open&assignee_id=<its busiest member>&page=1..5`
  (page of 20 and its total), beside the baseline's list;
- `ticket`: `GET /tickets/{id}` of any of organization 0's tickets, beside the baseline's list, and
  `ticket_vs_row` beside its one row by id.

Environment: BENCH_DSN, SECRET_KEY, BENCH_TICKETS (1000000), BENCH_MESSAGES (10 a ticket).
Usage: helpdesk_setup.py OUT_DIR
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
DATABASE = "queueless_helpdesk"
ORGS = 20
STAFF_PER_ORG = 20
REQUESTERS = 20_000
SEEDED_TABLES = ("tickets", "chat_messages", "ticket_events", "conversations")

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
       -- Ids the load generator can aim at: organization 0's tickets are ...-b000-1000000000001 onwards.
       ('00000000-0000-4000-b000-' || CASE WHEN g % 10 = 0 THEN 100000000000 + g / 10 ELSE 200000000000 + g END)::uuid
           AS id,
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
       CASE WHEN t.status = 'closed' THEN t.created_at + interval '2 days'
            WHEN t.status = 'solved' THEN greatest(t.created_at, now() - interval '3 days') END,
       CASE WHEN t.status = 'closed' THEN t.created_at + interval '9 days' END,
       -- Breach flags as the SLA pass would have left them (no target due and unmarked), and
       -- solved tickets inside the reopen window: the server's pass finds nothing to do.
       t.n % 5 = 0 OR (t.status = 'new' AND t.created_at + interval '4 hours' <= now()),
       t.n % 9 = 0 OR (t.status IN ('new', 'open', 'on_hold') AND t.created_at + interval '3 days' <= now()),
       t.status = 'pending',
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


async def seed(url: str, tickets: int, messages: int) -> None:
    """Load, then index: secondary indexes off, foreign-key triggers off for this session."""
    conn = await asyncpg.connect(url)
    try:
        indexes = await conn.fetch(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = ANY($1::text[])"
            " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)",
            list(SEEDED_TABLES),
        )
        sql = SEED_SQL.format(orgs=ORGS, staff=STAFF_PER_ORG, requesters=REQUESTERS, tickets=tickets, messages=messages)
        started = time.perf_counter()
        async with conn.transaction():
            await conn.execute("SET LOCAL session_replication_role = replica")
            for index in indexes:
                await conn.execute(f'DROP INDEX "{index["indexname"]}"')
            await conn.execute(sql)
        print(f"rows loaded in {time.perf_counter() - started:.0f} s; indexing", flush=True)
        await conn.execute("SET maintenance_work_mem = '512MB'")
        for index in indexes:
            await conn.execute(index["indexdef"])
        await conn.execute("VACUUM ANALYZE")
        counts = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM tickets) AS tickets, (SELECT count(*) FROM chat_messages) AS messages"
        )
        print(f"seeded in {time.perf_counter() - started:.0f} s: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    finally:
        await conn.close()


async def sign_in(url: str, signer: TokenSigner) -> dict[str, str]:
    """A new staff member of organization 0, signed in; its busiest assignee; how many of its
    tickets there are and how many pages the measured queue has."""
    conn = await asyncpg.connect(url)
    try:
        org_id = await conn.fetchval("SELECT id FROM organizations WHERE name = 'Desk 0'")
        user_id, session_id = uuid.uuid4(), uuid.uuid4()
        await conn.execute(
            "INSERT INTO users (id, email, password_hash, full_name)"
            " VALUES ($1, 'bench.member@bench.invalid', 'x', 'Bench')",
            user_id,
        )
        await conn.execute(
            "INSERT INTO memberships (organization_id, user_id, role) VALUES ($1, $2, 'staff')", org_id, user_id
        )
        await conn.execute("INSERT INTO login_sessions (id, user_id) VALUES ($1, $2)", session_id, user_id)
        assignee, open_tickets = await conn.fetchrow(
            "SELECT assignee_id, count(*) FROM tickets WHERE organization_id = $1 AND status = 'open' "
            "GROUP BY assignee_id ORDER BY count(*) DESC LIMIT 1",
            org_id,
        )
        own = await conn.fetchval("SELECT count(*) FROM tickets WHERE organization_id = $1", org_id)
        return {
            "token": signer.issue_access(user_id=user_id, session_id=session_id),
            "organization_id": str(org_id),
            "assignee_id": str(assignee),
            "pages": str(max(1, min(5, open_tickets // 20))),
            "tickets": str(own),
        }
    finally:
        await conn.close()


def _rand(low: int | str, high: int | str) -> str:
    """bench/lib/wrk.lua's placeholder: an integer in [low, high] per request."""
    return "{rand:" + f"{low}:{high}" + "}"


def endpoints(out: Path, found: dict[str, str]) -> None:
    member = {"headers": f"Authorization: Bearer {found['token']}"}
    queue = {
        "name": "queue",
        "compare": "slots",
        "method": "GET",
        "path": f"/api/v1/organizations/{found['organization_id']}/tickets?status=open"
        f"&assignee_id={found['assignee_id']}&page={_rand(1, found['pages'])}&size=20",
        **member,
    }
    ticket_id = "00000000-0000-4000-b000-" + _rand(100_000_000_001, 100_000_000_000 + int(found["tickets"]))
    ticket = {"name": "ticket", "compare": "slots", "method": "GET", "path": f"/api/v1/tickets/{ticket_id}", **member}
    out.mkdir(parents=True, exist_ok=True)
    requests = [queue, ticket, ticket | {"name": "ticket_vs_row", "compare": "db"}]
    (out / "helpdesk.json").write_text(json.dumps(requests, indent=1))


def main() -> None:
    out = Path(sys.argv[1])
    dsn = os.environ["BENCH_DSN"]
    url = database_url(dsn, DATABASE)
    started = time.monotonic()
    asyncio.run(create_database(dsn, DATABASE))
    env = {**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "WARNING"}
    subprocess.run([str(ROOT / ".venv" / "bin" / "queueless"), "migrate"], env=env, check=True, cwd=ROOT, timeout=300)
    asyncio.run(seed(url, int(os.environ.get("BENCH_TICKETS", "1000000")), int(os.environ.get("BENCH_MESSAGES", "10"))))
    settings = Settings(database_url=url, secret_key=os.environ["SECRET_KEY"])
    signer = TokenSigner(
        secret_key=os.environ["SECRET_KEY"],
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        access_ttl=timedelta(hours=3),
    )
    endpoints(out, asyncio.run(sign_in(url, signer)))
    print(f"bench setup: {DATABASE} seeded and endpoints written to {out} in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
