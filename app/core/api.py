"""The application factory: lifespan (engine, signer), middleware, error handlers, OpenAPI."""

import gc
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from datetime import timedelta
from http import HTTPStatus
from typing import Any

import anyio.to_thread
import asyncpg
from fastapi import APIRouter, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, EmulatedDBAPIException
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.core import health, metrics, migrations, openapi, param_cache, route_index
from app.core.body_limit import JsonBodyLimitMiddleware
from app.core.database import (
    DATABASE_RETRY_AFTER_SECONDS,
    create_engine,
    create_sessionmaker,
    is_database_unavailable,
    release_database,
    resolve_database_url,
)
from app.core.errors import AppError, DatabaseUnavailable
from app.core.http_protocol import throttle_accept_errors
from app.core.logging import RequestContextMiddleware, configure_logging
from app.core.security import TokenSigner
from app.core.settings import Settings

logger = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
API_PREFIX = "/api/v1"


def problem(
    status: int,
    *,
    code: str,
    detail: str,
    title: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = {
        "type": f"https://queueless.dev/problems/{code.replace('_', '-')}",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }
    return JSONResponse(jsonable_encoder(body), status_code=status, media_type=PROBLEM_JSON, headers=headers)


async def _app_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    extra = {"errors": exc.errors} if exc.errors is not None else {}
    return problem(exc.status_code, code=exc.code, title=exc.title, detail=exc.detail, headers=exc.headers, **extra)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": list(err.get("loc", ())), "msg": str(err.get("msg", "")), "type": str(err.get("type", ""))}
        for err in exc.errors()
    ]
    return problem(
        422, code="validation_error", title="Invalid input", detail="The request is not valid.", errors=errors
    )


_HTTP_CODES = {
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
}


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, HTTPStatus(exc.status_code).phrase.lower().replace(" ", "_"))
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).description
    return problem(exc.status_code, code=code, detail=detail, headers=getattr(exc, "headers", None))


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    request_id = getattr(request.state, "request_id", None) or "unknown"
    logger.error("unhandled error", exc_info=exc, extra={"request_id": request_id})
    return problem(
        500,
        code="internal_error",
        detail=f"Something went wrong on our side. Quote request id {request_id} when reporting it.",
        headers={"X-Request-ID": request_id},
        request_id=request_id,
    )


BackgroundService = Callable[[FastAPI], AbstractAsyncContextManager[None]]


# PostgreSQL error classes that mean "the input" or "a concurrent request", never "our bug".
_DATA_EXCEPTION = "22"  # e.g. a NUL character, a value out of range
_CONSTRAINT_VIOLATION = "23"  # a concurrent request created the same row first
_TRANSACTION_ROLLBACK = "40"  # deadlock or serialization failure


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    """Backstop for database errors that a service did not turn into an AppError itself: from
    SQLAlchemy (`DBAPIError`, the driver's error in `orig`) or from a hot path's prepared
    statement (`asyncpg.PostgresError` itself). One that means the database cannot be reached is a
    503 with `Retry-After`."""
    if is_database_unavailable(exc):
        return await _app_error(request, DatabaseUnavailable(retry_after=DATABASE_RETRY_AFTER_SECONDS))
    driver_error = exc.orig if isinstance(exc, DBAPIError) else exc
    state = str(getattr(driver_error, "sqlstate", None) or "")
    if state.startswith(_DATA_EXCEPTION):
        return problem(422, code="validation_error", title="Invalid input", detail="A value cannot be stored as given.")
    if state.startswith((_CONSTRAINT_VIOLATION, _TRANSACTION_ROLLBACK)):
        return problem(409, code="conflict", title="Conflict", detail="A concurrent change conflicted; try again.")
    return await _unexpected_error(request, exc)


async def _connection_error(request: Request, exc: Exception) -> JSONResponse:
    """An `OSError` or a driver's `InterfaceError` (a refused or lost connection to the database, the
    pool's timeout). Handled here rather than by the generic handler, which Starlette runs in its
    outermost middleware and then raises again, so that uvicorn drops the client's connection:
    with the database down, every request would cost the client its keep-alive connection."""
    if is_database_unavailable(exc):
        return await _app_error(request, DatabaseUnavailable(retry_after=DATABASE_RETRY_AFTER_SECONDS))
    return await _unexpected_error(request, exc)


async def _overflow_error(request: Request, exc: Exception) -> JSONResponse:
    # Date arithmetic at the ends of the calendar (year 1 or 9999) overflows.
    return problem(422, code="validation_error", title="Invalid input", detail="A date or number is out of range.")


def settle_garbage_collector() -> None:
    """Keep the cyclic garbage collector off the objects that live as long as the process.

    After start-up the heap holds hundreds of thousands of long-lived objects (modules, the ORM
    mappers, the routes, the schemas). Every full collection walked all of them, and with many
    requests in flight full collections come often: they cost 30 to 40 % of the CPU of a simple
    read. `gc.freeze()` moves them to a generation the collector never visits, as Instagram's
    servers do; a larger first generation makes the young collections rarer as well.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)


def create_app(
    settings: Settings, routers: Sequence[APIRouter], background: Sequence[BackgroundService] = ()
) -> FastAPI:
    """Build the app. `background` are features' long-running parts (the realtime listener, the
    reminder worker): each is an async context manager entered after the database is ready and
    left, in reverse order, at shutdown."""
    settings.check_production_ready()
    configure_logging(json_lines=settings.json_logs, level=settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        url = await anyio.to_thread.run_sync(resolve_database_url, settings)
        secret = await anyio.to_thread.run_sync(settings.resolved_secret_key)
        engine = create_engine(url, settings)
        app.state.engine = engine
        app.state.sessionmaker = create_sessionmaker(engine)
        app.state.signer = TokenSigner(
            secret_key=secret,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            access_ttl=timedelta(minutes=settings.access_token_minutes),
        )
        app.state.migration_heads = migrations.head_revisions()
        throttle_accept_errors(settings.accept_error_log_seconds)
        try:
            async with AsyncExitStack() as stack:
                for service in background:
                    await stack.enter_async_context(service(app))
                settle_garbage_collector()
                yield
        finally:
            await engine.dispose()
            await anyio.to_thread.run_sync(release_database, settings)
            metrics.process_exiting()

    app = FastAPI(
        title="Queueless",
        version="0.1.0",
        summary="Book appointments, upload documents, check in by QR code, chat with staff. Nobody queues.",
        openapi_url="/api/openapi.json",
        docs_url="/docs",
        redoc_url="/redoc",
        lifespan=lifespan,
        # FastAPI's built-in OpenTelemetry looks up the global providers on every request (15 %
        # of a simple request's CPU here); the app's own telemetry is its JSON request log.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.state.settings = settings
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(asyncpg.PostgresError, _database_error)
    # The driver's error as SQLAlchemy's adapter raises it where no `DBAPIError` wraps it (a pool's
    # connect, on the hot paths).
    app.add_exception_handler(EmulatedDBAPIException, _database_error)
    app.add_exception_handler(asyncpg.InterfaceError, _connection_error)
    app.add_exception_handler(asyncpg.InternalClientError, _connection_error)
    app.add_exception_handler(OSError, _connection_error)
    app.add_exception_handler(PoolTimeoutError, _connection_error)
    app.add_exception_handler(OverflowError, _overflow_error)
    app.add_exception_handler(Exception, _unexpected_error)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["X-Request-ID", "Retry-After"],
        )
    app.add_middleware(JsonBodyLimitMiddleware, max_bytes=settings.max_json_body_bytes)
    app.add_middleware(metrics.MetricsMiddleware)
    app.add_middleware(RequestContextMiddleware)

    app.include_router(health.router)
    app.include_router(metrics.router)
    for router in routers:
        app.include_router(router, prefix=API_PREFIX)
    route_index.install(app)
    param_cache.install()
    openapi.install(app, routers, prefix=API_PREFIX)
    return app
