import uuid
from datetime import datetime
from typing import Annotated

from pydantic import ConfigDict, Field, StringConstraints

from app.core.schemas import AwareDatetime, InputSchema, Schema
from app.services.apikeys.scopes import Scope


class ApiKeyCreate(InputSchema):
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    scopes: Annotated[list[Scope], Field(min_length=1, max_length=len(Scope))]
    expires_at: AwareDatetime | None = None

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "Front-desk kiosk",
                    "scopes": ["appointments:read", "documents:read"],
                    "expires_at": "2027-12-31T23:59:59Z",
                }
            ]
        }
    )


class ApiKeyRead(Schema):
    id: uuid.UUID
    name: str
    prefix: str
    scopes: list[str]
    created_by: uuid.UUID | None
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyRead):
    key: str = Field(description="`qlk_<prefix>_<secret>`: shown this once, stored only as a digest.")
