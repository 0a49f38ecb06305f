import uuid
from datetime import datetime
from typing import Annotated

from pydantic import EmailStr, Field, StringConstraints

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
    full_name: FullName | None = None
    phone: Phone | None = None


class UserAdminUpdate(InputSchema):
    role: Role | None = None
    is_active: bool | None = None


class PasswordChange(InputSchema):
    current_password: Password
    new_password: Password
