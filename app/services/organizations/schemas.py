import uuid
import zoneinfo
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, ConfigDict, EmailStr, Field, StringConstraints

from app.core.schemas import InputSchema, Schema
from app.services.organizations.models import ClinicalRole, MemberRole, OrganizationKind
from app.services.users.schemas import Phone

Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Title = Annotated[str, StringConstraints(min_length=1, max_length=100)]


def _valid_zone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"{value!r} is not an IANA time zone such as Europe/Berlin") from exc
    return value


TimeZoneName = Annotated[str, StringConstraints(min_length=1, max_length=64), AfterValidator(_valid_zone)]


class OrganizationCreate(InputSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "Riverton City Hall",
                    "kind": "government",
                    "timezone": "Europe/Berlin",
                    "address": "1 Market Square, Riverton",
                    "phone": "+49 30 1234567",
                    "email": "info@riverton.example",
                }
            ]
        }
    )

    name: Name
    kind: OrganizationKind
    timezone: TimeZoneName
    address: Annotated[str, StringConstraints(max_length=500)] | None = None
    phone: Phone | None = None
    email: Annotated[EmailStr, Field(max_length=254)] | None = None


class OrganizationUpdate(InputSchema):
    model_config = ConfigDict(json_schema_extra={"examples": [{"phone": "+49 30 7654321"}]})

    name: Name | None = None
    kind: OrganizationKind | None = None
    timezone: TimeZoneName | None = None
    address: Annotated[str, StringConstraints(max_length=500)] | None = None
    phone: Phone | None = None
    email: Annotated[EmailStr, Field(max_length=254)] | None = None


class OrganizationRead(Schema):
    id: uuid.UUID
    name: str
    kind: OrganizationKind
    timezone: str
    address: str | None
    phone: str | None
    email: str | None
    created_at: datetime


class DepartmentCreate(InputSchema):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "Civil registry"}]})

    name: Name


class DepartmentRead(Schema):
    id: uuid.UUID
    organization_id: uuid.UUID
    name: str
    created_at: datetime


class MemberCreate(InputSchema):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"email": "sofia@example.org", "role": "staff", "title": "officer"}]}
    )

    email: Annotated[EmailStr, Field(max_length=254)]
    role: MemberRole
    title: Title | None = None
    department_id: uuid.UUID | None = None
    clinical_role: ClinicalRole | None = Field(default=None, description="Clinics only: `doctor` or `nurse`")


class MemberRead(Schema):
    organization_id: uuid.UUID
    user_id: uuid.UUID
    email: str
    full_name: str
    role: MemberRole
    title: str | None
    department_id: uuid.UUID | None
    mfa_enabled: bool
    clinical_role: ClinicalRole | None
    created_at: datetime


class SecurityRead(Schema):
    require_mfa: bool


class SecurityUpdate(InputSchema):
    require_mfa: bool

    model_config = ConfigDict(json_schema_extra={"examples": [{"require_mfa": True}]})
