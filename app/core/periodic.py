"""A background pass run over and over (reminders, the e-mail outbox, SLA breaches, webhooks): knows no feature."""

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from functools import partial
from typing import Any

import anyio.to_thread
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.core.database import create_engine, create_sessionmaker
from app.core.settings import Settings

logger = logging.getLogger(__name__)

# Connections of the engine a pass on its own loop uses (`own_loop=True`).
OWN_LOOP_POOL_SIZE = 2


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
"""What every pass of the service gets as keyword arguments, opened once for the service's life
(on its loop): e.g. an HTTP client whose connections stay open between passes."""


class _LoopThread(threading.Thread):
    """A thread running `work()` on an event loop of its own until `stop()`."""

    def __init__(self, name: str, work: Callable[[], Awaitable[None]]) -> None:
        super().__init__(name=name, daemon=True)
        self._work = work
        self._started = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None

    def run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop, self._task = asyncio.get_running_loop(), asyncio.current_task()
        self._started.set()
        with contextlib.suppress(asyncio.CancelledError):
            await self._work()

    def stop(self) -> None:
        self._started.wait()
        assert self._loop is not None
        assert self._task is not None
        with contextlib.suppress(RuntimeError):  # the loop has ended already
            self._loop.call_soon_threadsafe(self._task.cancel)
        self.join()


def periodic_service(
    name: str,
    *,
    batch: int,
    interval: Callable[[Settings], float],
    run_pass: PassFunction,
    resources: Resources | None = None,
    own_loop: bool = False,
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """A background service (see `create_app`) that runs `run_pass` with `every` while the app
    runs, in each process where the workers are on (`NOTIFICATION_WORKERS`).

    `own_loop`: the passes run on an event loop of their own, in a thread, with an engine of
    their own (`OWN_LOOP_POOL_SIZE` connections). For a pass made of many awaits (a webhook
    sender's HTTP requests): on the API's loop each await waits for a turn behind every request
    in flight, so under load such a pass crawls; on its own loop it does not, and the system calls
    it spends its time in release the GIL to the API's thread.
    """

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
        if own_loop:
            engine: AsyncEngine = app.state.engine
            url = engine.url.render_as_string(hide_password=False)

            async def work() -> None:
                own = create_engine(url, settings.model_copy(update={"db_pool_size": OWN_LOOP_POOL_SIZE}))
                try:
                    await run(settings, create_sessionmaker(own))
                finally:
                    await own.dispose()

            thread = _LoopThread(f"queueless-{name}", work)
            thread.start()
            try:
                yield
            finally:
                await anyio.to_thread.run_sync(thread.stop)
            return
        task = asyncio.create_task(run(settings, app.state.sessionmaker))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return service
