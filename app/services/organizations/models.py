import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, CheckConstraint, DateTime, ForeignKey, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from app.core.database import Base, TimestampMixin


class OrganizationKind(StrEnum):
    government = "government"
    clinic = "clinic"
    property = "property"
    business = "business"


class MemberRole(StrEnum):
    owner = "owner"
    manager = "manager"
    staff = "staff"

    @property
    def rank(self) -> int:
        return {"staff": 1, "manager": 2, "owner": 3}[self.value]


class ClinicalRole(StrEnum):
    """A clinic member's clinical function, on top of the organization role (rights add up)."""

    doctor = "doctor"
    nurse = "nurse"


class Organization(TimestampMixin, Base):
    __tablename__ = "organizations"
    __table_args__ = (CheckConstraint("kind IN ('government', 'clinic', 'property', 'business')", name="kind"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    timezone: Mapped[str] = mapped_column(String(64))
    address: Mapped[str | None] = mapped_column(String(500))
    phone: Mapped[str | None] = mapped_column(String(32))
    email: Mapped[str | None] = mapped_column(String(254))
    # Members must have MFA on to act through their membership (app/services/mfa).
    require_mfa: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class Department(TimestampMixin, Base):
    __tablename__ = "departments"
    __table_args__ = (UniqueConstraint("organization_id", "name"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))


class Membership(TimestampMixin, Base):
    """A user's role in one organization. At most one per (organization, user)."""

    __tablename__ = "memberships"
    __table_args__ = (
        CheckConstraint("role IN ('owner', 'manager', 'staff')", name="role"),
        CheckConstraint("clinical_role IN ('doctor', 'nurse')", name="clinical_role"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)
    role: Mapped[str] = mapped_column(String(16))
    title: Mapped[str | None] = mapped_column(String(100))
    department_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("departments.id", ondelete="SET NULL"))
    # Only in organizations of kind `clinic` (the service checks it).
    clinical_role: Mapped[str | None] = mapped_column(String(16))
