"""Document bytes in an S3-compatible bucket (AWS S3, MinIO, Ceph, R2, ...), through obstore.

obstore wraps the Rust `object_store` crate: its async calls run on its own Tokio runtime, so no
upload, download or listing blocks the event loop, and it needs no botocore. Streamed uploads are
still received into the local staging first (the body's limits and sniffing work on local bytes);
`stage` then uploads the file under `staging/<process>/<key>` before the row is written, and
`place` copies it into `documents/<key>` on the server once the row has committed.
"""

import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from pathlib import Path

import anyio.to_thread
import obstore
from obstore.store import S3Store

from app.services.documents.storage import CHUNK_SIZE, Staged, Staging, is_key, is_leftover

STAGING = "staging"
DOCUMENTS = "documents"


@dataclass(frozen=True, slots=True)
class S3Location:
    bucket: str
    prefix: str


def parse_s3_url(url: str) -> S3Location:
    """`s3://bucket/optional/prefix`."""
    if not url.startswith("s3://"):
        raise ValueError("not an s3:// URL")
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    if not bucket:
        raise ValueError("the s3:// URL names no bucket")
    return S3Location(bucket=bucket, prefix=prefix.strip("/"))


class ObjectStorage:
    """Objects under `<prefix>/documents/<key>`; staged ones under `<prefix>/staging/<process>/<key>`."""

    def __init__(self, store: S3Store, staging: Staging) -> None:
        self.store = store
        self.staging = staging

    @classmethod
    def connect(
        cls,
        url: str,
        staging: Staging,
        *,
        endpoint: str | None,
        region: str | None,
        access_key_id: str | None,
        secret_access_key: str | None,
    ) -> "ObjectStorage":
        """A storage for `s3://bucket/prefix`; unset settings come from the AWS_* environment and
        the usual credential chain (obstore reads them)."""
        location = parse_s3_url(url)
        options: dict[str, str] = {}
        if endpoint:
            options["endpoint"] = endpoint
        if region:
            options["region"] = region
        if access_key_id:
            options["access_key_id"] = access_key_id
        if secret_access_key:
            options["secret_access_key"] = secret_access_key
        store = S3Store(
            location.bucket,
            prefix=location.prefix or None,
            config=options,  # type: ignore[arg-type]  # S3Config is a TypedDict of these very keys
            client_options={"allow_http": bool(endpoint and endpoint.startswith("http://"))},
        )
        return cls(store, staging)

    @staticmethod
    def _stored(key: str) -> str:
        if not is_key(key):
            raise ValueError("not a storage key")
        return f"{DOCUMENTS}/{key}"

    @staticmethod
    def _staged(staged: Staged) -> str:
        if not is_key(staged.key) or not staged.owner:
            raise ValueError("not a staged object")
        return f"{STAGING}/{staged.owner}/{staged.key}"

    async def stage(self, staged: Staged, source: Path) -> None:
        await obstore.put_async(self.store, self._staged(staged), source, chunk_size=8 * 1024 * 1024)
        await anyio.to_thread.run_sync(lambda: source.unlink(missing_ok=True))

    async def place(self, staged: Staged) -> None:
        try:
            await obstore.copy_async(self.store, self._staged(staged), self._stored(staged.key))
        except FileNotFoundError:
            # The start-up sweep of another process may have finished the hand-over already.
            await obstore.head_async(self.store, self._stored(staged.key))
            return
        await obstore.delete_async(self.store, self._staged(staged))

    async def discard(self, staged: Staged) -> None:
        await anyio.to_thread.run_sync(lambda: self.staging.path(staged).unlink(missing_ok=True))
        await obstore.delete_async(self.store, self._staged(staged))

    async def put(self, key: str, source: Path) -> None:
        await obstore.put_async(self.store, self._stored(key), source, chunk_size=8 * 1024 * 1024)
        await anyio.to_thread.run_sync(lambda: source.unlink(missing_ok=True))

    async def open(self, key: str) -> AsyncGenerator[bytes]:
        result = await obstore.get_async(self.store, self._stored(key))
        async for chunk in result.stream(min_chunk_size=CHUNK_SIZE):
            yield bytes(chunk)

    async def delete(self, key: str) -> None:
        await obstore.delete_async(self.store, self._stored(key))

    async def keys(self) -> list[str]:
        found = []
        async for batch in obstore.list(self.store, f"{DOCUMENTS}/", chunk_size=1000):
            for meta in batch:
                name = meta["path"].removeprefix(f"{DOCUMENTS}/")
                if is_key(name):
                    found.append(name)
        return found

    async def leftovers(self, *, grace_seconds: float) -> list[Staged]:
        now = time.time()
        found = []
        async for batch in obstore.list(self.store, f"{STAGING}/", chunk_size=1000):
            for meta in batch:
                owner, _, key = meta["path"].removeprefix(f"{STAGING}/").partition("/")
                modified = meta["last_modified"].timestamp()
                if is_key(key) and is_leftover(owner, modified, grace_seconds=grace_seconds, now=now):
                    found.append(Staged(key, owner))
        return found
