"""The webhook sender at a steady event rate, and what it costs the API beside it.

    uv run python bench/webhooks.py                  # ~3 min: 3 pairs of 20 s runs at 200 events/s
    uv run python bench/webhooks.py --pairs 1 --duration 10        # a quick look

What it does, all on loopback (results and notes: bench/WEBHOOKS.md):
1. recreates the database --database-url (default `queueless_bench_webhooks` on the machine's
   PostgreSQL, 127.0.0.1:5432) and migrates it;
2. starts a receiver in this process (a small keep-alive HTTP/1.1 server answering 200 at once)
   that notes when each event arrives, and `queueless serve` (one worker, the background workers
   on, so the webhook sender runs in the API's process; `ENVIRONMENT=development`, where loopback
   targets are allowed);
3. signs up a user (the reference read is `GET /api/v1/users/me`, the smallest authenticated read)
   and subscribes an organization's webhook to the receiver;
4. runs S: events alone at --rate for --duration s, no wrk (the server's CPU is then the sender's
   cost); then alternates, --pairs times: run A, wrk alone (64 connections, --duration s); run B, the same wrk
   while events are produced at --rate per second through the webhooks service's own outbox
   statement (`webhooks_service.published`, 10 per statement every 50 ms, one delivery each),
   then waits (at most 60 s) until every event of the run has been delivered;
5. prints per run: req/s, p50, p99, the server process's CPU, and for B the events produced and
   delivered, delivered/s within the run, the lag (receipt at the receiver minus the event's
   `created_at`) p50 / p99 / max, and duplicates; then the medians and the p99 ratio B / A;
6. unless --no-booking, a booking's two statements (read, write) for an organization without
   subscriptions with no publishers, as shipped, and with the webhook CTEs always in the write.

Everything started is stopped on exit; the database is dropped unless --keep.
"""

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lib.server import wait_live  # noqa: E402
from sqlalchemy import Integer, String, Uuid, bindparam, cast, func, literal, select  # noqa: E402
from sqlalchemy.dialects.postgresql import JSONB  # noqa: E402

from app.core.migrations import upgrade_head  # noqa: E402
from app.core.prepared import Prepared  # noqa: E402

TICK = 0.05  # the producer writes rate * TICK events every TICK seconds
EVENT_TYPE = "appointment.booked"
# An appointment body of the usual size (what `appointment.booked` carries).
SAMPLE_DATA = {
    "appointment": {
        "id": str(uuid.UUID(int=1)),
        "reference": "K7M2QX9D",
        "service_id": str(uuid.UUID(int=2)),
        "organization_id": str(uuid.UUID(int=3)),
        "citizen_id": str(uuid.UUID(int=4)),
        "patient_id": None,
        "staff_id": None,
        "starts_at": "2026-03-02T09:30:00Z",
        "ends_at": "2026-03-02T10:00:00Z",
        "status": "booked",
        "notes": "Bring the old passport",
        "reason": None,
        "requirements": [
            {"id": str(uuid.UUID(int=5)), "name": "ID card", "mandatory": True, "document_id": None,
             "document_status": None},
            {"id": str(uuid.UUID(int=6)), "name": "Photo", "mandatory": False, "document_id": None,
             "document_status": None},
        ],
        "checked_in_at": None,
        "created_at": "2026-02-20T11:02:03.123456Z",
        "updated_at": "2026-02-20T11:02:03.123456Z",
    }
}  # fmt: skip


def _produce_statement() -> Prepared:
    """`n` events of one organization in one statement, through the service's outbox CTEs."""
    from app.services.webhooks import service as webhooks_service

    happened = select(
        bindparam("organization_id", type_=Uuid).label("organization_id"),
        cast(bindparam("data", type_=String), JSONB).label("data"),
        func.clock_timestamp().label("at"),
    ).select_from(func.generate_series(1, bindparam("n", type_=Integer)))
    return Prepared(webhooks_service.published(select(literal(1)), type_=EVENT_TYPE, happened=happened))


# --- the receiver -------------------------------------------------------------------------------


@dataclass
class Receiver:
    """Keep-alive HTTP/1.1; answers 200 to every request and notes (event id, lag in s)."""

    port: int = 0
    arrivals: list[tuple[str, float]] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    # Set once `expected` distinct events have arrived.
    expected: int = 0
    complete: asyncio.Event = field(default_factory=asyncio.Event)

    def reset(self) -> None:
        self.arrivals.clear()
        self.seen.clear()
        self.expected = 0
        self.complete.clear()

    def protocol(self) -> asyncio.Protocol:
        receiver = self

        class Connection(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                self.transport: asyncio.Transport = transport  # type: ignore[assignment]
                self.buffer = b""

            def data_received(self, data: bytes) -> None:
                self.buffer += data
                while True:
                    head_end = self.buffer.find(b"\r\n\r\n")
                    if head_end < 0:
                        return
                    head = self.buffer[:head_end].decode("latin-1").lower()
                    match = re.search(r"\r\ncontent-length:\s*(\d+)", head)
                    length = int(match.group(1)) if match else 0
                    if len(self.buffer) < head_end + 4 + length:
                        return
                    body = self.buffer[head_end + 4 : head_end + 4 + length]
                    self.buffer = self.buffer[head_end + 4 + length :]
                    event = json.loads(body)
                    lag = time.time() - datetime.fromisoformat(event["created_at"]).timestamp()
                    receiver.arrivals.append((event["id"], lag))
                    receiver.seen.add(event["id"])
                    if receiver.expected and len(receiver.seen) >= receiver.expected:
                        receiver.complete.set()
                    self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")

        return Connection()

    async def start(self) -> asyncio.Server:
        server = await asyncio.get_running_loop().create_server(self.protocol, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        return server


# --- the server and the load --------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(url: str, data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = os.environ | {
        "DATABASE_URL": url,
        "DATA_DIR": str(data_dir),
        "SECRET_KEY": "bench-" + "k" * 40,
        "ENVIRONMENT": "development",
        "LOG_LEVEL": "WARNING",
        "ACCESS_TOKEN_MINUTES": "600",
        # A shared PostgreSQL (other benches and test runs) may not have 40 more connections.
        "DB_POOL_SIZE": os.environ.get("DB_POOL_SIZE", "20"),
    }
    queueless = Path(sys.executable).parent / "queueless"
    return subprocess.Popen([str(queueless), "serve", "--port", str(port)], cwd=ROOT, env=env)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def wrk(url: str, token: str, connections: int, duration: int) -> dict[str, float]:
    """req/s, p50 and p99 (ms) and the non-2xx count of one wrk run."""
    process = await asyncio.create_subprocess_exec(
        "wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "-H", f"Authorization: Bearer {token}", url,
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out = (await process.communicate())[0].decode()

    def latency(label: str) -> float:
        match = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if not match:
            return float("nan")
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {"rps": rps, "p50": latency("50"), "p99": latency("99"), "non_2xx": float(errors.group(1)) if errors else 0}


async def produce(conn: asyncpg.Connection, statement: Prepared, org_id: uuid.UUID, rate: int, seconds: float) -> int:
    """Events at `rate` per second for `seconds`, on a fixed clock (a late tick does not shift the next)."""
    per_tick = max(1, round(rate * TICK))
    data = json.dumps(SAMPLE_DATA)
    args = statement.arguments({"organization_id": org_id, "data": data, "n": per_tick})
    started, produced, tick = time.monotonic(), 0, 0
    while (tick + 1) * TICK <= seconds:
        await conn.execute(statement.sql, *args)
        produced += per_tick
        tick += 1
        await asyncio.sleep(max(0.0, started + tick * TICK - time.monotonic()))
    return produced


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


# --- the booking statement ----------------------------------------------------------------------


async def booking_overhead(conn: asyncpg.Connection, calls: int) -> None:
    """A booking's two statements (the read, then the write) for an organization without
    subscriptions, three ways, alternated call by call (so that the machine's other load falls
    on all alike); each call books another slot:
    - no publishers (as before webhooks heard appointments);
    - as shipped: the read asks whether anyone listens, the write is the plain one;
    - the first design: no question in the read, the webhook CTEs always in the write."""
    import app.main  # noqa: F401  (wires the publishers)
    from app.services.appointments import bookable_query, booking, events

    assert events.publishers, "app.main did not subscribe the webhooks publisher"
    org_id, service_id = uuid.uuid4(), uuid.uuid4()
    await conn.execute(
        "INSERT INTO organizations (id, name, kind, timezone) VALUES ($1, 'Quiet Hall', 'government', 'UTC')", org_id
    )
    await conn.execute(
        "INSERT INTO services (id, organization_id, name, duration_minutes, capacity) "
        "VALUES ($1, $2, 'Passports', 30, 1)",
        service_id,
        org_id,
    )
    login = await conn.fetchrow("SELECT id AS session_id, user_id FROM login_sessions LIMIT 1")
    publishers = events.publishers
    variants = {
        "no publishers": (booking._read(()), lambda row: booking._write(announce=False, to=())),
        "as shipped": (
            booking._read(publishers),
            lambda row: booking._write(announce=False, to=publishers if row["published"] else ()),
        ),
        "CTEs always in the write": (booking._read(()), lambda row: booking._write(announce=False, to=publishers)),
    }
    timings: dict[str, list[float]] = {name: [] for name in variants}
    first = datetime(2030, 1, 1, tzinfo=UTC)
    booked = 0
    for _ in range(calls):
        for name, (read, write_for) in variants.items():
            booked += 1
            starts = first + timedelta(minutes=30 * booked)
            began = time.perf_counter()
            row = await conn.fetchrow(
                read.sql,
                *read.arguments(
                    {
                        "user_id": login["user_id"],
                        "session_id": login["session_id"],
                        **bookable_query.parameters(service_id=service_id, first=starts.date(), last=starts.date()),
                        "patient_id": None,
                        "staff_id": None,
                    }
                ),
            )
            assert row is not None
            write = write_for(row)
            values = {
                "new_id": uuid.uuid4(),
                "new_reference": f"B{booked:07d}",
                "new_service_id": service_id,
                "new_organization_id": org_id,
                "new_citizen_id": None,
                "new_patient_id": None,
                "new_staff_id": None,
                "new_actor_id": None,
                "new_starts_at": starts,
                "new_ends_at": starts + timedelta(minutes=30),
                "new_capacity": 1,
                "new_notes": None,
                "new_reason": None,
            }
            assert await conn.fetchrow(write.sql, *write.arguments(values)) is not None
            timings[name].append((time.perf_counter() - began) * 1e6)
    stored = await conn.fetchval("SELECT count(*) FROM webhook_events WHERE organization_id = $1", org_id)
    print(f"\nbooking's read + write, organization without subscriptions ({calls} calls each, alternated):")
    for name, values in timings.items():
        print(f"  {name:26} p50 {percentile(values, 0.5):6.0f} µs  p90 {percentile(values, 0.9):6.0f} µs")
    print(f"  webhook events stored: {stored}")


# --- the runs -----------------------------------------------------------------------------------


async def setup(client: httpx.AsyncClient, conn: asyncpg.Connection, receiver_url: str) -> tuple[str, uuid.UUID]:
    response = await client.post(
        "/api/v1/auth/register",
        json={"email": f"bench-{time.time_ns()}@example.org", "password": "bench password 1", "full_name": "Bench"},
    )
    response.raise_for_status()
    org_id = uuid.uuid4()
    await conn.execute(
        "INSERT INTO organizations (id, name, kind, timezone) VALUES ($1, 'Hook Hall', 'government', 'UTC')", org_id
    )
    await conn.execute(
        "INSERT INTO webhooks (id, organization_id, url, events, secret) VALUES ($1, $2, $3, $4, 'whsec_bench')",
        uuid.uuid4(),
        org_id,
        receiver_url,
        [EVENT_TYPE],
    )
    return response.json()["access_token"], org_id


async def run(args: argparse.Namespace) -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed (apt-get install wrk)")
    url = args.database_url
    admin_url, _, database = url.rpartition("/")
    admin = await asyncpg.connect(f"{admin_url}/postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{database}"')
    finally:
        await admin.close()
    await asyncio.to_thread(upgrade_head, url.replace("postgresql://", "postgresql+asyncpg://", 1))

    receiver = Receiver()
    listening = await receiver.start()
    port = free_port()
    data_dir = Path(tempfile.mkdtemp(prefix="ql-webhooks-bench-"))
    server = start_server(url, data_dir, port)
    conn = await asyncpg.connect(url)
    try:
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            await wait_live(client, server, within=120)
            token, org_id = await setup(client, conn, f"http://127.0.0.1:{receiver.port}/hook")
        statement = _produce_statement()
        target = f"{base}/api/v1/users/me"
        await wrk(target, token, args.connections, 3)  # warm-up
        rows: dict[str, list[dict[str, float]]] = {"A": [], "B": []}
        runs = [("S", 0)] + [(kind, pair) for pair in range(args.pairs) for kind in ("A", "B")] if args.pairs else []
        if runs:
            print(
                f"reference: GET /api/v1/users/me, wrk -c{args.connections} -d{args.duration}s; "
                f"B adds {args.rate} events/s"
            )
        for kind, pair in runs:
            receiver.reset()
            cpu_before, began = cpu_seconds(server.pid), time.monotonic()
            if kind == "A":
                figures = await wrk(target, token, args.connections, args.duration)
            else:
                load = asyncio.create_task(wrk(target, token, args.connections, args.duration)) if kind == "B" else None
                produced = await produce(conn, statement, org_id, args.rate, args.duration)
                figures = await load if load is not None else {"non_2xx": 0}
                in_run = len(receiver.arrivals)
            figures["cpu"] = (cpu_seconds(server.pid) - cpu_before) / (time.monotonic() - began) * 100
            if kind == "S":
                line = f"S (events alone, no wrk): server CPU {figures['cpu']:4.0f} %"
            else:
                line = (
                    f"{kind}{pair + 1}: {figures['rps']:7.0f} req/s  p50 {figures['p50']:6.1f} ms  "
                    f"p99 {figures['p99']:6.1f} ms  server CPU {figures['cpu']:4.0f} %"
                )
            if kind != "A":
                receiver.expected = produced
                if len(receiver.seen) >= produced:
                    receiver.complete.set()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(receiver.complete.wait(), 60)
                lags = [lag for _, lag in receiver.arrivals]
                unique = len(receiver.seen)
                figures |= {
                    "produced": produced,
                    "delivered": unique,
                    "per_second": in_run / args.duration,
                    "lag_p50": percentile(lags, 0.5),
                    "lag_p99": percentile(lags, 0.99),
                    "lag_max": max(lags, default=float("nan")),
                }
                line += (
                    f"  | events {produced} delivered {unique} ({figures['per_second']:.0f}/s within the run)  "
                    f"lag p50 {figures['lag_p50']:.2f} s p99 {figures['lag_p99']:.2f} s "
                    f"max {figures['lag_max']:.2f} s  duplicates {len(lags) - unique}"
                )
            if figures["non_2xx"]:
                line += f"  non-2xx {figures['non_2xx']:.0f}"
            print(line, flush=True)
            rows.setdefault(kind, []).append(figures)

        if args.pairs:

            def median(kind: str, key: str) -> float:
                return statistics.median(row[key] for row in rows[kind])

            print(
                f"\nmedians: A p99 {median('A', 'p99'):.1f} ms, {median('A', 'rps'):.0f} req/s; "
                f"B p99 {median('B', 'p99'):.1f} ms, {median('B', 'rps'):.0f} req/s; "
                f"p99 B/A {median('B', 'p99') / median('A', 'p99'):.2f}; "
                f"delivered {median('B', 'per_second'):.0f}/s; lag max {median('B', 'lag_max'):.2f} s"
            )
        if args.booking:
            await booking_overhead(conn, calls=1500)
    finally:
        await conn.close()
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        listening.close()
        shutil.rmtree(data_dir, ignore_errors=True)
        if not args.keep:
            admin = await asyncpg.connect(f"{admin_url}/postgres")
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            finally:
                await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--database-url", default="postgresql://postgres@127.0.0.1:5432/queueless_bench_webhooks",
        help="a database to (re)create; its server's `postgres` database is used to create it",
    )  # fmt: skip
    parser.add_argument("--rate", type=int, default=200, help="events per second in the B runs")
    parser.add_argument("--duration", type=int, default=20, help="seconds per run")
    parser.add_argument("--pairs", type=int, default=3, help="A/B pairs, alternated (0: the booking part alone)")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--no-booking", dest="booking", action="store_false", help="skip the booking statement part")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    asyncio.run(asyncio.wait_for(run(args), timeout=args.pairs * (2 * args.duration + 90) + 600))


if __name__ == "__main__":
    main()
