import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, ConfigDict, Field, StringConstraints

from app.core.schemas import InputSchema, Schema
from app.services.properties import money
from app.services.properties.models import ProjectStatus, UnitStatus, UnitType

Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
City = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Address = Annotated[str, StringConstraints(max_length=500)]
Description = Annotated[str, StringConstraints(max_length=5000)]
Amenity = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Amenities = Annotated[list[Amenity], Field(max_length=50)]


def _known_currency(code: str) -> str:
    if not money.is_currency(code):
        raise ValueError("currency must be an upper-case ISO 4217 code, e.g. EUR")
    return code


Currency = Annotated[str, StringConstraints(min_length=3, max_length=3), AfterValidator(_known_currency)]


def _positive(amount: Decimal) -> Decimal:
    if amount <= 0:
        raise ValueError("must be greater than 0")
    return amount


Price = Annotated[money.AmountText, AfterValidator(_positive)]
Area = Annotated[money.AreaText, AfterValidator(_positive)]


class PropertySettingsRead(Schema):
    organization_id: uuid.UUID
    hold_minutes: int
    max_holds_per_customer: int


class PropertySettingsUpdate(InputSchema):
    model_config = ConfigDict(json_schema_extra={"examples": [{"hold_minutes": 30, "max_holds_per_customer": 3}]})

    hold_minutes: Annotated[int, Field(ge=1, le=1440)] | None = None
    max_holds_per_customer: Annotated[int, Field(ge=1, le=20)] | None = None


class ProjectCreate(InputSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "Harbour Lights",
                    "city": "Lisbon",
                    "currency": "EUR",
                    "address": "Rua do Cais 12",
                    "description": "Sixty flats by the river.",
                    "status": "under_construction",
                    "starts_on": "2026-03-01",
                    "handover_on": "2028-06-30",
                    "amenities": ["pool", "gym"],
                }
            ]
        }
    )

    name: Name
    city: City
    currency: Currency
    address: Address | None = None
    description: Description | None = None
    status: ProjectStatus = ProjectStatus.planned
    starts_on: date | None = None
    handover_on: date | None = None
    amenities: Amenities = Field(default_factory=list)


class ProjectUpdate(InputSchema):
    model_config = ConfigDict(json_schema_extra={"examples": [{"published": True}, {"status": "completed"}]})

    name: Name | None = None
    city: City | None = None
    address: Address | None = None
    description: Description | None = None
    status: ProjectStatus | None = None
    starts_on: date | None = None
    handover_on: date | None = None
    amenities: Amenities | None = None
    published: Annotated[bool | None, Field(description="One way: a published project stays published")] = None


class ProjectRead(Schema):
    id: uuid.UUID
    organization_id: uuid.UUID
    name: str
    city: str
    address: str | None
    status: ProjectStatus
    description: str | None
    starts_on: date | None
    handover_on: date | None
    completed_on: date | None
    amenities: list[str]
    currency: str
    published: bool
    progress_percent: int | None = Field(description="Mean of the milestones' percent, rounded down; null if none")
    units_total: int
    units_available: int
    price_from: str | None = Field(description="Lowest price of an available unit")
    created_at: datetime
    updated_at: datetime


Percent = Annotated[int, Field(ge=0, le=100)]


class MilestoneCreate(InputSchema):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"name": "Foundations", "planned_on": "2027-02-15", "percent_complete": 40}]}
    )

    name: Name
    planned_on: date | None = None
    percent_complete: Percent = 0


class MilestoneUpdate(InputSchema):
    model_config = ConfigDict(json_schema_extra={"examples": [{"percent_complete": 100}]})

    name: Name | None = None
    planned_on: date | None = None
    percent_complete: Percent | None = None


class MilestoneRead(Schema):
    id: uuid.UUID
    project_id: uuid.UUID
    name: str
    position: int
    planned_on: date | None
    percent_complete: int
    completed_on: date | None = Field(description="The first day it reached 100")
    created_at: datetime
    updated_at: datetime


class UnitCreate(InputSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "code": "A-101",
                    "type": "apartment",
                    "floor": 1,
                    "bedrooms": 2,
                    "area_m2": "84.50",
                    "price": "325000.00",
                }
            ]
        }
    )

    code: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    type: UnitType
    floor: Annotated[int, Field(ge=-5, le=200)]
    bedrooms: Annotated[int, Field(ge=0, le=20)]
    area_m2: Area
    price: Price


class UnitUpdate(InputSchema):
    model_config = ConfigDict(json_schema_extra={"examples": [{"price": "339000.00"}]})

    code: Annotated[str, StringConstraints(min_length=1, max_length=40)] | None = None
    type: UnitType | None = None
    floor: Annotated[int, Field(ge=-5, le=200)] | None = None
    bedrooms: Annotated[int, Field(ge=0, le=20)] | None = None
    area_m2: Area | None = None
    price: Annotated[Price | None, Field(description="Binds later bookings only")] = None


class UnitRead(Schema):
    id: uuid.UUID
    project_id: uuid.UUID
    organization_id: uuid.UUID
    code: str
    type: UnitType
    floor: int
    bedrooms: int
    area_m2: str
    price: str
    currency: str
    status: UnitStatus
    held_until: datetime | None = Field(description="The running hold's `expires_at`")
    created_at: datetime
    updated_at: datetime
