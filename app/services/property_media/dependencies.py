"""The property vertical's file stores (media and progress photos), beside the documents' but
apart from them: the documents' start-up sweep deletes every stored file or object it has no row
for, so these live under their own place with the same interface and the same STORAGE_URL
(`app/services/documents/storage.py`): `<root>/property/staging` and `<root>/property/files` for a
file:// storage, the prefix `property/` of the bucket for an s3:// one."""

from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request

from app.core.settings import Settings
from app.services.documents.dependencies import Stores
from app.services.documents.object_storage import ObjectStorage
from app.services.documents.storage import LocalStorage, Staging

PLACE = "property"


def build_media_stores(settings: Settings) -> Stores:
    url = settings.resolved_storage_url
    if url.startswith("file://"):
        root = Path(url.removeprefix("file://")) / PLACE
        staging = Staging(root / "staging")
        return Stores(staging=staging, storage=LocalStorage(root / "files", staging))
    staging = Staging(settings.data_dir / "uploads" / f"{PLACE}-staging")
    storage = ObjectStorage.connect(
        f"{url.rstrip('/')}/{PLACE}",
        staging,
        endpoint=settings.storage_s3_endpoint,
        region=settings.storage_s3_region,
        access_key_id=settings.storage_s3_access_key_id,
        secret_access_key=settings.storage_s3_secret_access_key,
    )
    return Stores(staging=staging, storage=storage)


async def get_media_stores(request: Request) -> Stores:
    stores: Stores | None = getattr(request.app.state, "property_stores", None)
    if stores is None:
        stores = request.app.state.property_stores = build_media_stores(request.app.state.settings)
    return stores


MediaStoresDep = Annotated[Stores, Depends(get_media_stores)]
