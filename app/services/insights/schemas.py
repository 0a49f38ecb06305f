import uuid
from datetime import date

from pydantic import ConfigDict, Field

from app.core.schemas import Schema


class Totals(Schema):
    """Figures over the appointments that start in the range (their local date, inclusive)."""

    total: int
    booked: int
    checked_in: int
    in_progress: int
    completed: int
    cancelled: int
    no_show: int
    no_show_rate: float | None = Field(description="no_show / (completed + no_show); null without either")
    cancellation_rate: float | None = Field(description="cancelled / total; null without appointments")
    average_lead_time_hours: float | None = Field(
        description="Mean of starts_at - created_at: how far ahead people book"
    )
    average_cancellation_notice_hours: float | None = Field(
        description="Over cancelled appointments, mean of starts_at - time of cancellation (negative: after the start)"
    )
    average_wait_minutes: float | None = Field(description="Mean time from check-in to start (status history)")
    average_service_minutes: float | None = Field(description="Mean time from start to completion (status history)")
    average_rating: float | None
    rating_count: int


class Period(Schema):
    model_config = ConfigDict(from_attributes=True, populate_by_name=True)

    organization_id: uuid.UUID | None
    timezone: str
    from_: date = Field(alias="from")
    to: date


class SummaryRead(Totals, Period):
    pass


class PlatformSummaryRead(SummaryRead):
    organizations: int = Field(description="Organizations with at least one appointment in the range")
    citizens: int = Field(description="Distinct citizens with at least one appointment in the range")


class DailyRead(Schema):
    date: date
    total: int
    booked: int
    checked_in: int
    in_progress: int
    completed: int
    cancelled: int
    no_show: int


class ServiceInsightRead(Totals):
    service_id: uuid.UUID
    service_name: str


class PeakHourRead(Schema):
    weekday: int = Field(description="0 = Monday, in the organization's time zone")
    hour: int = Field(description="0-23, local")
    count: int = Field(description="Appointments starting in this hour, cancelled ones left out")
