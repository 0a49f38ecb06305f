"""Does bcrypt block the event loop? Probe /health/live while 20 logins run concurrently.

    uv run python bench/login.py [--seconds 15] [--concurrency 20]

Starts `queueless serve` (embedded PostgreSQL in a temporary DATA_DIR, loopback only), registers
one account, then measures the latency of /health/live alone (the baseline of this run) and while
`--concurrency` clients log in back to back. If hashing ran on the event loop, every probe would
wait behind a ~200 ms bcrypt call; in worker threads the probes stay fast.
"""

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import httpx
from lib.server import wait_live

PASSWORD = "bench passphrase 2026"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def probe(client: httpx.AsyncClient, until: float) -> list[float]:
    latencies = []
    while time.monotonic() < until:
        started = time.perf_counter()
        response = await client.get("/health/live")
        latencies.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
        await asyncio.sleep(0.02)
    return latencies


async def login_loop(client: httpx.AsyncClient, email: str, until: float) -> int:
    count = 0
    while time.monotonic() < until:
        response = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        assert response.status_code == 200, response.text
        count += 1
    return count


def summary(name: str, latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"{name}: n={len(ordered)} p50={statistics.median(ordered):.1f} ms p99={p99:.1f} ms"


async def run(base_url: str, server: subprocess.Popen[bytes], seconds: float, concurrency: int) -> None:
    limits = httpx.Limits(max_connections=concurrency + 5)
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as client:
        await wait_live(client, server, within=60, path="/health/ready")
        email = f"bench-{os.getpid()}@example.org"
        registered = await client.post(
            "/api/v1/auth/register", json={"email": email, "password": PASSWORD, "full_name": "B"}
        )
        assert registered.status_code == 201, registered.text
        idle = await probe(client, time.monotonic() + min(5.0, seconds))
        until = time.monotonic() + seconds
        logins, loaded = await asyncio.gather(
            asyncio.gather(*(login_loop(client, email, until) for _ in range(concurrency))),
            probe(client, until),
        )
    idle_p99 = sorted(idle)[int(len(idle) * 0.99) - 1]
    loaded_p99 = sorted(loaded)[int(len(loaded) * 0.99) - 1]
    print(summary("health/live, idle    ", idle))
    print(summary(f"health/live, {concurrency} logins", loaded))
    print(f"logins: {sum(logins) / seconds:.1f}/s; p99 ratio loaded/idle: {loaded_p99 / idle_p99:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args()
    port = free_port()
    # The login limits are raised: this measures hashing, not throttling.
    with tempfile.TemporaryDirectory() as data_dir:
        env = {**os.environ, "DATA_DIR": data_dir, "LOG_LEVEL": "WARNING", "LOGIN_FAILURES_PER_ACCOUNT": "1000000"}
        env.pop("DATABASE_URL", None)
        server = subprocess.Popen([sys.executable, "-m", "app", "serve", "--port", str(port)], env=env)
        try:
            asyncio.run(run(f"http://127.0.0.1:{port}", server, args.seconds, args.concurrency))
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
