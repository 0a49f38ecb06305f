"""Drop `ix_appointments_organization_id_starts_at`: the covering index (0005, rebuilt in 0007) has its key.

`ix_appointments_organization_id_starts_at_covering` is keyed on `(organization_id, starts_at)`
too, so every scan the plain index served (the staff queue of a day, an organization's range) is
served by the covering one; the plain one only cost an index entry per booking and per status
change.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 08:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_appointments_organization_id_starts_at", table_name="appointments")


def downgrade() -> None:
    op.create_index(
        "ix_appointments_organization_id_starts_at", "appointments", ["organization_id", "starts_at"], unique=False
    )
