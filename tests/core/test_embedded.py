"""The embedded PostgreSQL outlives no process that held it, even after one was killed."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from app.core import embedded

HOLD = "import sys, time; from pathlib import Path; from app.core import embedded; embedded.start(Path(sys.argv[1]))"


def _holders(data_dir: Path) -> list[int]:
    path = data_dir / "postgres" / embedded.HOLDERS_FILE
    return json.loads(path.read_text()) if path.exists() else []


def test_a_killed_holder_does_not_keep_the_server_running(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    killed = subprocess.Popen([sys.executable, "-c", HOLD + "; time.sleep(120)", str(data_dir)])
    try:
        started = time.monotonic()
        while killed.pid not in _holders(data_dir):
            assert killed.poll() is None, "the holder exited"
            assert time.monotonic() - started < 60, "the server did not start"
            time.sleep(0.2)
        killed.send_signal(signal.SIGKILL)  # no exit hooks: its pid stays in the list
        killed.wait(timeout=10)
        assert embedded.is_running(data_dir)

        # A later process joins the server and exits normally: it is the last live holder.
        subprocess.run([sys.executable, "-c", HOLD, str(data_dir)], check=True, timeout=60)
        assert not embedded.is_running(data_dir)
    finally:
        killed.kill()
        embedded.stop(data_dir)  # no database server outlives a failed run
