"""Appointments keep the first time of each move (started, completed, cancelled) from their history.

A statement-level trigger on `appointment_events` sets them (and `checked_in_at` when missing) in
the statement that writes the history, whoever writes it; existing rows are backfilled. Insights
then read every time from the appointments' covering indexes instead of probing the history
once per appointment, and the history index that those probes needed is dropped.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 04:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MOVES = "('checked_in', 'in_progress', 'completed', 'cancelled')"
FIRST_TIMES = (
    """
    SELECT appointment_id,
           min(at) FILTER (WHERE to_status = 'checked_in') AS checked_in_at,
           min(at) FILTER (WHERE to_status = 'in_progress') AS started_at,
           min(at) FILTER (WHERE to_status = 'completed') AS completed_at,
           min(at) FILTER (WHERE to_status = 'cancelled') AS cancelled_at
    FROM {source}
    WHERE to_status IN """
    + MOVES
    + """
    GROUP BY appointment_id
"""
)
APPLY = """
    UPDATE appointments AS a SET
        checked_in_at = coalesce(a.checked_in_at, m.checked_in_at),
        started_at = coalesce(a.started_at, m.started_at),
        completed_at = coalesce(a.completed_at, m.completed_at),
        cancelled_at = coalesce(a.cancelled_at, m.cancelled_at)
    FROM ({first_times}) AS m
    WHERE a.id = m.appointment_id
"""
ORG_INCLUDE = ["id", "service_id", "status", "created_at"]
ALL_INCLUDE = ["id", "organization_id", "citizen_id", "status", "created_at"]
TIMES = ["checked_in_at", "started_at", "completed_at", "cancelled_at"]


def _covering_indexes(extra: list[str]) -> None:
    op.drop_index("ix_appointments_organization_id_starts_at_covering", table_name="appointments")
    op.drop_index("ix_appointments_starts_at_covering", table_name="appointments")
    op.create_index(
        "ix_appointments_organization_id_starts_at_covering",
        "appointments",
        ["organization_id", "starts_at"],
        postgresql_include=ORG_INCLUDE + extra,
    )
    op.create_index(
        "ix_appointments_starts_at_covering", "appointments", ["starts_at"], postgresql_include=ALL_INCLUDE + extra
    )


def upgrade() -> None:
    for column in TIMES[1:]:
        op.add_column("appointments", sa.Column(column, sa.DateTime(timezone=True), nullable=True))
    op.execute(APPLY.format(first_times=FIRST_TIMES.format(source="appointment_events")))
    op.execute(
        "CREATE FUNCTION appointments_record_moves() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        + APPLY.format(first_times=FIRST_TIMES.format(source="new_events"))
        + "; RETURN NULL; END $$"
    )
    op.execute(
        "CREATE TRIGGER appointment_events_record_moves AFTER INSERT ON appointment_events "
        "REFERENCING NEW TABLE AS new_events FOR EACH STATEMENT EXECUTE FUNCTION appointments_record_moves()"
    )
    _covering_indexes(TIMES)
    op.drop_index("ix_appointment_events_timeline", table_name="appointment_events")


def downgrade() -> None:
    op.create_index(
        "ix_appointment_events_timeline",
        "appointment_events",
        ["appointment_id", "to_status", "at"],
        postgresql_where=sa.text(f"to_status IN {MOVES}"),
    )
    _covering_indexes([])
    op.execute("DROP TRIGGER appointment_events_record_moves ON appointment_events")
    op.execute("DROP FUNCTION appointments_record_moves()")
    for column in reversed(TIMES[1:]):
        op.drop_column("appointments", column)
