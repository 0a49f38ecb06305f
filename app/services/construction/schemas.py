import uuid
from datetime import datetime

from app.core.schemas import Schema


class PhotoRead(Schema):
    id: uuid.UUID
    filename: str
    content_type: str
    size: int
    sha256: str


class ProgressUpdateRead(Schema):
    id: uuid.UUID
    project_id: uuid.UUID
    milestone_id: uuid.UUID | None
    body: str
    photos: list[PhotoRead]
    author_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime
