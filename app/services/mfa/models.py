import uuid
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, LargeBinary, String, UniqueConstraint, func, text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.database import Base, TimestampMixin


class UserTotp(Base):
    """A user's TOTP secrets (sealed with SECRET_KEY, see `mfa.service.seal`): the confirmed one
    and the one being enrolled. MFA is on while `users.mfa_enabled_at` is set.

    `last_step` is the time step of the last accepted code: a code of that step or an earlier
    one is refused, and the conditional UPDATE that moves it is what makes a code single-use
    across concurrent logins and processes.
    """

    __tablename__ = "user_totp"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    secret: Mapped[str | None] = mapped_column(String(128))
    last_step: Mapped[int | None] = mapped_column(BigInteger)
    pending_secret: Mapped[str | None] = mapped_column(String(128))
    pending_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class RecoveryCode(TimestampMixin, Base):
    """One single-use recovery code, by SHA-256 digest of its normalised text."""

    __tablename__ = "mfa_recovery_codes"
    __table_args__ = (
        UniqueConstraint("user_id", "code_digest"),
        Index("ix_mfa_recovery_codes_user_id_unused", "user_id", postgresql_where=text("used_at IS NULL")),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    code_digest: Mapped[bytes] = mapped_column(LargeBinary(32))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
