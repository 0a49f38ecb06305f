"""Where document bytes live: a small interface and its local-directory implementation.

Uploads are first streamed into a local *staging* directory under a generated name (never the
client's). Only after the document's row has committed is the staged file handed to the storage
(`put`: a rename for the local storage; an upload for an object store). A crash between the commit
and the hand-over leaves a staged file whose row exists: the start-up sweep (`sweep`) finishes the
hand-over; staged files without a row and stored files without a row are deleted.

Layout under `DATA_DIR/uploads/`: `staging/<key>` and `documents/<key[:2]>/<key>`.
"""

import os
import secrets
import time
from collections.abc import AsyncGenerator, Iterable
from pathlib import Path
from typing import Protocol

import anyio.to_thread

CHUNK_SIZE = 256 * 1024
KEY_LENGTH = 32


def new_key() -> str:
    """A storage name: 32 hex characters, generated, never derived from client input."""
    return secrets.token_hex(KEY_LENGTH // 2)


def is_key(name: str) -> bool:
    return len(name) == KEY_LENGTH and all(c in "0123456789abcdef" for c in name)


class DocumentStorage(Protocol):
    """The bytes of committed documents. An object store implements the same four methods."""

    async def put(self, key: str, source: Path) -> None:
        """Take the local file `source` (it no longer exists afterwards) and keep it under `key`."""

    def open(self, key: str) -> AsyncGenerator[bytes]:
        """The content in chunks; FileNotFoundError if there is none. Close it when done early."""

    async def delete(self, key: str) -> None:
        """Remove the content; no error if it is already gone."""

    def keys(self) -> Iterable[str]:
        """Every stored key (blocking: call it from a worker thread)."""


class LocalStorage:
    """Files under `root/<key[:2]>/<key>`."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, key: str) -> Path:
        if not is_key(key):
            raise ValueError("not a storage key")
        return self.root / key[:2] / key

    def _put(self, key: str, source: Path) -> None:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            source.replace(target)
        except FileNotFoundError:
            # The start-up sweep of another process may have finished the hand-over already.
            if not target.exists():
                raise

    async def put(self, key: str, source: Path) -> None:
        await anyio.to_thread.run_sync(self._put, key, source)

    async def open(self, key: str) -> AsyncGenerator[bytes]:
        handle = await anyio.open_file(self.path(key), "rb")
        try:
            while chunk := await handle.read(CHUNK_SIZE):
                yield chunk
        finally:
            await handle.aclose()

    async def delete(self, key: str) -> None:
        await anyio.to_thread.run_sync(lambda: self.path(key).unlink(missing_ok=True))

    def keys(self) -> Iterable[str]:
        if not self.root.is_dir():
            return
        for folder in self.root.iterdir():
            if folder.is_dir():
                yield from (entry.name for entry in folder.iterdir() if is_key(entry.name))


class Staging:
    """A local directory for uploads in flight: the temporary file, then the file awaiting its commit."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def new_path(self) -> tuple[str, Path]:
        self.root.mkdir(parents=True, exist_ok=True)
        key = new_key()
        return key, self.root / key

    def path(self, key: str) -> Path:
        if not is_key(key):
            raise ValueError("not a storage key")
        return self.root / key

    def stale(self, older_than_seconds: float) -> list[str]:
        """Staged keys untouched for a while (a younger file may belong to a request in flight)."""
        if not self.root.is_dir():
            return []
        limit = time.time() - older_than_seconds
        found = []
        with os.scandir(self.root) as entries:
            for entry in entries:
                if is_key(entry.name) and entry.stat().st_mtime < limit:
                    found.append(entry.name)
        return found
