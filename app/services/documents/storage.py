"""Where document bytes live: a small interface, a local-directory and an S3 implementation.

Uploads are first streamed into a local *staging* directory (`Staging`) under a generated name
(never the client's), inside a folder named after the writing process (`app.core.processes`).
Before the document's row is written the storage *stages* the file (`stage`: nothing for the
local storage; an upload under the bucket's `staging/<process>/` for an object store, so that the
bytes of a committed row are never only on one machine's disk). Only after the row has committed
is the staged file *placed* (`place`: a rename; a server-side copy); a rollback *discards* it.

A crash leaves staged files and objects behind. The start-up sweep (`dependencies.sweep`) takes
those whose writer process is gone, at once: placed if their row committed, deleted otherwise.
Those of a writer it cannot check (another machine or container) wait for the grace period, and
those of a live writer are never touched. Stored content without a row is deleted too.

Local layout under the storage root (`DATA_DIR/uploads` by default):
`staging/<process>/<key>` and `documents/<key[:2]>/<key>`.
Object layout under the bucket's prefix: `staging/<process>/<key>` and `documents/<key>`.
"""

import os
import secrets
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import anyio.to_thread

from app.core import processes

CHUNK_SIZE = 256 * 1024
KEY_LENGTH = 32


def new_key() -> str:
    """A storage name: 32 hex characters, generated, never derived from client input."""
    return secrets.token_hex(KEY_LENGTH // 2)


def is_key(name: str) -> bool:
    return len(name) == KEY_LENGTH and all(c in "0123456789abcdef" for c in name)


@dataclass(frozen=True, slots=True)
class Staged:
    """An upload awaiting its commit: its key and the process that wrote it ("" for a file of the
    flat layout used before staged files were named by their writer)."""

    key: str
    owner: str


def is_leftover(owner: str, modified: float, *, grace_seconds: float, now: float) -> bool:
    """Whether a staged item may be finished or undone: its writer is gone, or it cannot be
    checked and the item is older than the grace period. A live writer's item never is."""
    identity = processes.ProcessId.parse(owner)
    gone = processes.is_gone(identity) if identity is not None else None
    if gone is None:
        return modified < now - grace_seconds
    return gone


class DocumentStorage(Protocol):
    """The bytes of committed documents, and of uploads staged until their row commits."""

    async def stage(self, staged: Staged, source: Path) -> None:
        """Hold this process's streamed file `source` until `place` or `discard`."""

    async def place(self, staged: Staged) -> None:
        """After the commit: keep the staged content under its key."""

    async def discard(self, staged: Staged) -> None:
        """After a rollback: remove the staged content (and its local file); no error if gone."""

    async def put(self, key: str, source: Path) -> None:
        """Take the local file `source` (it no longer exists afterwards) and keep it under `key`."""

    def open(self, key: str) -> AsyncGenerator[bytes]:
        """The content in chunks; FileNotFoundError if there is none. Close it when done early."""

    async def delete(self, key: str) -> None:
        """Remove the content; no error if it is already gone."""

    async def keys(self) -> list[str]:
        """Every stored key."""

    async def leftovers(self, *, grace_seconds: float) -> list[Staged]:
        """Staged content of the storage's own (beyond the local staging) that the sweep may take."""


class Staging:
    """A local directory for uploads in flight: `root/<process>/<key>`, one folder per writer."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def owner(self) -> str:
        return str(processes.current())

    def new_path(self) -> tuple[Staged, Path]:
        """A new key, staged by this process, and the local file to write it to."""
        staged = Staged(new_key(), self.owner)
        path = self.path(staged)
        path.parent.mkdir(parents=True, exist_ok=True)
        return staged, path

    def path(self, staged: Staged) -> Path:
        if not is_key(staged.key):
            raise ValueError("not a storage key")
        if staged.owner and processes.ProcessId.parse(staged.owner) is None:
            raise ValueError("not a process identity")
        return self.root / staged.owner / staged.key

    def leftovers(self, grace_seconds: float) -> list[Staged]:
        """Staged files whose writer is gone, or that are old and whose writer cannot be checked
        (blocking: call it from a worker thread). Empty folders of gone writers are removed."""
        if not self.root.is_dir():
            return []
        now = time.time()
        found = []
        with os.scandir(self.root) as entries:
            for entry in entries:
                if is_key(entry.name):  # the flat layout of earlier versions
                    if is_leftover("", entry.stat().st_mtime, grace_seconds=grace_seconds, now=now):
                        found.append(Staged(entry.name, ""))
                elif entry.is_dir() and processes.ProcessId.parse(entry.name) is not None:
                    found.extend(self._leftovers_of(Path(entry.path), grace_seconds=grace_seconds, now=now))
        return found

    def _leftovers_of(self, folder: Path, *, grace_seconds: float, now: float) -> list[Staged]:
        owner = folder.name
        with os.scandir(folder) as entries:
            return [
                Staged(entry.name, owner)
                for entry in entries
                if is_key(entry.name)
                and is_leftover(owner, entry.stat().st_mtime, grace_seconds=grace_seconds, now=now)
            ]

    def prune(self) -> None:
        """Remove the empty folders of writers that are surely gone (blocking)."""
        if not self.root.is_dir():
            return
        for folder in self.root.iterdir():
            identity = processes.ProcessId.parse(folder.name)
            if identity is not None and processes.is_gone(identity):
                try:
                    folder.rmdir()
                except OSError:  # not empty: what is left waits for a later sweep
                    pass


class LocalStorage:
    """Files under `root/<key[:2]>/<key>`; staged files stay in the local staging until placed."""

    def __init__(self, root: Path, staging: Staging) -> None:
        self.root = root
        self.staging = staging

    def path(self, key: str) -> Path:
        if not is_key(key):
            raise ValueError("not a storage key")
        return self.root / key[:2] / key

    async def stage(self, staged: Staged, source: Path) -> None:
        if source != self.staging.path(staged):
            raise ValueError("the local storage places files of its own staging only")

    async def place(self, staged: Staged) -> None:
        await self.put(staged.key, self.staging.path(staged))

    async def discard(self, staged: Staged) -> None:
        await anyio.to_thread.run_sync(lambda: self.staging.path(staged).unlink(missing_ok=True))

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

    def _keys(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return [
            entry.name
            for folder in self.root.iterdir()
            if folder.is_dir()
            for entry in folder.iterdir()
            if is_key(entry.name)
        ]

    async def keys(self) -> list[str]:
        return await anyio.to_thread.run_sync(self._keys)

    async def leftovers(self, *, grace_seconds: float) -> list[Staged]:
        return []  # its staged files are the local staging's, which the sweep reads itself
