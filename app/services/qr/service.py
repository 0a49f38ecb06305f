"""QR codes: images (cached or not), keyrings, and decoding photos off the event loop. Knows no
other feature: what a code names is its user's business (check-in signs appointment ids)."""

import asyncio
import contextlib
import os
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache, partial

import anyio.to_thread

from app.services.qr import images
from app.services.qr.images import FoundCode, ImageCache, ImageKind
from app.services.qr.tokens import Keyring

_decoder: ThreadPoolExecutor | None = None
DECODE_NICENESS = 10


def _lower_priority() -> None:
    # Linux schedules threads as tasks: this lowers only the decoding thread's priority, so that
    # when a decode and the event loop (or PostgreSQL) want the same core, the latter win.
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), DECODE_NICENESS)


def _executor() -> ThreadPoolExecutor:
    """Decodes get worker threads of their own (CPU count - 1, at a lower priority), apart from
    the default pool that file I/O and password hashing use: a burst of photos never delays those,
    and leaves a core to the rest of the API. zxing-cpp and Pillow release the GIL while they work."""
    global _decoder
    if _decoder is None:
        workers = max(1, (os.cpu_count() or 2) - 1)
        _decoder = ThreadPoolExecutor(workers, thread_name_prefix="qr-decode", initializer=_lower_priority)
    return _decoder


@lru_cache(maxsize=16)
def _keyring(secret: str, kid: str, retired: tuple[tuple[str, str], ...]) -> Keyring:
    return Keyring.build(secret=secret, kid=kid, retired=dict(retired))


def keyring(*, secret: str, kid: str, retired: Mapping[str, str]) -> Keyring:
    return _keyring(secret, kid, tuple(sorted(retired.items())))


async def image(text: str, *, kind: ImageKind, scale: int, cache: ImageCache | None) -> bytes:
    """The QR image of `text`, from `cache` when it holds it (no thread hop then)."""
    key = (text, kind, scale)
    if cache is not None and (found := cache.get(key)) is not None:
        return found
    rendered = await anyio.to_thread.run_sync(partial(images.render, text, kind, scale))
    if cache is not None:
        cache.put(key, rendered)
    return rendered


async def decode(data: bytes, *, max_pixels: int, qr_only: bool) -> list[FoundCode]:
    job = partial(images.decode, data, max_pixels=max_pixels, qr_only=qr_only)
    return await asyncio.get_running_loop().run_in_executor(_executor(), job)
