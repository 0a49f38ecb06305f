"""GET /metrics: hidden without METRICS_TOKEN, refused with a wrong one, and the contract's metric
names; under `serve --workers 2` the figures are summed over the workers."""

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from app.core.settings import Settings
from tests.chat.helpers import socket
from tests.core.test_cli import _free_port
from tests.helpers import assert_problem, register

TOKEN = "metrics-token-" + "m" * 20


@pytest.fixture
def with_token(app: FastAPI, settings: Settings) -> Iterator[None]:
    # Not monkeypatch.setattr: its undo deletes a Starlette State attribute instead of restoring it.
    app.state.settings = settings.model_copy(update={"metrics_token": TOKEN})
    yield
    app.state.settings = settings


def _sample(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{key}="{value}"' for key, value in labels.items())
    pattern = rf"^{re.escape(name)}{{{re.escape(wanted)}}} (\S+)$" if labels else rf"^{re.escape(name)} (\S+)$"
    found = re.search(pattern, text, re.MULTILINE)
    assert found, f"{name}{{{wanted}}} not in metrics"
    return float(found[1])


async def test_metrics_are_hidden_without_a_token(app: FastAPI) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        assert_problem(await client.get("/metrics"), 404, "not_found")
        assert_problem(await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}), 404, "not_found")


@pytest.mark.usefixtures("with_token")
async def test_metrics_need_the_token_and_name_routes_by_template(app: FastAPI, client: httpx.AsyncClient) -> None:
    account = await register(client)
    for _ in range(3):
        assert (await client.get("/users/me", headers=account.headers)).status_code == 200
    assert (await client.get("/no/such/path")).status_code == 404
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as root:
        assert_problem(await root.get("/metrics"), 401, "not_authenticated")
        assert_problem(await root.get("/metrics", headers={"Authorization": "Bearer wrong"}), 401, "not_authenticated")
        async with socket(app, account.access_token):
            response = await root.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert _sample(text, "queueless_http_requests_total", method="GET", route="/api/v1/users/me", status="200") >= 3
    assert _sample(text, "queueless_http_requests_total", method="GET", route="<unmatched>", status="404") >= 1
    count = _sample(text, "queueless_http_request_duration_seconds_count", method="GET", route="/api/v1/users/me")
    assert count >= 3
    assert _sample(text, "queueless_websocket_connections") >= 1
    assert _sample(text, "queueless_db_pool_connections", state="in_use") >= 0
    assert _sample(text, "queueless_outbox_emails", state="pending") >= 1  # the verification mail
    assert TOKEN not in text


def test_serve_with_two_workers_sums_their_figures(database_url: str, tmp_path: Path) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "DATA_DIR": str(tmp_path / "data"),
        "DATABASE_URL": database_url,
        "SECRET_KEY": "s" * 40,
        "METRICS_TOKEN": TOKEN,
        "ENVIRONMENT": "test",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        started = time.monotonic()
        while True:
            assert server.poll() is None
            try:
                if httpx.get(f"{base}/health/live", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() - started < 90, "serve did not start"
            time.sleep(0.3)
        for _ in range(30):  # a new connection each: the workers share them out
            assert httpx.get(f"{base}/api/v1/organizations", timeout=10).status_code == 200
        metrics_dir = tmp_path / "data" / "metrics" / str(server.pid)
        pids = {path.stem.rsplit("_", 1)[-1] for path in metrics_dir.glob("counter_*.db")}
        headers = {"Authorization": f"Bearer {TOKEN}"}
        for _ in range(4):  # whichever worker answers, the sum is the same
            text = httpx.get(f"{base}/metrics", headers=headers, timeout=10).text
            total = _sample(
                text, "queueless_http_requests_total", method="GET", route="/api/v1/organizations", status="200"
            )
            assert total == 30
        assert len(pids) == 2, pids  # both workers counted requests
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert not metrics_dir.exists()  # serve removes its samples when it ends
