import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, ConfigDict, StringConstraints

from app.core.schemas import InputSchema, Schema
from app.services.properties import money


class PaymentMethod(StrEnum):
    bank_transfer = "bank_transfer"
    card = "card"
    cash = "cash"
    cheque = "cheque"
    other = "other"


def _positive(amount: Decimal) -> Decimal:
    if amount <= 0:
        raise ValueError("must be greater than 0")
    return amount


class PaymentCreate(InputSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"amount": "32500.00", "paid_on": "2026-12-04", "method": "bank_transfer", "reference": "TRF-88213"}
            ]
        }
    )

    amount: Annotated[money.AmountText, AfterValidator(_positive)]
    paid_on: date
    method: PaymentMethod
    reference: Annotated[str, StringConstraints(max_length=100)] | None = None
    instalment_id: uuid.UUID | None = None


class AllocationRead(Schema):
    instalment_id: uuid.UUID
    amount: str


class PaymentRead(Schema):
    id: uuid.UUID
    booking_id: uuid.UUID
    amount: str
    currency: str
    paid_on: date
    method: PaymentMethod
    reference: str | None
    receipt_number: int
    allocations: list[AllocationRead]
    created_at: datetime
    updated_at: datetime


class ReceiptRead(PaymentRead):
    booking_reference: str
    buyer_name: str
    unit_code: str
    project_name: str
    organization_name: str
    balance_after: str
