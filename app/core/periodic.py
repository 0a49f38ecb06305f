"""A background pass run over and over (reminders, the e-mail outbox): knows no feature."""

import asyncio
import logging
from collections.abc import Awaitable, Callable

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
