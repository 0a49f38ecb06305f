"""Prometheus metrics: the request counter and histogram, the pool and socket gauges, and
`GET /metrics` behind METRICS_TOKEN.

Under `queueless serve` every worker process writes its samples to files in
PROMETHEUS_MULTIPROC_DIR (set by `serve` before any worker starts, see app/cli.py) and the
process that answers a scrape sums them all: prometheus-client's multiprocess mode. Without
that variable (tests, a bare `uvicorn app.main:app`) the process's own registry answers.

Features add what only they can count by registering a refresher (`REFRESHERS`), run at each
scrape with a database session (app/main.py registers the e-mail outbox's).
"""

import hmac
import os
import time
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.errors import NotAuthenticated, NotFound
from app.core.metrics_dir import multiprocess_dir
from app.core.settings import Settings

UNMATCHED = "<unmatched>"

HTTP_REQUESTS = Counter(
    "queueless_http_requests", "HTTP requests answered", ["method", "route", "status"]
)  # exposed as queueless_http_requests_total
HTTP_DURATION = Histogram(
    "queueless_http_request_duration_seconds",
    "Time from the request's arrival to the end of its response",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
DB_POOL = Gauge(
    "queueless_db_pool_connections",
    "Database connections of the pools, by state (in_use, idle)",
    ["state"],
    multiprocess_mode="livesum",
)
WEBSOCKETS = Gauge("queueless_websocket_connections", "Open WebSocket connections", multiprocess_mode="livesum")
OUTBOX_EMAILS = Gauge(
    "queueless_outbox_emails", "E-mails in the outbox, by state", ["state"], multiprocess_mode="mostrecent"
)

# Decided once, like prometheus-client's own choice of value storage at its import.
_MULTIPROCESS_DIR = multiprocess_dir()

Refresher = Callable[[AsyncSession], Awaitable[None]]
REFRESHERS: list[Refresher] = []

_POOL_EVERY_SECONDS = 1.0


def process_exiting() -> None:
    """Drop this process's live gauges from the sums (at shutdown)."""
    if _MULTIPROCESS_DIR is not None:
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


class MetricsMiddleware:
    """Counts and times every HTTP request by its route template (`/api/v1/appointments/{appointment_id}`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._pool_updated = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = route_template(scope)
            method = scope["method"]
            HTTP_REQUESTS.labels(method, route, str(status)).inc()
            HTTP_DURATION.labels(method, route).observe(time.perf_counter() - started)
            if started - self._pool_updated > _POOL_EVERY_SECONDS:
                self._pool_updated = started
                app = scope.get("app")
                engine = getattr(getattr(app, "state", None), "engine", None)
                if engine is not None:
                    update_pool(engine)


def route_template(scope: Scope) -> str:
    """The matched route's full template (`/api/v1/appointments/{appointment_id}`), or `<unmatched>`.

    FastAPI keeps an included router's prefix apart from its routes' own paths and records the
    full template of the route it chose in its part of the scope; an older FastAPI's route
    carries it itself."""
    route = scope.get("route")
    if route is None:
        return UNMATCHED
    chosen = (scope.get("fastapi") or {}).get("effective_route_context")
    template = getattr(chosen, "path_format", None) or getattr(route, "path_format", None)
    return str(template or getattr(route, "path", None) or UNMATCHED)


def update_pool(engine: AsyncEngine) -> None:
    pool = engine.sync_engine.pool
    in_use = getattr(pool, "checkedout", lambda: 0)()
    idle = getattr(pool, "checkedin", lambda: 0)()
    DB_POOL.labels("in_use").set(in_use)
    DB_POOL.labels("idle").set(idle)


def _registry() -> CollectorRegistry:
    if _MULTIPROCESS_DIR is None:
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(_MULTIPROCESS_DIR))  # type: ignore[no-untyped-call]
    return registry


router = APIRouter(include_in_schema=False)


@router.get("/metrics")
async def get_metrics(request: Request) -> Response:
    """Prometheus text for `Authorization: Bearer <METRICS_TOKEN>`; 404 while METRICS_TOKEN is unset."""
    settings: Settings = request.app.state.settings
    if not settings.metrics_token:
        raise NotFound()
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), settings.metrics_token.encode()):
        raise NotAuthenticated("The metrics token is missing or wrong.")
    update_pool(request.app.state.engine)
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    if REFRESHERS:
        async with sessionmaker() as session:
            for refresh in REFRESHERS:
                await refresh(session)
    return Response(generate_latest(_registry()), media_type=CONTENT_TYPE_LATEST)
