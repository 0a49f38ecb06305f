"""The document storage and its start-up sweep.

Files follow their rows through `app.core.database.after_commit`: an uploaded file is moved into
place only once its row has committed, a failed request leaves no file, and a deleted or
replaced document's file goes once that change has committed.
"""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Annotated

import anyio
import anyio.to_thread
from fastapi import Depends, FastAPI, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.settings import Settings
from app.services.documents import service as documents_service
from app.services.documents.storage import DocumentStorage, LocalStorage, Staging

logger = logging.getLogger(__name__)

# A staged file younger than this may belong to a request in flight (in any process sharing DATA_DIR).
STAGING_GRACE_SECONDS = 3600
SWEEP_BATCH = 500


@dataclass(frozen=True, slots=True)
class Stores:
    staging: Staging
    storage: DocumentStorage


def build_stores(data_dir: Path) -> Stores:
    uploads = data_dir / "uploads"
    return Stores(staging=Staging(uploads / "staging"), storage=LocalStorage(uploads / "documents"))


async def get_stores(request: Request) -> Stores:
    stores: Stores | None = getattr(request.app.state, "document_stores", None)
    if stores is None:
        settings: Settings = request.app.state.settings
        stores = request.app.state.document_stores = build_stores(settings.data_dir)
    return stores


StoresDep = Annotated[Stores, Depends(get_stores)]


async def sweep(sessionmaker: async_sessionmaker[AsyncSession], stores: Stores, *, grace_seconds: float) -> int:
    """Finish or undo what a crash interrupted; returns how many files were moved or deleted.

    Staged files older than the grace period: moved into the storage if their row committed,
    deleted otherwise. Stored files without a row, or whose document was replaced (a deletion or
    a replacement whose file removal did not happen), are deleted.
    """
    changed = 0
    staged = await anyio.to_thread.run_sync(stores.staging.stale, grace_seconds)
    stored = await anyio.to_thread.run_sync(lambda: list(stores.storage.keys()))
    async with sessionmaker() as session:
        for start in range(0, len(staged), SWEEP_BATCH):
            batch = staged[start : start + SWEEP_BATCH]
            known = await documents_service.kept_keys(session, batch)
            for key in batch:
                if key in known:
                    await stores.storage.put(key, stores.staging.path(key))
                else:
                    await anyio.to_thread.run_sync(partial(stores.staging.path(key).unlink, missing_ok=True))
                changed += 1
        for start in range(0, len(stored), SWEEP_BATCH):
            batch = stored[start : start + SWEEP_BATCH]
            known = await documents_service.kept_keys(session, batch)
            for key in batch:
                if key not in known:
                    await stores.storage.delete(key)
                    changed += 1
    return changed


@asynccontextmanager
async def document_storage(app: FastAPI) -> AsyncIterator[None]:
    """Background service (see create_app): builds the stores and sweeps them once at start-up."""
    settings: Settings = app.state.settings
    stores = app.state.document_stores = build_stores(settings.data_dir)
    try:
        changed = await sweep(app.state.sessionmaker, stores, grace_seconds=STAGING_GRACE_SECONDS)
        if changed:
            logger.info("document sweep: %d leftover files moved or deleted", changed)
    except Exception:  # a sweep failure must not stop the API; the next start tries again
        logger.exception("document sweep failed")
    yield
