"""QR codes, photo decoding and document uploads against a real server on loopback.

    uv run python bench/qr_documents.py [--requests-scale 1.0]

Starts `queueless serve` (1 worker, embedded PostgreSQL in a temporary DATA_DIR) on a free
loopback port, sets up an organization, a service with a schedule and a booked appointment
through the API, then measures:

1. GET /appointments/{id}/qr (PNG, cached after the first): requests per second, 8 clients.
2. A 1600x1200 JPEG phone-style photo of that code: POST /checkins/scan (QR only) and
   POST /qr/decode (every format), p50 / p99 with 4 concurrent clients.
3. GET /services/{id}/slots (7 days) p50 / p99 from one client, alone and while 4 clients decode.
4. 5 MiB uploads (POST /documents, one client): MB/s, against writing the same bytes to a file
   in the same DATA_DIR in the same run.

Every loop is bounded in count and time; the server is stopped by its pid at the end.
"""

import argparse
import asyncio
import io
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from pathlib import Path

import httpx
from PIL import Image, ImageFilter

PASSWORD = "correct horse battery"
QUEUELESS = str(Path(sys.executable).parent / "queueless")
PHASE_SECONDS = 30.0  # no phase runs longer than this, whatever its count


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def summary(values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return f"n={len(ms)} p50={percentile(ms, 50):.1f} ms p99={percentile(ms, 99):.1f} ms"


def phone_photo(png: bytes) -> bytes:
    """1600x1200 JPEG: the code rotated, smaller, in a noisy scene, slightly blurred."""
    code = Image.open(io.BytesIO(png)).convert("RGB").rotate(10, expand=True, fillcolor="white")
    code = code.resize((int(code.width * 0.9), int(code.height * 0.9)), Image.Resampling.LANCZOS)
    scene = Image.effect_noise((1600, 1200), 40).convert("RGB")
    rng = random.Random(3)
    for _ in range(8):
        x, y, g = rng.randrange(1400), rng.randrange(1000), rng.randrange(30, 220)
        scene.paste((g, g, g), (x, y, x + rng.randrange(50, 200), y + rng.randrange(50, 200)))
    scene.paste(code, (600, 350))
    out = io.BytesIO()
    scene.filter(ImageFilter.GaussianBlur(0.8)).save(out, "JPEG", quality=80)
    return out.getvalue()


def wrk(url: str, headers: dict[str, str]) -> float:
    """Requests per second from wrk (1 thread, 8 connections, 10 seconds): a client that costs the
    2-core machine far less than Python's."""
    header = [arg for name, value in headers.items() for arg in ("-H", f"{name}: {value}")]
    result = subprocess.run(
        ["wrk", "-t1", "-c8", "-d10s", *header, url], capture_output=True, text=True, timeout=60, check=True
    )
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", result.stdout)
    if non_2xx:
        raise RuntimeError(f"wrk saw {non_2xx.group(1)} errors for {url}")
    found = re.search(r"Requests/sec:\s+([\d.]+)", result.stdout)
    return float(found.group(1)) if found else float("nan")


async def timed_loop(
    call: Callable[[], Awaitable[httpx.Response]], *, clients: int, count: int, stop: asyncio.Event | None = None
) -> tuple[list[float], float]:
    """`count` calls spread over `clients` concurrent loops; latencies and wall time."""
    latencies: list[float] = []
    remaining = count
    deadline = time.monotonic() + PHASE_SECONDS

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0 and time.monotonic() < deadline and not (stop and stop.is_set()):
            remaining -= 1
            started = time.perf_counter()
            response = await call()
            latencies.append(time.perf_counter() - started)
            if response.status_code >= 400:
                raise RuntimeError(f"{response.status_code}: {response.text[:300]}")

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    return latencies, time.perf_counter() - started


async def run(base: str, data_dir: Path, env: dict[str, str], scale: float) -> None:
    n = lambda count: max(10, int(count * scale))  # noqa: E731
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=httpx.Limits(max_connections=32)) as client:

        async def account(name: str) -> dict[str, str]:
            email = f"{name}-{os.getpid()}@example.org"
            body = {"email": email, "password": PASSWORD, "full_name": name}
            response = await client.post("/auth/register", json=body)
            response.raise_for_status()
            return {"Authorization": f"Bearer {response.json()['access_token']}"}

        admin_email = f"admin-{os.getpid()}@example.org"
        command = [QUEUELESS, "create-admin", "--email", admin_email, "--password", PASSWORD, "--full-name", "Admin"]
        subprocess.run(command, env=env, check=True, capture_output=True, timeout=120)  # noqa: ASYNC221  (setup)
        login = await client.post("/auth/login", json={"email": admin_email, "password": PASSWORD})
        admin = {"Authorization": f"Bearer {login.json()['access_token']}"}
        citizen, staff = await account("citizen"), await account("staff")
        org = (
            await client.post(
                "/organizations", json={"name": "Bench hall", "kind": "government", "timezone": "UTC"}, headers=admin
            )
        ).json()
        staff_email = f"staff-{os.getpid()}@example.org"
        await client.post(
            f"/organizations/{org['id']}/members", json={"email": staff_email, "role": "manager"}, headers=admin
        )
        service = (
            await client.post(
                f"/organizations/{org['id']}/services",
                json={"name": "Passport", "duration_minutes": 15, "capacity": 5,
                      "requirements": [{"name": "ID card", "mandatory": True}]},
                headers=staff,
            )
        ).json()  # fmt: skip
        weekly = [{"weekday": d, "opens": "00:00", "closes": "23:45"} for d in range(7)]
        schedule = {"slot_minutes": 15, "weekly": weekly, "min_notice_minutes": 0, "max_days_ahead": 60}
        (await client.put(f"/services/{service['id']}/schedule", json=schedule, headers=staff)).raise_for_status()
        tomorrow = date.today() + timedelta(days=1)
        slots_params = {"from": tomorrow.isoformat(), "to": (tomorrow + timedelta(days=6)).isoformat()}
        slots = (await client.get(f"/services/{service['id']}/slots", params=slots_params)).json()
        booked = await client.post(
            "/appointments", json={"service_id": service["id"], "starts_at": slots[0]["starts_at"]}, headers=citizen
        )
        booked.raise_for_status()
        appointment = booked.json()
        print(f"setup: {len(slots)} slots over 7 days, appointment {appointment['reference']}")

        # 1. QR image per appointment.
        qr_url = f"/appointments/{appointment['id']}/qr"
        started = time.perf_counter()
        png = (await client.get(qr_url, headers=citizen)).content
        print(f"qr first (uncached) request: {(time.perf_counter() - started) * 1000:.1f} ms, {len(png)} bytes")
        latencies, wall = await timed_loop(lambda: client.get(qr_url, headers=citizen), clients=8, count=n(3000))
        print(
            f"GET /appointments/{{id}}/qr cached, 8 Python clients: {len(latencies) / wall:.0f} req/s, "
            + summary(latencies)
        )
        if shutil.which("wrk"):
            for label, path in (
                ("GET /appointments/{id}/qr (PNG, cached)", qr_url),
                ("GET /users/me (for scale)", "/users/me"),
            ):
                print(f"{label}, wrk 8 connections 10 s: {wrk(base + path, citizen):.0f} req/s")

        # 2. Decoding a 1600x1200 photo.
        photo = phone_photo(png)
        probe = await client.post("/qr/decode", files={"file": ("p.jpg", photo, "image/jpeg")}, headers=staff)
        print(f"photo: 1600x1200 JPEG {len(photo) // 1024} KiB, decoded: {probe.json()}")

        def scan() -> Awaitable[httpx.Response]:
            return client.post("/checkins/scan", files={"file": ("p.jpg", photo, "image/jpeg")}, headers=staff)

        def decode_all() -> Awaitable[httpx.Response]:
            return client.post("/qr/decode", files={"file": ("p.jpg", photo, "image/jpeg")}, headers=staff)

        # The appointment is tomorrow: outside the check-in window, so scans answer 409 after the
        # full decode. Count them as decodes, not failures.
        async def scan_any() -> httpx.Response:
            response = await scan()
            return httpx.Response(200) if response.status_code == 409 else response

        for name, call in (("POST /checkins/scan (QR only)", scan_any), ("POST /qr/decode (all formats)", decode_all)):
            latencies, wall = await timed_loop(call, clients=4, count=n(120))
            print(f"{name}, 4 clients: {summary(latencies)}, {len(latencies) / wall:.1f} decodes/s")

        # 3. Slots while decodes run.
        slots_url = f"/services/{service['id']}/slots"

        def get_slots() -> Awaitable[httpx.Response]:
            return client.get(slots_url, params=slots_params)

        await timed_loop(get_slots, clients=1, count=20)
        alone, _ = await timed_loop(get_slots, clients=1, count=n(300))
        stop = asyncio.Event()
        decoders = asyncio.gather(*(timed_loop(decode_all, clients=1, count=10_000, stop=stop) for _ in range(4)))
        await asyncio.sleep(0.5)
        during, _ = await timed_loop(get_slots, clients=1, count=n(300))
        stop.set()
        decode_results = await decoders
        decodes = sum(len(lat) for lat, _ in decode_results)
        ratio = percentile(during, 99) / percentile(alone, 99)
        print(f"GET /services/{{id}}/slots (7 days, {len(slots)} slots) alone: {summary(alone)}")
        print(f"GET /services/{{id}}/slots while 4 clients decode ({decodes} decodes): {summary(during)}")
        print(f"slots p99 with decodes / without: {ratio:.2f}x")

        # 4. 5 MiB uploads vs writing the same bytes to disk.
        payload = b"%PDF-1.7\n" + os.urandom(5 * 1024 * 1024 - 9)
        target = data_dir / "bench-write.bin"
        disk_times = []
        for _ in range(n(20)):
            started = time.perf_counter()
            with target.open("wb") as handle:
                handle.write(payload)
            disk_times.append(time.perf_counter() - started)
            target.unlink()

        async def upload() -> httpx.Response:
            files = {"file": ("big.pdf", payload, "application/pdf")}
            response = await client.post("/documents", files=files, headers=citizen)
            if response.status_code == 201:
                await client.delete(f"/documents/{response.json()['id']}", headers=citizen)
            return response

        upload_times, _ = await timed_loop(upload, clients=1, count=n(20))
        mib = len(payload) / (1024 * 1024)
        upload_rate = mib / statistics.median(upload_times)
        disk_rate = mib / statistics.median(disk_times)
        print(
            f"5 MiB upload (median of {len(upload_times)}, includes the DELETE): {upload_rate:.0f} MiB/s; "
            f"plain file write of the same bytes: {disk_rate:.0f} MiB/s; ratio {upload_rate / disk_rate:.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests-scale", type=float, default=1.0, help="multiply every request count")
    args = parser.parse_args()
    root = Path(__file__).resolve().parents[1]
    data_dir = Path(tempfile.mkdtemp(prefix="queueless-bench-qr-"))
    port = free_port()
    env = {
        **os.environ,
        "DATA_DIR": str(data_dir),
        "DOCUMENT_QUOTA_BYTES": str(10 * 1024**3),
        "LOG_LEVEL": "WARNING",
        "NOTIFICATION_WORKERS": "false",
    }
    env.pop("DATABASE_URL", None)
    server = subprocess.Popen(
        [QUEUELESS, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        cwd=root,
        env=env,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None:
                raise SystemExit("the server exited during start-up")
            time.sleep(0.5)
        else:
            raise SystemExit("the server did not become ready within 180 s")
        print(f"server pid {server.pid} on {base}, {os.cpu_count()} CPUs")
        asyncio.run(run(base + "/api/v1", data_dir, env, args.requests_scale))
    finally:
        os.killpg(server.pid, signal.SIGINT)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
