import uuid
from datetime import datetime
from typing import Annotated

from pydantic import ConfigDict, EmailStr, Field, StringConstraints

from app.core.schemas import InputSchema, Schema
from app.services.users.models import Role

FullName = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Phone = Annotated[str, StringConstraints(min_length=3, max_length=32, pattern=r"^\+?[0-9 ()./-]{3,32}$")]
Password = Annotated[str, Field(min_length=1, max_length=256)]
Email = Annotated[EmailStr, Field(max_length=254)]


class UserRead(Schema):
    id: uuid.UUID
    email: str
    full_name: str
    phone: str | None
    role: Role
    is_active: bool
    mfa_enabled: bool
    email_verified_at: datetime | None
    created_at: datetime


class UserUpdateMe(InputSchema):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"full_name": "Ana Maria Silva", "phone": "+49 30 7654321"}]}
    )

    full_name: FullName | None = None
    phone: Phone | None = None


class UserAdminUpdate(InputSchema):
    model_config = ConfigDict(json_schema_extra={"examples": [{"is_active": False}]})

    role: Role | None = None
    is_active: bool | None = None


class PasswordChange(InputSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"current_password": "a long passphrase", "new_password": "an even longer passphrase"}]
        }
    )

    current_password: Password
    new_password: Password
