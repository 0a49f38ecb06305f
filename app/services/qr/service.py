"""QR codes: appointment tokens, cached images, and decoding photos off the event loop."""

import asyncio
import contextlib
import os
import threading
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache, partial

import anyio.to_thread

from app.core.errors import InvalidInput
from app.services.qr import images
from app.services.qr.images import FoundCode, ImageCache, ImageKind
from app.services.qr.tokens import InvalidToken, Keyring

# ~1-3 KiB an image at the usual scales: a few megabytes at most.
appointment_images = ImageCache(max_entries=4096)

_decoder: ThreadPoolExecutor | None = None
DECODE_NICENESS = 10


class InvalidCode(InvalidInput):
    code = "invalid_code"
    title = "Invalid code"
    default_detail = "This is not a genuine Queueless appointment code."


class NoCodeFound(InvalidInput):
    code = "no_code_found"
    title = "No code found"
    default_detail = "No QR code could be read in the image; take the photo again, closer and steadier."


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


def appointment_code(ring: Keyring, appointment_id: uuid.UUID) -> str:
    return ring.sign(appointment_id)


def read_code(ring: Keyring, text: str) -> uuid.UUID:
    """The appointment a scanned code names; 422 `invalid_code` for a forged or altered one."""
    try:
        return ring.verify(text)
    except InvalidToken as exc:
        raise InvalidCode() from exc


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


async def find_appointment_code(ring: Keyring, data: bytes, *, max_pixels: int) -> uuid.UUID:
    """The appointment named by the first genuine code in the photo.

    422 `no_code_found` when no QR code is readable, `invalid_code` when none of those found is ours.
    """
    codes = await decode(data, max_pixels=max_pixels, qr_only=True)
    if not codes:
        raise NoCodeFound()
    for code in codes:
        try:
            return ring.verify(code.text)
        except InvalidToken:
            continue
    raise InvalidCode()
