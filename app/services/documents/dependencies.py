"""The document storage (STORAGE_URL) and its start-up sweep.

Files follow their rows through `app.core.database.after_commit`: an uploaded file is moved into
place only once its row has committed, a failed request leaves no file, and a deleted or
replaced document's file goes once that change has committed.
"""

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
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
from app.services.apikeys.scopes import Scope
from app.services.auth.dependencies import Caller, require_caller
from app.services.documents import service as documents_service
from app.services.documents.object_storage import ObjectStorage
from app.services.documents.storage import DocumentStorage, LocalStorage, Staged, Staging
from app.services.organizations.dependencies import OrgAccess, require_org_role
from app.services.organizations.models import MemberRole

logger = logging.getLogger(__name__)

# A staged file or object whose writer cannot be checked (another machine or container) and is
# younger than this may belong to a request in flight. A dead writer's leftovers go at once.
STAGING_GRACE_SECONDS = 3600
SWEEP_BATCH = 500

StagedStep = Callable[[Staged], Awaitable[None]]
KeptKeys = Callable[[AsyncSession, Sequence[str]], Awaitable[set[str]]]


@dataclass(frozen=True, slots=True)
class Stores:
    staging: Staging
    storage: DocumentStorage


def build_stores(settings: Settings) -> Stores:
    """The local staging (under DATA_DIR, or beside the documents for a file:// storage, so that
    placing a file is a rename) and the storage that STORAGE_URL names."""
    url = settings.resolved_storage_url
    if url.startswith("file://"):
        root = Path(url.removeprefix("file://"))
        staging = Staging(root / "staging")
        return Stores(staging=staging, storage=LocalStorage(root / "documents", staging))
    staging = Staging(settings.data_dir / "uploads" / "staging")
    storage = ObjectStorage.connect(
        url,
        staging,
        endpoint=settings.storage_s3_endpoint,
        region=settings.storage_s3_region,
        access_key_id=settings.storage_s3_access_key_id,
        secret_access_key=settings.storage_s3_secret_access_key,
    )
    return Stores(staging=staging, storage=storage)


async def get_stores(request: Request) -> Stores:
    stores: Stores | None = getattr(request.app.state, "document_stores", None)
    if stores is None:
        stores = request.app.state.document_stores = build_stores(request.app.state.settings)
    return stores


StoresDep = Annotated[Stores, Depends(get_stores)]


async def _finish_or_undo(
    session: AsyncSession, staged: list[Staged], finish: StagedStep, undo: StagedStep, kept_keys: KeptKeys
) -> int:
    for start in range(0, len(staged), SWEEP_BATCH):
        batch = staged[start : start + SWEEP_BATCH]
        known = await kept_keys(session, [item.key for item in batch])
        for item in batch:
            await (finish if item.key in known else undo)(item)
    return len(staged)


async def sweep(
    sessionmaker: async_sessionmaker[AsyncSession],
    stores: Stores,
    *,
    grace_seconds: float,
    kept_keys: KeptKeys = documents_service.kept_keys,
) -> int:
    """Finish or undo what a crash interrupted; returns how many files were moved or deleted.

    Staged files and objects whose writer process is gone (or, when that cannot be checked, that
    are older than the grace period): placed if their row committed, deleted otherwise. Those of
    a live writer are left alone. Stored content without a row, or whose document was replaced
    (a deletion or a replacement whose file removal did not happen), is deleted. `kept_keys` says
    which keys have a row whose file is kept (another feature's stores bring their own).
    """
    staging, storage = stores.staging, stores.storage

    async def put_local(item: Staged) -> None:
        await storage.put(item.key, staging.path(item))

    async def drop_local(item: Staged) -> None:
        await anyio.to_thread.run_sync(partial(staging.path(item).unlink, missing_ok=True))

    local = await anyio.to_thread.run_sync(staging.leftovers, grace_seconds)
    remote = await storage.leftovers(grace_seconds=grace_seconds)
    stored = await storage.keys()
    async with sessionmaker() as session:
        changed = await _finish_or_undo(session, local, put_local, drop_local, kept_keys)
        changed += await _finish_or_undo(session, remote, storage.place, storage.discard, kept_keys)
        for start in range(0, len(stored), SWEEP_BATCH):
            batch = stored[start : start + SWEEP_BATCH]
            known = await kept_keys(session, batch)
            for key in batch:
                if key not in known:
                    await storage.delete(key)
                    changed += 1
    await anyio.to_thread.run_sync(staging.prune)
    return changed


@asynccontextmanager
async def document_storage(app: FastAPI) -> AsyncIterator[None]:
    """Background service (see create_app): builds the stores and sweeps them once at start-up."""
    settings: Settings = app.state.settings
    stores = app.state.document_stores = build_stores(settings)
    try:
        changed = await sweep(app.state.sessionmaker, stores, grace_seconds=STAGING_GRACE_SECONDS)
        if changed:
            logger.info("document sweep: %d leftover files moved or deleted", changed)
    except Exception:  # a sweep failure must not stop the API; the next start tries again
        logger.exception("document sweep failed")
    yield


# The staff gates, each with the scope an organization's API key needs for it.
DocumentReader = Annotated[Caller, require_caller(Scope.documents_read)]
DocumentReviewer = Annotated[Caller, require_caller(Scope.documents_write)]
OrgDocumentReader = Annotated[OrgAccess, require_org_role(MemberRole.staff, scope=Scope.documents_read)]
