"""Waiting for a server a bench script started itself (bench/webhooks.py, bench/insights.py,
bench/login.py).

Imported as `lib.server` (the scripts run as `python bench/<name>.py`, so `bench/` is first on the
path)."""

import asyncio
import subprocess
import time

import httpx


async def wait_live(
    client: httpx.AsyncClient, process: subprocess.Popen[bytes], *, within: float, path: str = "/health/live"
) -> None:
    """Until `path` answers 200; SystemExit if the process exits or `within` seconds pass."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("the server exited")
        try:
            if (await client.get(path)).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.3)
    raise SystemExit(f"the server did not start within {within:.0f} s")
