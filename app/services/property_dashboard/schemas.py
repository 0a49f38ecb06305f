from datetime import date

from pydantic import Field

from app.core.schemas import Schema


class UnitCounts(Schema):
    available: int
    held: int
    reserved: int
    sold: int
    total: int


class DashboardRead(Schema):
    currency: str
    as_of: date = Field(description="Today in the organization's time zone")
    units: UnitCounts
    sales_value: str = Field(description="Σ `total` of the active bookings")
    collected: str = Field(description="Σ payments on the active bookings")
    due: str = Field(description="Σ instalment amounts due by `as_of` (inclusive)")
    overdue: str = Field(description="Σ outstanding of instalments due before `as_of`")
    outstanding: str = Field(description="Σ `balance` of the active bookings")
