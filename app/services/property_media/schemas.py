import uuid
from datetime import datetime

from app.core.schemas import Schema
from app.services.property_media.models import MediaKind


class MediaRead(Schema):
    id: uuid.UUID
    project_id: uuid.UUID
    unit_id: uuid.UUID | None
    kind: MediaKind
    title: str | None
    filename: str
    content_type: str
    size: int
    sha256: str
    created_at: datetime
    updated_at: datetime
