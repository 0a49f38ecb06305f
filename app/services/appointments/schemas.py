import uuid
from datetime import datetime
from typing import Annotated

from pydantic import ConfigDict, Field, StringConstraints

from app.core.schemas import AwareDatetime, InputSchema, Schema
from app.services.appointments.models import Status

Note = Annotated[str, StringConstraints(max_length=1000)]


class AppointmentCreate(InputSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "service_id": "00000000-0000-4000-a000-100000000001",
                    "starts_at": "2026-12-14T09:00:00+01:00",
                    "notes": "Wheelchair access, please",
                }
            ]
        }
    )

    service_id: uuid.UUID
    starts_at: AwareDatetime
    notes: Note | None = None
    patient_id: uuid.UUID | None = Field(
        default=None, description="Clinics: the patient it is for (members of the clinic, or the patient's account)"
    )
    staff_id: uuid.UUID | None = Field(default=None, description="A member of the organization, e.g. the doctor")
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500)] | None = None


class CancelRequest(InputSchema):
    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "I cannot make it"}]})

    reason: Note | None = None


class RescheduleRequest(InputSchema):
    model_config = ConfigDict(json_schema_extra={"examples": [{"starts_at": "2026-12-15T10:20:00+01:00"}]})

    starts_at: AwareDatetime


class StatusChange(InputSchema):
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "in_progress", "note": "Desk 3"}]})

    status: Status
    note: Note | None = None


class AssignRequest(InputSchema):
    model_config = ConfigDict(json_schema_extra={"examples": [{"staff_id": "5f0c2b1e-8d4a-4b7e-9c3f-1a2b3c4d5e6f"}]})

    staff_id: uuid.UUID


class AppointmentRequirement(Schema):
    id: uuid.UUID
    name: str
    mandatory: bool
    document_id: uuid.UUID | None = None
    document_status: str | None = None


class AppointmentRead(Schema):
    id: uuid.UUID
    reference: str = Field(description="Short code to read aloud (no 0/O or 1/I)")
    service_id: uuid.UUID
    organization_id: uuid.UUID
    citizen_id: uuid.UUID | None = Field(description="The account it is for; null for a clinic patient without one")
    patient_id: uuid.UUID | None = Field(description="Clinics: the patient it is for")
    staff_id: uuid.UUID | None
    starts_at: datetime
    ends_at: datetime
    status: Status
    notes: str | None
    reason: str | None = Field(description="Clinics: the reason for the visit")
    requirements: list[AppointmentRequirement]
    checked_in_at: datetime | None
    created_at: datetime
    updated_at: datetime


class QueueItem(AppointmentRead):
    """An appointment in the staff queue, with the citizen's name and the service's."""

    citizen_name: str
    service_name: str


class HistoryEntry(Schema):
    from_status: Status | None
    to_status: Status
    actor_id: uuid.UUID | None
    api_key_id: uuid.UUID | None = None
    note: str | None
    at: datetime


class Slot(Schema):
    starts_at: datetime
    ends_at: datetime
    capacity: int
    available: int
