"""A builder's settings, projects and units.

A unit's sale state is kept on its own row (`hold_id`, `held_until`, `booking_id`, `sale_status`)
and only ever changed by conditional updates of that row (`unit_sales`): a hold claims the unit
only if it is neither booked nor held by a hold that is still running, so under any concurrency a
unit has at most one active hold or active booking, and an expired hold stops blocking the moment
its `held_until` passes, with no job to clear it.
"""

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, NUMMULTIRANGE
from sqlalchemy.dialects.postgresql.ranges import Range
from sqlalchemy.orm import Mapped, mapped_column

from app.core.database import Base, TimestampMixin

# Money columns: 13 integer digits and up to 4 minor digits (CLF, UYW), with room for sums.
MONEY = Numeric(19, 4)


class ProjectStatus(StrEnum):
    planned = "planned"
    under_construction = "under_construction"
    completed = "completed"

    @property
    def rank(self) -> int:
        return list(ProjectStatus).index(self)


class UnitType(StrEnum):
    apartment = "apartment"
    villa = "villa"
    house = "house"
    plot = "plot"
    office = "office"
    retail = "retail"
    parking = "parking"


# The bedroom counts a unit may have (its check constraint).
BEDROOMS = range(0, 21)


class UnitStatus(StrEnum):
    available = "available"
    held = "held"
    reserved = "reserved"
    sold = "sold"


class PropertySettings(TimestampMixin, Base):
    """One row per property organization, written on first change (defaults until then)."""

    __tablename__ = "property_settings"
    __table_args__ = (
        CheckConstraint("hold_minutes BETWEEN 1 AND 1440", name="hold_minutes"),
        CheckConstraint("max_holds_per_customer BETWEEN 1 AND 20", name="max_holds_per_customer"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    hold_minutes: Mapped[int] = mapped_column(Integer, default=15)
    max_holds_per_customer: Mapped[int] = mapped_column(Integer, default=2)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class Project(TimestampMixin, Base):
    __tablename__ = "projects"
    __table_args__ = (
        CheckConstraint("status IN ('planned', 'under_construction', 'completed')", name="status"),
        CheckConstraint("(status = 'completed') = (completed_on IS NOT NULL)", name="completed_on"),
        Index("ix_projects_organization_id_created_at", "organization_id", "created_at"),
        Index("ix_projects_city_lower", func.lower(text("city")), "created_at", postgresql_where=text("published")),
        Index("ix_projects_published_created_at", "created_at", postgresql_where=text("published")),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    city: Mapped[str] = mapped_column(String(100))
    address: Mapped[str | None] = mapped_column(String(500))
    description: Mapped[str | None] = mapped_column(String(5000))
    status: Mapped[str] = mapped_column(String(24), default=ProjectStatus.planned)
    starts_on: Mapped[date | None] = mapped_column(Date)
    handover_on: Mapped[date | None] = mapped_column(Date)
    completed_on: Mapped[date | None] = mapped_column(Date)
    amenities: Mapped[list[str]] = mapped_column(ARRAY(String(100)), default=list, server_default="{}")
    currency: Mapped[str] = mapped_column(String(3))
    published: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class Milestone(TimestampMixin, Base):
    """A stage of a project's construction; the project's progress is their mean percent."""

    __tablename__ = "milestones"
    __table_args__ = (
        CheckConstraint("percent_complete BETWEEN 0 AND 100", name="percent_complete"),
        CheckConstraint("position > 0", name="position"),
        UniqueConstraint("project_id", "position"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(Integer)
    planned_on: Mapped[date | None] = mapped_column(Date)
    percent_complete: Mapped[int] = mapped_column(Integer, default=0)
    # The first day (in the builder's zone) it reached 100; kept once set.
    completed_on: Mapped[date | None] = mapped_column(Date)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class Unit(TimestampMixin, Base):
    __tablename__ = "units"
    __table_args__ = (
        CheckConstraint("type IN ('apartment', 'villa', 'house', 'plot', 'office', 'retail', 'parking')", name="type"),
        CheckConstraint("floor BETWEEN -5 AND 200", name="floor"),
        CheckConstraint(f"bedrooms BETWEEN {BEDROOMS[0]} AND {BEDROOMS[-1]}", name="bedrooms"),
        CheckConstraint("area_m2 > 0", name="area_m2"),
        CheckConstraint("price > 0", name="price"),
        CheckConstraint("sale_status IN ('reserved', 'sold')", name="sale_status"),
        CheckConstraint("(sale_status IS NULL) = (booking_id IS NULL)", name="booking"),
        CheckConstraint("(hold_id IS NULL) = (held_until IS NULL)", name="hold"),
        Index("ix_units_project_id_code", "project_id", func.lower(text("code")), unique=True),
        # A project's units of one size, counted for `unit_stock` (and a project's counts by
        # status) by an index-only scan.
        Index(
            "ix_units_project_id_bedrooms",
            "project_id",
            "bedrooms",
            postgresql_include=["price", "sale_status", "held_until"],
        ),
        # The units under a hold, running or lapsed: the few that `unit_stock` cannot answer for.
        Index(
            "ix_units_project_id_held",
            "project_id",
            "bedrooms",
            postgresql_include=["price", "held_until"],
            postgresql_where=text("held_until IS NOT NULL AND sale_status IS NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(40))
    type: Mapped[str] = mapped_column(String(16))
    floor: Mapped[int] = mapped_column(Integer)
    bedrooms: Mapped[int] = mapped_column(Integer)
    area_m2: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    price: Mapped[Decimal] = mapped_column(MONEY)
    # The running hold (while `held_until` is in the future) and the active booking, if any.
    hold_id: Mapped[uuid.UUID | None] = mapped_column()
    held_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    booking_id: Mapped[uuid.UUID | None] = mapped_column(unique=True)
    sale_status: Mapped[str | None] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


# How many prices `unit_stock.free_prices_brief` carries at most: an index row has a size limit
# (~2.7 kB), and 32 points of a multirange take ~700 bytes.
BRIEF_PRICES = 32


class UnitStock(Base):
    """A project's unsold units of one size, kept for the public search: one row per project and
    bedroom count, written by triggers on `units` in the statement that changes a unit (migration
    0022), so whoever writes (a hold, a booking, the demo seeder, a manual fix) it stays exact.

    `free` units are unsold with no hold recorded; their prices are `free_prices` (a multirange of
    points, so "a free unit priced within [a, b]" is one `&&`), the lowest `free_from`.
    `free_prices_brief` is the same multirange when it has at most `BRIEF_PRICES` prices (else
    NULL), for the search index to carry. `held` units are unsold with a hold recorded on the row,
    running or lapsed: whether a lapsed one is available again depends on the clock, so reads look
    those few up in `units` (`ix_units_project_id_held`). The project's city, publication and age
    are copied here so that one index range answers a city's search; a trigger on `projects` keeps
    the copies.
    """

    __tablename__ = "unit_stock"
    __table_args__ = (
        # The search: a size's projects in a city (or in all), newest first, with their free prices;
        # a search of every size reads one range per size (`bedrooms IN (0, ..., 20)`).
        Index(
            "ix_unit_stock_bedrooms_city_key_created_at",
            "bedrooms",
            "city_key",
            "created_at",
            "project_id",
            postgresql_include=["published", "organization_id", "free_prices_brief", "held"],
        ),
        # The search's rows whose prices are too many for the index's brief copy.
        Index(
            "ix_unit_stock_bedrooms_city_key_many_prices",
            "bedrooms",
            "city_key",
            postgresql_where=text("free_prices_brief IS NULL"),
        ),
        # The search's rows with units under a hold (running or lapsed).
        Index("ix_unit_stock_bedrooms_city_key_held", "bedrooms", "city_key", postgresql_where=text("held > 0")),
        # A project's figures (units, available, lowest price) by an index-only scan.
        Index(
            "ix_unit_stock_project_id_figures",
            "project_id",
            postgresql_include=["units", "free", "free_from", "held"],
        ),
    )

    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    bedrooms: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column()
    city_key: Mapped[str] = mapped_column(String(100))  # lower(projects.city)
    published: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # the project's
    units: Mapped[int] = mapped_column(Integer)
    free: Mapped[int] = mapped_column(Integer)
    free_from: Mapped[Decimal | None] = mapped_column(MONEY)
    free_prices: Mapped[list[Range[Decimal]]] = mapped_column(NUMMULTIRANGE)
    free_prices_brief: Mapped[list[Range[Decimal]] | None] = mapped_column(NUMMULTIRANGE)
    held: Mapped[int] = mapped_column(Integer)
