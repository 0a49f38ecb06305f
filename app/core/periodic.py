"""A background pass run over and over (reminders, the e-mail outbox, SLA breaches, webhooks): knows no feature."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from functools import partial
from typing import Any

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.settings import Settings

logger = logging.getLogger(__name__)


async def every(name: str, interval: float, batch: int, run_pass: Callable[[], Awaitable[int]]) -> None:
    """Run `run_pass` (which returns how much it did) forever, `interval` seconds apart; at once
    again after a full `batch`, since more is waiting. A failed pass is logged and retried."""
    while True:
        done = 0
        try:
            done = await run_pass()
        except Exception:
            logger.exception("%s pass failed", name)
        if done < batch:
            await asyncio.sleep(interval)


PassFunction = Callable[..., Awaitable[int]]
"""`run_pass(sessionmaker, *, settings=..., **resources)`: one pass, returning how much it did."""

Resources = Callable[[Settings], AbstractAsyncContextManager[dict[str, Any]]]
"""What every pass of the service gets as keyword arguments, opened once for the service's life:
e.g. an HTTP client whose connections stay open between passes."""


def periodic_service(
    name: str,
    *,
    batch: int,
    interval: Callable[[Settings], float],
    run_pass: PassFunction,
    resources: Resources | None = None,
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """A background service (see `create_app`) that runs `run_pass` with `every` while the app
    runs, in each process where the workers are on (`NOTIFICATION_WORKERS`); with `resources`,
    each pass also gets what they open for the service's life."""

    async def run(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        async with AsyncExitStack() as stack:
            extra = await stack.enter_async_context(resources(settings)) if resources is not None else {}
            await every(name, interval(settings), batch, partial(run_pass, sessionmaker, settings=settings, **extra))

    @asynccontextmanager
    async def service(app: FastAPI) -> AsyncIterator[None]:
        settings: Settings = app.state.settings
        if not settings.notification_workers_enabled:
            yield
            return
        task = asyncio.create_task(run(settings, app.state.sessionmaker))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return service
