import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, ConfigDict, Field, StringConstraints, model_validator

from app.core.schemas import InputSchema, Schema
from app.services.properties import money
from app.services.unit_sales.models import BookingStatus, HoldStatus, Trigger

Label = Annotated[str, StringConstraints(min_length=1, max_length=200)]


def _percent(value: Decimal) -> Decimal:
    if not 0 < value <= 100:
        raise ValueError("a percent is greater than 0 and at most 100")
    return value


Percent = Annotated[money.PercentText, AfterValidator(_percent)]


class HoldCreate(InputSchema):
    """Empty: the unit is in the path, the customer is the caller."""

    model_config = ConfigDict(json_schema_extra={"examples": [{}]})


class HoldRead(Schema):
    id: uuid.UUID
    unit_id: uuid.UUID
    project_id: uuid.UUID
    customer_id: uuid.UUID
    status: HoldStatus = Field(description="`expired` once `expires_at` has passed while active")
    expires_at: datetime
    created_at: datetime
    updated_at: datetime


class PlanInstalmentIn(InputSchema):
    label: Label
    percent: Percent
    trigger: Trigger
    due_on: Annotated[date | None, Field(description="With `trigger: date` only")] = None
    milestone_id: Annotated[uuid.UUID | None, Field(description="With `trigger: milestone` only")] = None
    offset_days: Annotated[int, Field(ge=0, le=3650)] = 0

    @model_validator(mode="after")
    def _trigger_fields(self) -> "PlanInstalmentIn":
        if (self.trigger == Trigger.date) != (self.due_on is not None):
            raise ValueError("`due_on` is given with `trigger: date`, and only then")
        if (self.trigger == Trigger.milestone) != (self.milestone_id is not None):
            raise ValueError("`milestone_id` is given with `trigger: milestone`, and only then")
        return self


class PaymentPlanCreate(InputSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "10 / 40 / 50",
                    "instalments": [
                        {"label": "Down payment", "percent": "10", "trigger": "booking"},
                        {"label": "Structure", "percent": "40", "trigger": "date", "due_on": "2027-09-01"},
                        {"label": "Keys", "percent": "50", "trigger": "handover", "offset_days": 30},
                    ],
                }
            ]
        }
    )

    name: Label
    instalments: Annotated[list[PlanInstalmentIn], Field(min_length=1, max_length=24)]


class PaymentPlanUpdate(InputSchema):
    model_config = ConfigDict(json_schema_extra={"examples": [{"active": False}]})

    name: Label | None = None
    active: bool | None = None


class PlanInstalmentRead(Schema):
    position: int
    label: str
    percent: str
    trigger: Trigger
    due_on: date | None
    milestone_id: uuid.UUID | None
    offset_days: int


class PaymentPlanRead(Schema):
    id: uuid.UUID
    project_id: uuid.UUID
    name: str
    active: bool
    instalments: list[PlanInstalmentRead]
    created_at: datetime
    updated_at: datetime


class BookingCreate(InputSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "hold_id": "5f0c2b1e-8d4a-4b7e-9c3f-1a2b3c4d5e6f",
                    "payment_plan_id": "0b7d7c1e-2f3a-4c5d-8e9f-a0b1c2d3e4f5",
                }
            ]
        }
    )

    hold_id: uuid.UUID
    payment_plan_id: uuid.UUID


class BookingCancel(InputSchema):
    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "The buyer's mortgage was refused."}, {}]})

    reason: Annotated[str, StringConstraints(max_length=1000)] | None = None


class BookingRead(Schema):
    id: uuid.UUID
    reference: str
    unit_id: uuid.UUID
    project_id: uuid.UUID
    organization_id: uuid.UUID
    customer_id: uuid.UUID
    payment_plan_id: uuid.UUID
    status: BookingStatus
    price: str
    currency: str
    total: str = Field(description="price + accepted quotes = the sum of the instalments = paid + balance")
    paid: str
    balance: str
    overdue_amount: str
    delay_days: int
    sold_at: datetime | None
    cancelled_at: datetime | None
    created_at: datetime
    updated_at: datetime


class HistoryEntry(Schema):
    from_status: BookingStatus | None
    to_status: BookingStatus
    actor_id: uuid.UUID | None
    note: str | None
    at: datetime


class InstalmentRead(Schema):
    id: uuid.UUID
    position: int
    label: str
    kind: Literal["plan", "change_request"]
    change_request_id: uuid.UUID | None
    trigger: Trigger
    due_on: date | None = Field(description="Null while its milestone or the handover is to come")
    amount: str
    paid: str
    outstanding: str
    status: Literal["unpaid", "partial", "paid"]
    overdue: bool


class ScheduleRead(Schema):
    booking_id: uuid.UUID
    currency: str
    total: str
    paid: str
    balance: str
    overdue_amount: str
    instalments: list[InstalmentRead]


class InstalmentUpdate(InputSchema):
    model_config = ConfigDict(json_schema_extra={"examples": [{"due_on": "2027-10-01"}]})

    due_on: date


class UnitCounts(Schema):
    available: int
    held: int
    reserved: int
    sold: int
    total: int


class DashboardRead(Schema):
    """Over the project's active bookings (reserved or sold)."""

    currency: str
    as_of: date = Field(description="Today, in the builder's zone")
    units: UnitCounts
    sales_value: str = Field(description="Sum of the bookings' totals")
    collected: str = Field(description="Sum of their payments")
    due: str = Field(description="Sum of the instalments due by `as_of`")
    overdue: str = Field(description="Sum of what is outstanding on overdue instalments")
    outstanding: str = Field(description="Sum of the bookings' balances")
