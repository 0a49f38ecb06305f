"""Automation rules of an organization: a trigger, conditions and actions, run in creation order."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, CheckConstraint, DateTime, ForeignKey, Identity, Index, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.core.database import Base

TRIGGERS = ("ticket_created", "status_changed", "sla_breached", "ticket_assigned")


class Automation(Base):
    __tablename__ = "automations"
    __table_args__ = (
        CheckConstraint(f"trigger IN ({', '.join(repr(t) for t in TRIGGERS)})", name="trigger"),
        # The rules an event runs: its organization's active rules of that trigger, in creation order.
        Index("ix_automations_organization_id_trigger_position", "organization_id", "trigger", "position"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    # Creation order, strictly (two rules created in one millisecond still have an order).
    position: Mapped[int] = mapped_column(BigInteger, Identity(), unique=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    trigger: Mapped[str] = mapped_column(String(32))
    conditions: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    actions: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    active: Mapped[bool] = mapped_column(Boolean, server_default="true")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
