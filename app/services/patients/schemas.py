import uuid
from datetime import date, datetime
from typing import Annotated

from pydantic import AfterValidator, ConfigDict, EmailStr, Field, StringConstraints

from app.core.schemas import InputSchema, Schema
from app.services.patients.models import Sex
from app.services.users.schemas import Phone

EARLIEST_BIRTH = date(1900, 1, 1)

PatientName = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Address = Annotated[str, StringConstraints(min_length=1, max_length=500)]
Identifier = Annotated[str, StringConstraints(min_length=1, max_length=64)]
PatientEmail = Annotated[EmailStr, Field(max_length=254)]


def _plausible_birth(value: date) -> date:
    # "Today" anywhere on Earth: a clinic east of UTC may already be on tomorrow's date.
    if not EARLIEST_BIRTH <= value <= date.today() + _ONE_DAY:
        raise ValueError(f"a date of birth lies between {EARLIEST_BIRTH} and today")
    return value


_ONE_DAY = date(2000, 1, 2) - date(2000, 1, 1)

BirthDate = Annotated[date, AfterValidator(_plausible_birth)]


class PatientCreate(InputSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "full_name": "Maria Keller",
                    "date_of_birth": "1968-04-23",
                    "sex": "female",
                    "phone": "+49 30 1234567",
                    "email": "maria.keller@example.org",
                    "national_id": "T22000129",
                }
            ]
        }
    )

    full_name: PatientName
    date_of_birth: BirthDate | None = None
    sex: Sex | None = None
    phone: Phone | None = None
    email: PatientEmail | None = None
    address: Address | None = None
    mrn: Identifier | None = Field(default=None, description="Medical record number; assigned when omitted")
    national_id: Identifier | None = None
    user_id: uuid.UUID | None = Field(default=None, description="The patient's own account, if they have one")
    assigned_doctor_id: uuid.UUID | None = None


class PatientUpdate(InputSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"phone": "+49 30 7654321", "assigned_doctor_id": "5f0c2b1e-8d4a-4b7e-9c3f-1a2b3c4d5e6f"},
                {"archived": True},
            ]
        }
    )

    full_name: PatientName | None = None
    date_of_birth: BirthDate | None = None
    sex: Sex | None = None
    phone: Phone | None = None
    email: PatientEmail | None = None
    address: Address | None = None
    mrn: Identifier | None = None
    national_id: Identifier | None = None
    user_id: uuid.UUID | None = None
    assigned_doctor_id: uuid.UUID | None = None
    archived: bool | None = Field(default=None, description="Owners and managers only")


class PatientRead(Schema):
    id: uuid.UUID
    organization_id: uuid.UUID
    mrn: str
    national_id: str | None
    full_name: str
    date_of_birth: date | None
    sex: Sex | None
    phone: str | None
    email: str | None
    address: str | None
    user_id: uuid.UUID | None
    assigned_doctor_id: uuid.UUID | None
    archived: bool
    created_at: datetime
    updated_at: datetime
