"""The platform roll-up, and the indexes that insights (and the reminder scan) need on the booking
engine's tables (declared here so that the metadata matches migrations 0005, 0007 and 0008).
Measured in bench/INSIGHTS.md.
"""

import uuid
from datetime import date
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Index, Integer, Numeric
from sqlalchemy.orm import Mapped, mapped_column

from app.core.database import Base
from app.services.appointments.models import Appointment


def _counter() -> Mapped[int]:
    return mapped_column(Integer, default=0, server_default="0")


def _seconds() -> Mapped[Decimal]:
    return mapped_column(Numeric, default=0, server_default="0")


class DailyTotal(Base):
    """What the platform summary adds up, per organization and UTC day of `starts_at`.

    Kept by triggers on `appointments` and `ratings` (migration 0008) in the statement that
    changes them, whoever writes it, so it is always exactly the sum of the rows it covers: each
    change subtracts the old row's share and adds the new one's. The platform summary then reads
    at most 366 rows per organization instead of a quarter of all appointments.
    """

    __tablename__ = "insights_daily_totals"

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    total: Mapped[int] = _counter()
    booked: Mapped[int] = _counter()
    checked_in: Mapped[int] = _counter()
    in_progress: Mapped[int] = _counter()
    completed: Mapped[int] = _counter()
    cancelled: Mapped[int] = _counter()
    no_show: Mapped[int] = _counter()
    lead_seconds: Mapped[Decimal] = _seconds()  # sum of starts_at - created_at
    notice_seconds: Mapped[Decimal] = _seconds()  # cancelled: sum of starts_at - cancelled_at
    notice_count: Mapped[int] = _counter()
    wait_seconds: Mapped[Decimal] = _seconds()  # sum of started_at - checked_in_at
    wait_count: Mapped[int] = _counter()
    service_seconds: Mapped[Decimal] = _seconds()  # sum of completed_at - started_at
    service_count: Mapped[int] = _counter()
    rating_sum: Mapped[int] = _counter()  # ratings of completed appointments
    rating_count: Mapped[int] = _counter()


# The first time of each move, kept on the appointment (migration 0007).
MOVE_TIMES = ["checked_in_at", "started_at", "completed_at", "cancelled_at"]

# Covering indexes: a range of an organization's appointments (or of all of them, for the
# platform summary and the reminder scan) is read from the index alone, without visiting the table.
appointments_organization_range = Index(
    "ix_appointments_organization_id_starts_at_covering",
    Appointment.organization_id,
    Appointment.starts_at,
    postgresql_include=["id", "service_id", "status", "created_at", *MOVE_TIMES],
)
appointments_range = Index(
    "ix_appointments_starts_at_covering",
    Appointment.starts_at,
    postgresql_include=["id", "organization_id", "citizen_id", "status", "created_at", *MOVE_TIMES],
)
