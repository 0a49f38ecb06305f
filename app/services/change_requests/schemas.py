import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, ConfigDict, Field, StringConstraints

from app.core.schemas import InputSchema, Schema
from app.services.change_requests.models import ChangeStatus
from app.services.properties import money

Reason = Annotated[str, StringConstraints(min_length=1, max_length=2000)]


def _not_negative(amount: Decimal) -> Decimal:
    if amount < 0:
        raise ValueError("must be 0 or more")
    return amount


class ChangeRequestCreate(InputSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"title": "Move the kitchen wall", "description": "Open the kitchen to the living room."}]
        }
    )

    title: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    description: Annotated[str, StringConstraints(min_length=1, max_length=5000)]


class QuoteRequest(InputSchema):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"amount": "4800.00", "days": 14, "note": "Includes a new beam."}]}
    )

    amount: Annotated[money.AmountText, AfterValidator(_not_negative)]
    days: Annotated[int, Field(ge=0, le=3650)]
    note: Reason | None = None


class DeclineRequest(InputSchema):
    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "It is a load-bearing wall."}]})

    reason: Reason


class RejectRequest(InputSchema):
    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "Too expensive."}, {}]})

    reason: Reason | None = None


class WithdrawRequest(InputSchema):
    """Empty."""

    model_config = ConfigDict(json_schema_extra={"examples": [{}]})


class ChangeRequestRead(Schema):
    id: uuid.UUID
    booking_id: uuid.UUID
    unit_id: uuid.UUID
    status: ChangeStatus
    title: str
    description: str
    amount: str | None
    days: int | None
    quote_note: str | None
    instalment_id: uuid.UUID | None = Field(description="The instalment an accepted quote added")
    created_at: datetime
    updated_at: datetime


class ChangeHistoryEntry(Schema):
    from_status: ChangeStatus | None
    to_status: ChangeStatus
    actor_id: uuid.UUID | None
    note: str | None
    at: datetime
