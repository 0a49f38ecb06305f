"""Work that must follow the request's commit, the document storage, and its start-up sweep.

`AfterCommit` must be the *first* parameter of a route that uses it, before anything that depends
on `SessionDep`: function-scoped dependencies are closed in reverse order, so it is then closed
after the session's commit. Its `on_commit` callbacks run only when the commit succeeded; its
`on_rollback` callbacks run when the handler or the commit failed. That is how an uploaded file
is moved into place only after its row exists, and how a failed request leaves no file.
"""

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
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
from app.services.documents.storage import DocumentStorage, LocalStorage, Staging
from app.services.organizations.dependencies import OrgAccess, require_org_role
from app.services.organizations.models import MemberRole

logger = logging.getLogger(__name__)

# A staged file younger than this may belong to a request in flight (in any process sharing DATA_DIR).
STAGING_GRACE_SECONDS = 3600
SWEEP_BATCH = 500

Callback = Callable[[], Awaitable[None]]


@dataclass
class AfterCommit:
    on_commit: list[Callback] = field(default_factory=list)
    on_rollback: list[Callback] = field(default_factory=list)


async def _run(callbacks: list[Callback], what: str) -> None:
    with anyio.CancelScope(shield=True):
        for callback in callbacks:
            try:
                await callback()
            except Exception:  # the next start-up sweep finishes or undoes what failed here
                logger.exception("document %s step failed", what)


async def get_after_commit() -> AsyncIterator[AfterCommit]:
    hooks = AfterCommit()
    try:
        yield hooks
    except BaseException:
        await _run(hooks.on_rollback, "rollback")
        raise
    await _run(hooks.on_commit, "commit")


AfterCommitDep = Annotated[AfterCommit, Depends(get_after_commit, scope="function")]


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


# The staff gates, each with the scope an organization's API key needs for it.
DocumentReader = Annotated[Caller, require_caller(Scope.documents_read)]
DocumentReviewer = Annotated[Caller, require_caller(Scope.documents_write)]
OrgDocumentReader = Annotated[OrgAccess, require_org_role(MemberRole.staff, scope=Scope.documents_read)]
