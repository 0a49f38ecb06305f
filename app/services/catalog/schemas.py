import uuid
from datetime import date, datetime, time
from typing import Annotated

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from app.core.schemas import InputSchema, Schema

Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Description = Annotated[str, StringConstraints(max_length=5000)]
DurationMinutes = Annotated[int, Field(ge=5, le=720)]
Capacity = Annotated[int, Field(ge=1, le=1000)]


class RequirementIn(InputSchema):
    id: uuid.UUID | None = Field(default=None, description="Keep an existing requirement (on update)")
    name: Name
    mandatory: bool = True


class RequirementRead(Schema):
    id: uuid.UUID
    name: str
    mandatory: bool


class Rating(Schema):
    average: float | None
    count: int


class ServiceCreate(InputSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "Passport application",
                    "description": "Bring your old passport.",
                    "duration_minutes": 20,
                    "capacity": 2,
                    "requirements": [
                        {"name": "Birth certificate", "mandatory": True},
                        {"name": "Photo", "mandatory": True},
                    ],
                }
            ]
        }
    )

    name: Name
    description: Description | None = None
    department_id: uuid.UUID | None = None
    duration_minutes: DurationMinutes
    capacity: Capacity
    requirements: Annotated[list[RequirementIn], Field(default_factory=list, max_length=50)]


class ServiceUpdate(InputSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "capacity": 3,
                    "requirements": [
                        {"id": "0b4e6f0c-3a7d-4c9e-9f1a-2d3c4b5a6e7f", "name": "Birth certificate"},
                        {"name": "Proof of address", "mandatory": False},
                    ],
                }
            ]
        }
    )

    name: Name | None = None
    description: Description | None = None
    department_id: uuid.UUID | None = None
    duration_minutes: DurationMinutes | None = None
    capacity: Capacity | None = None
    is_active: bool | None = None
    requirements: Annotated[
        list[RequirementIn] | None,
        Field(max_length=50, description="The full list: items with an `id` are kept, others added, missing removed"),
    ] = None


class ServiceRead(Schema):
    id: uuid.UUID
    organization_id: uuid.UUID
    department_id: uuid.UUID | None
    name: str
    description: str | None
    duration_minutes: int
    capacity: int
    is_active: bool
    requirements: list[RequirementRead]
    rating: Rating
    created_at: datetime


class OpeningRange(InputSchema):
    weekday: Annotated[int, Field(ge=0, le=6, description="0 = Monday")]
    opens: time
    closes: time

    @model_validator(mode="after")
    def _ordered(self) -> "OpeningRange":
        if self.opens.tzinfo is not None or self.closes.tzinfo is not None:
            raise ValueError("opening hours are local times without an offset")
        if self.opens >= self.closes:
            raise ValueError("an opening range must close after it opens")
        return self


class ScheduleIn(InputSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "slot_minutes": 20,
                    "weekly": [
                        {"weekday": 0, "opens": "09:00", "closes": "12:00"},
                        {"weekday": 0, "opens": "13:00", "closes": "16:00"},
                        {"weekday": 2, "opens": "09:00", "closes": "18:00"},
                    ],
                    "min_notice_minutes": 60,
                    "max_days_ahead": 60,
                }
            ]
        }
    )

    slot_minutes: Annotated[int | None, Field(ge=5, le=720, description="Defaults to the service's duration")] = None
    weekly: Annotated[list[OpeningRange], Field(max_length=70)]
    min_notice_minutes: Annotated[int, Field(ge=0, le=60 * 24 * 60)] = 0
    max_days_ahead: Annotated[int, Field(ge=0, le=730)] = 60


class OpeningRangeRead(Schema):
    weekday: int
    opens: time
    closes: time


class ScheduleRead(Schema):
    service_id: uuid.UUID
    slot_minutes: int
    weekly: list[OpeningRangeRead]
    min_notice_minutes: int
    max_days_ahead: int


MAX_CLOSURE_DAYS = 731  # longer closures are a service to deactivate, not a holiday


class ClosureCreate(InputSchema):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"starts_on": "2026-12-24", "ends_on": "2026-12-26", "reason": "Holidays"}]}
    )

    starts_on: date
    ends_on: date
    reason: Annotated[str, StringConstraints(max_length=200)] | None = None

    @model_validator(mode="after")
    def _bounded(self) -> "ClosureCreate":
        if (self.ends_on - self.starts_on).days >= MAX_CLOSURE_DAYS:
            raise ValueError(f"a closure lasts at most {MAX_CLOSURE_DAYS} days")
        return self


class ClosureRead(Schema):
    id: uuid.UUID
    service_id: uuid.UUID
    starts_on: date
    ends_on: date
    reason: str | None
    created_at: datetime
