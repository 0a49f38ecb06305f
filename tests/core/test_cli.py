"""`queueless serve`: as a real process (embedded database, migrations, then /health/ready), and its options."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from app import cli
from app.core import embedded
from app.core.http_protocol import BoundedProtocol
from app.core.settings import Settings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_cli(args: list[str], env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def _embedded_env(tmp_path: Path) -> dict[str, str]:
    env = {**os.environ, "DATA_DIR": str(tmp_path / "data"), "BCRYPT_ROUNDS": "4"}
    env.pop("DATABASE_URL", None)
    env.pop("SECRET_KEY", None)
    return env


def _start_serve(env: dict[str, str], port: int) -> subprocess.Popen[str]:
    """`queueless serve` as its own process, once it answers /health/ready."""
    server = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    started = time.monotonic()
    while True:
        assert server.poll() is None, server.stdout.read() if server.stdout else ""
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        if time.monotonic() - started > 60:
            server.kill()
            raise AssertionError("serve did not become ready")
        time.sleep(0.2)


def test_serve_starts_embedded_database_and_create_admin_joins_it(tmp_path: Path) -> None:
    port = _free_port()
    env = _embedded_env(tmp_path)
    server = _start_serve(env, port)
    try:
        admin = _run_cli(["create-admin", "--email", "root@example.org", "--password", "a long admin passphrase"], env)
        assert admin.returncode == 0, admin.stderr
        login = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/auth/login",
            json={"email": "root@example.org", "password": "a long admin passphrase"},
        )
        assert login.status_code == 200
        assert login.json()["user"]["role"] == "admin"
        # create-admin exiting must not have stopped the server it joined.
        assert httpx.get(f"http://127.0.0.1:{port}/health/ready").status_code == 200
        url = _run_cli(["db-url"], env)
        assert url.stdout.startswith("postgresql://")
        assert (tmp_path / "data" / "secret_key").exists()
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
    assert server.returncode == 0
    # Ctrl-C stopped the embedded server too.
    assert not (tmp_path / "data" / "postgres" / "postmaster.pid").exists()


def test_sigterm_stops_serve_and_its_embedded_database(tmp_path: Path) -> None:
    server = _start_serve(_embedded_env(tmp_path), _free_port())
    try:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
        assert not (tmp_path / "data" / "postgres" / "postmaster.pid").exists()
    finally:  # neither the server nor its database outlives a failed run
        if server.poll() is None:
            server.kill()
            server.wait()
        embedded.stop(tmp_path / "data")


def test_production_without_secret_refuses_to_start(tmp_path: Path) -> None:
    env = {**os.environ, "ENVIRONMENT": "production", "DATA_DIR": str(tmp_path)}
    env.pop("SECRET_KEY", None)
    env.pop("DATABASE_URL", None)
    result = _run_cli(["serve", "--port", str(_free_port())], env, timeout=30)
    assert result.returncode != 0
    assert "SECRET_KEY and DATABASE_URL" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("argv", "loop"), [([], "asyncio"), (["--loop", "uvloop"], "uvloop")])
def test_serve_runs_uvicorn_on_the_chosen_event_loop(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, argv: list[str], loop: str
) -> None:
    import uvicorn

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(cli, "_settings", lambda: Settings(data_dir=tmp_path, secret_key="k" * 40))
    monkeypatch.setattr(cli, "upgrade_head", lambda url: None)
    monkeypatch.setattr(cli, "resolve_database_url", lambda settings: "postgresql://unused")
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: calls.append({"app": app, **options}))
    cli.main(["serve", "--port", "8123", *argv])
    assert [(call["app"], call["port"], call["loop"]) for call in calls] == [("app.main:app", 8123, loop)]
    assert calls[0]["http"] is BoundedProtocol
