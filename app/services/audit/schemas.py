import uuid
from datetime import datetime
from typing import Any

from app.core.schemas import Schema
from app.services.audit.models import ActorType


class AuditEntryRead(Schema):
    id: int
    at: datetime
    action: str
    actor_type: ActorType
    actor_id: uuid.UUID | None
    organization_id: uuid.UUID | None
    target_type: str | None
    target_id: uuid.UUID | None
    request_id: str | None
    client_address: str | None
    data: dict[str, Any]
