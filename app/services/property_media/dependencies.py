"""The property vertical's file stores (media and progress photos), apart from the documents':
the documents' start-up sweep deletes every stored file it has no row for, so these files live
under their own roots, `DATA_DIR/uploads/property-staging` and `DATA_DIR/uploads/property`, with
the same `Staging` and storage interface (`app/services/documents/storage.py`)."""

from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request

from app.core.settings import Settings
from app.services.documents.dependencies import Stores
from app.services.documents.storage import LocalStorage, Staging


def build_media_stores(data_dir: Path) -> Stores:
    uploads = data_dir / "uploads"
    return Stores(staging=Staging(uploads / "property-staging"), storage=LocalStorage(uploads / "property"))


async def get_media_stores(request: Request) -> Stores:
    stores: Stores | None = getattr(request.app.state, "property_stores", None)
    if stores is None:
        settings: Settings = request.app.state.settings
        stores = request.app.state.property_stores = build_media_stores(settings.data_dir)
    return stores


MediaStoresDep = Annotated[Stores, Depends(get_media_stores)]
