"""The property files' start-up sweep: media (`property_media`) and progress photos share one place
of the storage (`property_media.dependencies`), so the sweep, which needs both tables, lives here.

It is the documents' sweep with the property's own rows: staged files of a dead writer placed if
their row committed and deleted otherwise, stored files without a row deleted.
"""

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.services.construction.models import ProgressPhoto
from app.services.documents.dependencies import STAGING_GRACE_SECONDS, sweep
from app.services.property_media import service as media_service
from app.services.property_media.dependencies import build_media_stores

logger = logging.getLogger(__name__)


async def kept_keys(session: AsyncSession, keys: Sequence[str]) -> set[str]:
    if not keys:
        return set()
    photos = await session.scalars(select(ProgressPhoto.storage_key).where(ProgressPhoto.storage_key.in_(keys)))
    return set(photos) | await media_service.kept_keys(session, keys)


@asynccontextmanager
async def property_storage(app: FastAPI) -> AsyncIterator[None]:
    """Background service (see create_app): builds the property stores and sweeps them once."""
    stores = app.state.property_stores = build_media_stores(app.state.settings)
    try:
        changed = await sweep(app.state.sessionmaker, stores, grace_seconds=STAGING_GRACE_SECONDS, kept_keys=kept_keys)
        if changed:
            logger.info("property file sweep: %d leftover files moved or deleted", changed)
    except Exception:  # a sweep failure must not stop the API; the next start tries again
        logger.exception("property file sweep failed")
    yield
