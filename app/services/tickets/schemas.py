import re
import uuid
from datetime import date, datetime
from itertools import pairwise
from typing import Annotated, Any

from pydantic import ConfigDict, EmailStr, Field, StringConstraints, field_validator, model_validator

from app.core.schemas import InputSchema, Schema
from app.services.chat.models import MAX_BODY_CHARS
from app.services.chat.schemas import ClientId
from app.services.tickets.models import MAX_SUBJECT_CHARS, MAX_TAG_CHARS, MAX_TAGS, TicketPriority, TicketStatus
from app.services.tickets.sla import Clock, Hours

Subject = Annotated[str, StringConstraints(min_length=1, max_length=MAX_SUBJECT_CHARS)]
Body = Annotated[str, StringConstraints(min_length=1, max_length=MAX_BODY_CHARS)]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TAG_CHARS, pattern=r"^[^\s,]+$")]
Tags = Annotated[list[Tag], Field(max_length=MAX_TAGS)]
Note = Annotated[str, StringConstraints(min_length=1, max_length=2000)]
DocumentIds = Annotated[list[uuid.UUID], Field(max_length=10)]


def _unique_tags(tags: list[str] | None) -> list[str] | None:
    """Tags lower-cased, duplicates dropped, first order kept."""
    return None if tags is None else list(dict.fromkeys(tag.lower() for tag in tags))


class TicketCreate(InputSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "organization_id": "00000000-0000-4000-a000-000000000001",
                    "subject": "My residence permit card has not arrived",
                    "description": "I applied on 2 November and was told four weeks; nothing has come yet.",
                    "category_id": "4b6f1c2d-3e5a-4f70-8a9b-0c1d2e3f4a5b",
                },
                {
                    "organization_id": "00000000-0000-4000-a000-000000000001",
                    "subject": "Caller cannot log in to book",
                    "description": "Phoned the front desk: the sign-in link in the e-mail has expired twice.",
                    "priority": "high",
                    "assignee_id": "5f0c2b1e-8d4a-4b7e-9c3f-1a2b3c4d5e6f",
                    "tags": ["phone", "login"],
                    "requester_email": "maria.rossi@example.org",
                },
            ]
        }
    )

    organization_id: uuid.UUID
    subject: Subject
    description: Body = Field(description="The thread's first message, in the requester's name")
    category_id: uuid.UUID | None = None
    document_ids: DocumentIds = Field(default_factory=list)
    priority: TicketPriority | None = Field(default=None, description="Members only (default `normal`)")
    department_id: uuid.UUID | None = Field(default=None, description="Members only")
    assignee_id: uuid.UUID | None = Field(default=None, description="Members only; the ticket then starts `open`")
    tags: Tags | None = Field(default=None, description="Members only")
    requester_email: EmailStr | None = Field(
        default=None, description="Members only: open the ticket for this person (linked to their account if any)"
    )

    _tags = field_validator("tags")(_unique_tags)

    def member_fields(self) -> list[str]:
        members_only = ("priority", "department_id", "assignee_id", "tags", "requester_email")
        return [name for name in members_only if getattr(self, name) is not None]


class TicketUpdate(InputSchema):
    model_config = ConfigDict(json_schema_extra={"examples": [{"priority": "urgent", "tags": ["permit", "escalated"]}]})

    subject: Subject | None = None
    priority: TicketPriority | None = None
    category_id: uuid.UUID | None = None
    department_id: uuid.UUID | None = None
    tags: Tags | None = None

    _tags = field_validator("tags")(_unique_tags)

    @model_validator(mode="after")
    def _no_null_required(self) -> "TicketUpdate":
        for name in ("subject", "priority", "tags"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"`{name}` cannot be null")
        return self


class TicketAssign(InputSchema):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"assignee_id": "5f0c2b1e-8d4a-4b7e-9c3f-1a2b3c4d5e6f"}, {"assignee_id": None}]}
    )

    assignee_id: uuid.UUID | None = Field(description="A member of the ticket's organization; null unassigns")


class TicketStatusChange(InputSchema):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"status": "pending", "note": "Waiting for the card from the printer"}]}
    )

    status: TicketStatus
    note: Note | None = None


class TicketRequesterRead(Schema):
    """A ticket as its requester sees it."""

    id: uuid.UUID
    reference: str
    organization_id: uuid.UUID
    subject: str
    description: str
    status: TicketStatus
    priority: TicketPriority
    category_id: uuid.UUID | None
    department_id: uuid.UUID | None
    assignee_id: uuid.UUID | None
    requester_id: uuid.UUID | None
    requester_email: str | None
    channel: str
    conversation_id: uuid.UUID
    follow_up_of: uuid.UUID | None
    first_responded_at: datetime | None
    solved_at: datetime | None
    closed_at: datetime | None
    created_at: datetime
    updated_at: datetime


class TicketRead(TicketRequesterRead):
    """A ticket as the organization's members see it."""

    tags: list[str]
    first_response_due_at: datetime | None = Field(description="Null when met, paused, stopped or without a policy")
    resolution_due_at: datetime | None
    first_response_breached: bool
    resolution_breached: bool
    sla_paused: bool


class TicketMessageCreate(InputSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"body": "Your card was posted today; it should arrive within three working days.", "client_id": "t-1"},
                {"body": "Checked with the printer: batch 48 was delayed.", "internal": True},
            ]
        }
    )

    body: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_BODY_CHARS)]
    client_id: ClientId | None = Field(
        default=None, description="Your id for this message: sending it again stores nothing new (200)"
    )
    internal: bool = Field(default=False, description="Members only: a note the requester never sees")
    document_ids: DocumentIds = Field(default_factory=list)


class TicketEventRead(Schema):
    id: int
    type: str
    actor_id: uuid.UUID | None
    api_key_id: uuid.UUID | None = Field(default=None, description="The API key that made the change (`actor_id` null)")
    rule_id: uuid.UUID | None
    data: dict[str, Any]
    at: datetime


# --- categories ---------------------------------------------------------------------------------

CategoryName = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class CategoryCreate(InputSchema):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"name": "Billing", "department_id": "6a1d2c3b-4e5f-4a6b-8c7d-9e0f1a2b3c4d"}]}
    )

    name: CategoryName
    department_id: uuid.UUID | None = None


class CategoryUpdate(InputSchema):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "Payments and refunds"}]})

    name: CategoryName | None = None
    department_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def _name_not_null(self) -> "CategoryUpdate":
        if "name" in self.model_fields_set and self.name is None:
            raise ValueError("`name` cannot be null")
        return self


class CategoryRead(Schema):
    id: uuid.UUID
    organization_id: uuid.UUID
    name: str
    department_id: uuid.UUID | None
    created_at: datetime


# --- SLA ----------------------------------------------------------------------------------------

_CLOCK = re.compile(r"^(?:([01]\d|2[0-3]):([0-5]\d)|24:00)$")


def to_seconds(value: str) -> int:
    if value == "24:00":
        return 24 * 3600
    hours, minutes = value.split(":")
    return int(hours) * 3600 + int(minutes) * 60


def to_clock(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


ClockTime = Annotated[str, StringConstraints(pattern=_CLOCK.pattern), Field(examples=["09:00", "24:00"])]


class BusinessRange(InputSchema):
    weekday: Annotated[int, Field(ge=0, le=6, description="0 = Monday")]
    opens: ClockTime
    closes: ClockTime = Field(description="Up to `24:00` (the end of the day)")

    @model_validator(mode="after")
    def _ordered(self) -> "BusinessRange":
        if to_seconds(self.opens) >= to_seconds(self.closes):
            raise ValueError("a range must close after it opens")
        return self


Minutes = Annotated[int, Field(ge=1, le=525_600)]


class SlaPolicyIn(InputSchema):
    priority: TicketPriority
    first_response_minutes: Minutes
    resolution_minutes: Minutes


class SlaIn(InputSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "weekly": [{"weekday": day, "opens": "09:00", "closes": "17:30"} for day in range(5)],
                    "holidays": ["2026-12-25", "2027-01-01"],
                    "policies": [
                        {"priority": "urgent", "first_response_minutes": 30, "resolution_minutes": 240},
                        {"priority": "high", "first_response_minutes": 60, "resolution_minutes": 480},
                        {"priority": "normal", "first_response_minutes": 240, "resolution_minutes": 1440},
                    ],
                }
            ]
        }
    )

    weekly: Annotated[
        list[BusinessRange] | None, Field(max_length=70, description="Absent or null: open round the clock")
    ] = None
    holidays: Annotated[list[date], Field(max_length=366)] = Field(default_factory=list)
    policies: Annotated[list[SlaPolicyIn], Field(max_length=4)] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> "SlaIn":
        if self.weekly:
            by_day = sorted((r.weekday, to_seconds(r.opens), to_seconds(r.closes)) for r in self.weekly)
            for (day_a, _, closes_a), (day_b, opens_b, _) in pairwise(by_day):
                if day_a == day_b and opens_b < closes_a:
                    raise ValueError(f"ranges overlap on weekday {day_a}")
        priorities = [policy.priority for policy in self.policies]
        if len(set(priorities)) != len(priorities):
            raise ValueError("a priority has at most one policy")
        return self


class BusinessRangeRead(Schema):
    weekday: int
    opens: str
    closes: str


class SlaPolicyRead(Schema):
    priority: TicketPriority
    first_response_minutes: int
    resolution_minutes: int


class SlaRead(Schema):
    organization_id: uuid.UUID
    timezone: str = Field(description="The organization's zone, in which the hours are read")
    weekly: list[BusinessRangeRead] | None = Field(description="Null: open round the clock")
    holidays: list[date]
    policies: list[SlaPolicyRead]
    effective_from: datetime | None = Field(description="When this calendar took effect (null: never set)")


class SlaTarget(Schema):
    target_minutes: int | None
    due_at: datetime | None
    met_at: datetime | None
    breached: bool


class SlaInterval(Schema):
    starts_at: datetime
    ends_at: datetime
    status: TicketStatus
    clock: Clock
    hours: Hours
    counted_minutes: float


class SlaExplanation(Schema):
    policy: SlaPolicyRead | None
    counted_minutes: float = Field(description="Business minutes counted from creation to now (to the second)")
    first_response: SlaTarget
    resolution: SlaTarget
    intervals: list[SlaInterval]


# --- reports ------------------------------------------------------------------------------------


class TicketSummaryRead(Schema):
    created: int
    solved: int
    breached: int
    breach_rate: float | None = Field(description="Breached / created, over tickets with a policy; null if none")
    median_first_response_minutes: float | None = Field(description="In counted business minutes")
    median_resolution_minutes: float | None


class TicketDailyRead(Schema):
    date: date
    created: int
    solved: int


class TicketCategoryReportRead(Schema):
    category_id: uuid.UUID | None
    name: str | None
    created: int
    solved: int
    breached: int
    breach_rate: float | None
    median_first_response_minutes: float | None
    median_resolution_minutes: float | None


class TicketAssigneeReportRead(Schema):
    assignee_id: uuid.UUID | None
    name: str | None
    created: int
    solved: int
    breached: int
    breach_rate: float | None
    median_first_response_minutes: float | None
    median_resolution_minutes: float | None
