import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from app.core.schemas import InputSchema, Schema
from app.services.tickets.models import MAX_TAG_CHARS, TicketPriority, TicketStatus

Trigger = Literal["ticket_created", "status_changed", "sla_breached", "ticket_assigned"]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class Conditions(InputSchema):
    """Each given list must hold the ticket's value (ANDed across fields)."""

    priority: Annotated[list[TicketPriority], Field(min_length=1, max_length=4)] | None = None
    category_id: Annotated[list[uuid.UUID], Field(min_length=1, max_length=50)] | None = None
    status: Annotated[list[TicketStatus], Field(min_length=1, max_length=6)] | None = None


class SendEmail(InputSchema):
    type: Literal["send_email"]
    template: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    to: Literal["requester", "assignee"]


class SetPriority(InputSchema):
    type: Literal["set_priority"]
    priority: TicketPriority


class Assign(InputSchema):
    type: Literal["assign"]
    assignee_id: uuid.UUID


class AddTag(InputSchema):
    type: Literal["add_tag"]
    tag: Annotated[str, StringConstraints(min_length=1, max_length=MAX_TAG_CHARS, pattern=r"^[^\s,]+$")]


Action = Annotated[SendEmail | SetPriority | Assign | AddTag, Field(discriminator="type")]
Actions = Annotated[list[Action], Field(min_length=1, max_length=10)]

_EXAMPLE: dict[str, Any] = {
    "name": "Urgent passports to Sam",
    "trigger": "ticket_created",
    "conditions": {"priority": ["high", "urgent"]},
    "actions": [
        {"type": "assign", "assignee_id": "2f6c1d0e-8a8b-4c1e-9a43-3d1c2b7e9f10"},
        {"type": "add_tag", "tag": "vip"},
        {"type": "send_email", "template": "ticket_created", "to": "requester"},
    ],
}


class AutomationCreate(InputSchema):
    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE]})

    name: Name
    trigger: Trigger
    conditions: Conditions = Field(default_factory=Conditions)
    actions: Actions
    active: bool = True


class AutomationUpdate(InputSchema):
    model_config = ConfigDict(json_schema_extra={"examples": [{"active": False}]})

    name: Name | None = None
    trigger: Trigger | None = None
    conditions: Conditions | None = None
    actions: Actions | None = None
    active: bool | None = None

    @model_validator(mode="after")
    def _no_null(self) -> "AutomationUpdate":
        for name in self.model_fields_set:
            if getattr(self, name) is None:
                raise ValueError(f"`{name}` cannot be null")
        return self


class AutomationRead(Schema):
    id: uuid.UUID
    organization_id: uuid.UUID
    name: str
    trigger: Trigger
    conditions: Conditions
    actions: list[Action]
    active: bool
    created_at: datetime
    updated_at: datetime
