import uuid
from datetime import datetime
from typing import Any

from app.core.schemas import Schema


class NotificationRead(Schema):
    id: uuid.UUID
    kind: str
    title: str
    body: str
    data: dict[str, Any]
    read_at: datetime | None
    created_at: datetime


class UnreadCount(Schema):
    count: int
