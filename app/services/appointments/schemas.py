import uuid
from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints

from app.core.schemas import AwareDatetime, InputSchema, Schema
from app.services.appointments.models import Status

Note = Annotated[str, StringConstraints(max_length=1000)]


class AppointmentCreate(InputSchema):
    service_id: uuid.UUID
    starts_at: AwareDatetime
    notes: Note | None = None


class CancelRequest(InputSchema):
    reason: Note | None = None


class RescheduleRequest(InputSchema):
    starts_at: AwareDatetime


class StatusChange(InputSchema):
    status: Status
    note: Note | None = None


class AssignRequest(InputSchema):
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
    citizen_id: uuid.UUID
    staff_id: uuid.UUID | None
    starts_at: datetime
    ends_at: datetime
    status: Status
    notes: str | None
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
