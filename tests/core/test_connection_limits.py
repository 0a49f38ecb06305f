"""Bounds on what clients can hold, against `queueless serve` as its own process over real sockets:
a request head's size and header count (431), the time its head may take (408), the number of
open connections (503), and failures to accept connections logged once per interval."""

import json
import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.core.postgres_process import free_port

MAX_HEADER_BYTES = 8192
MAX_HEADER_COUNT = 50
HEADER_TIMEOUT = 2
MAX_CONNECTIONS = 10


class Serve:
    def __init__(self, process: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.process = process
        self.port = port
        self.log = log

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)


def _start(tmp_path: Path, database_url: str, extra_env: dict[str, str], preexec: Callable[[], None] | None) -> Serve:
    port = free_port()
    log = tmp_path / f"serve-{port}.log"
    env = {
        **os.environ,
        "ENVIRONMENT": "test",
        "DATABASE_URL": database_url,
        "SECRET_KEY": "limits-secret-" + "x" * 40,
        "DATA_DIR": str(tmp_path / "data"),
        "LOG_LEVEL": "WARNING",
        **extra_env,
    }
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "app", "serve", "--port", str(port)],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            preexec_fn=preexec,
        )
    started = time.monotonic()
    while True:
        assert process.poll() is None, log.read_text()
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=1).status_code == 200:
                return Serve(process, port, log)
        except httpx.TransportError:
            pass
        if time.monotonic() - started > 60:
            process.kill()
            raise AssertionError("serve did not become ready")
        time.sleep(0.2)


def _stop(serve: Serve) -> None:
    serve.process.terminate()
    try:
        serve.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        serve.process.kill()
        serve.process.wait()


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Iterator[Serve]:
    limits = {
        "MAX_HEADER_BYTES": str(MAX_HEADER_BYTES),
        "MAX_HEADER_COUNT": str(MAX_HEADER_COUNT),
        "HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT),
        "MAX_CONNECTIONS": str(MAX_CONNECTIONS),
    }
    server = _start(tmp_path_factory.mktemp("limits"), database_url, limits, None)
    yield server
    _stop(server)


def _read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"closed without an answer after {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    while len(body) < int(headers.get("content-length", "0")):
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(status_line.split()[1]), headers, body


def _send_all(sock: socket.socket, data: bytes) -> int:
    """Send what the server takes; stop when it has closed the connection."""
    sent = 0
    try:
        while sent < len(data):
            sent += sock.send(data[sent : sent + 16384])
    except (BrokenPipeError, ConnectionResetError):
        pass
    return sent


def test_a_head_within_the_limits_is_served(serve: Serve) -> None:
    headers = "".join(f"X-Field-{n}: {'v' * 100}\r\n" for n in range(MAX_HEADER_COUNT - 5))
    with serve.connect() as sock:
        sock.sendall(f"GET /health/live HTTP/1.1\r\nHost: test\r\n{headers}\r\n".encode())
        status, _, body = _read_response(sock)
    assert status == 200, body


def test_a_huge_header_is_refused_with_431_before_it_is_buffered(serve: Serve) -> None:
    with serve.connect() as sock:
        head = b"GET /health/live HTTP/1.1\r\nHost: test\r\nX-Big: " + b"a" * (50 * 1024 * 1024)
        sent = _send_all(sock, head)
        status, headers, body = _read_response(sock)
    assert status == 431
    assert headers["content-type"] == "application/problem+json"
    assert json.loads(body)["code"] == "request_header_fields_too_large"
    assert sent < 10 * 1024 * 1024, "the server read far past its limit"


def test_a_head_over_the_byte_limit_in_one_piece_is_refused(serve: Serve) -> None:
    with serve.connect() as sock:
        sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: test\r\nX-Big: " + b"a" * MAX_HEADER_BYTES + b"\r\n\r\n")
        status, _, _ = _read_response(sock)
    assert status == 431


def test_too_many_headers_are_refused_with_431(serve: Serve) -> None:
    headers = "".join(f"X-{n}: 1\r\n" for n in range(MAX_HEADER_COUNT + 1))
    with serve.connect() as sock:
        sock.sendall(f"GET /health/live HTTP/1.1\r\nHost: test\r\n{headers}\r\n".encode())
        status, _, body = _read_response(sock)
    assert status == 431
    assert json.loads(body)["code"] == "request_header_fields_too_large"


def test_a_head_that_trickles_in_is_cut_off_after_the_header_timeout(serve: Serve) -> None:
    with serve.connect() as sock:
        started = time.monotonic()
        sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: test\r\n")
        try:
            while time.monotonic() - started < HEADER_TIMEOUT + 5:
                sock.sendall(b"X-Slow: 1\r\n")
                time.sleep(0.2)
                sock.setblocking(False)
                try:
                    if sock.recv(1, socket.MSG_PEEK):
                        break
                except BlockingIOError:
                    pass
                finally:
                    sock.setblocking(True)
        except (BrokenPipeError, ConnectionResetError):
            pass
        status, _, _ = _read_response(sock)
        waited = time.monotonic() - started
    assert status == 408
    assert HEADER_TIMEOUT - 0.5 < waited < HEADER_TIMEOUT + 2


def test_a_connection_that_sends_nothing_is_closed_after_the_header_timeout(serve: Serve) -> None:
    with serve.connect() as sock:
        started = time.monotonic()
        sock.settimeout(HEADER_TIMEOUT + 5)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        waited = time.monotonic() - started
    assert received.startswith(b"HTTP/1.1 408 "), received
    assert HEADER_TIMEOUT - 0.5 < waited < HEADER_TIMEOUT + 2


def test_connections_over_the_cap_are_answered_503(serve: Serve) -> None:
    held = [serve.connect() for _ in range(MAX_CONNECTIONS)]
    try:
        time.sleep(0.3)  # accepted by the server
        with serve.connect() as extra:
            extra.sendall(b"GET /health/live HTTP/1.1\r\nHost: test\r\n\r\n")
            status, headers, body = _read_response(extra)
        assert status == 503
        assert json.loads(body)["code"] == "service_unavailable"
        assert int(headers["retry-after"]) >= 1
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.3)
    assert httpx.get(f"http://127.0.0.1:{serve.port}/health/live").status_code == 200


def _few_files() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (128, 128))


def test_accept_failures_are_logged_once_per_interval(tmp_path: Path, database_url: str) -> None:
    """With no file descriptor left, every accept() fails; the log gets one line per interval."""
    env = {"MAX_CONNECTIONS": "100000", "HEADER_TIMEOUT_SECONDS": "60", "ACCEPT_ERROR_LOG_SECONDS": "60"}
    server = _start(tmp_path, database_url, env, _few_files)
    clients: list[socket.socket] = []
    try:
        for _ in range(300):
            clients.append(socket.create_connection(("127.0.0.1", server.port), timeout=5))
        time.sleep(3.5)
    finally:
        for sock in clients:
            sock.close()
        _stop(server)
    # Log records start with their time; traceback lines do not.
    records = [line for line in server.log.read_text().splitlines() if line[:2].isdigit()]
    about_accept = [line for line in records if "accept" in line or "_start_serving" in line]
    assert len(about_accept) == 1, about_accept[:5]
