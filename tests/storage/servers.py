"""Real server processes for the storage tests: uvicorn subprocesses and an S3 API (moto)."""

import logging
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from moto.server import ThreadedMotoServer

from app.core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
ACCESS_KEY_ID = "testing"
SECRET_ACCESS_KEY = "testing"  # moto accepts any; set so obstore never asks the instance metadata


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def s3_server() -> Iterator[str]:
    """moto's S3 API on a free loopback port, in a thread of this process; its endpoint URL."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one log line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def create_bucket(endpoint: str) -> str:
    name = f"queueless-{uuid.uuid4().hex[:12]}"
    # moto does not check signatures: a plain CreateBucket request will do.
    assert httpx.put(f"{endpoint}/{name}").status_code == 200
    return name


def server_env(settings: Settings, *, data_dir: Path) -> dict[str, str]:
    """The environment of a server process on the database (and the storage) of `settings`."""
    assert settings.secret_key is not None
    assert settings.database_url is not None
    env = {
        "ENVIRONMENT": "test",
        "DATABASE_URL": settings.database_url,
        "SECRET_KEY": settings.secret_key,
        "DATA_DIR": str(data_dir),
        "LOG_LEVEL": "WARNING",
    }
    for name in (
        "storage_url",
        "storage_s3_endpoint",
        "storage_s3_region",
        "storage_s3_access_key_id",
        "storage_s3_secret_access_key",
    ):
        if value := getattr(settings, name):
            env[name.upper()] = value
    return env


class Server:
    """One `uvicorn app.main:app` process on a free loopback port."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "app.main:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            cwd=ROOT,
            env={**os.environ, **env},
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1"

    def wait_until_live(self, timeout: float = 90) -> "Server":
        """Returns once the app answers (after its start-up, so after the document sweep)."""
        deadline = time.monotonic() + timeout  # imports are slow on a busy 2-core box
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"uvicorn on port {self.port} exited with {self.process.returncode}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/health/live", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"uvicorn on port {self.port} did not start")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no cleanup, as in a crash."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@contextmanager
def servers(*envs: dict[str, str]) -> Iterator[list[Server]]:
    """Server processes, live, stopped at the end whatever happens."""
    started = [Server(env) for env in envs]
    try:
        for server in started:
            server.wait_until_live()
        yield started
    finally:
        for server in started:
            server.stop()
