"""The platform roll-up: `insights_daily_totals`, per organization and UTC day, kept by triggers.

Triggers on `appointments` (after insert and update, per statement, through transition tables;
before delete, per row) and on `ratings` (after insert, update and delete, per statement)
subtract the old rows' shares and add the new rows' in the statement that changes them, so the
totals stay exact whoever writes (the app, the demo seeder, a manual fix), and a bulk insert
costs one grouped upsert. Existing rows are added up once here.

An appointment's share includes its rating, read while the appointment row still exists: a
deleted appointment takes its rating's share with it (before delete), and the rating's own
trigger then finds no appointment to subtract from.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22 05:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES = ["booked", "checked_in", "in_progress", "completed", "cancelled", "no_show"]
COUNTERS = [
    "total",
    *STATUSES,
    "lead_seconds",
    "notice_seconds",
    "notice_count",
    "wait_seconds",
    "wait_count",
    "service_seconds",
    "service_count",
    "rating_sum",
    "rating_count",
]
SECONDS = {"lead_seconds", "notice_seconds", "wait_seconds", "service_seconds"}
APPOINTMENT_COLUMNS = (
    "id, organization_id, starts_at, status, created_at, checked_in_at, started_at, completed_at, cancelled_at"
)


def _when(condition: str, value: str = "r.sign") -> str:
    return f"sum(CASE WHEN {condition} THEN {value} ELSE 0 END)"


def _seconds(later: str, earlier: str, condition: str = "true") -> tuple[str, str]:
    both = f"{condition} AND r.{later} IS NOT NULL AND r.{earlier} IS NOT NULL"
    return _when(both, f"r.sign * extract(epoch FROM r.{later} - r.{earlier})"), _when(both)


NOTICE = _seconds("starts_at", "cancelled_at", "r.status = 'cancelled'")
WAIT = _seconds("started_at", "checked_in_at")
SERVICE = _seconds("completed_at", "started_at")
RATED = "r.status = 'completed' AND rt.score IS NOT NULL"

# The shares of `{rows}` (appointment columns and a `sign`), by organization and UTC day.
APPOINTMENT_SHARES = f"""
    SELECT r.organization_id, (r.starts_at AT TIME ZONE 'UTC')::date AS day,
        sum(r.sign) AS total,
        {", ".join(f"{_when(f"r.status = '{s}'")} AS {s}" for s in STATUSES)},
        sum(r.sign * extract(epoch FROM r.starts_at - r.created_at)) AS lead_seconds,
        {NOTICE[0]} AS notice_seconds, {NOTICE[1]} AS notice_count,
        {WAIT[0]} AS wait_seconds, {WAIT[1]} AS wait_count,
        {SERVICE[0]} AS service_seconds, {SERVICE[1]} AS service_count,
        {_when(RATED, "r.sign * rt.score")} AS rating_sum, {_when(RATED)} AS rating_count
    FROM ({{rows}}) AS r
    LEFT JOIN ratings AS rt ON rt.appointment_id = r.id
    GROUP BY 1, 2"""
# The shares of `{rows}` (rating columns and a `sign`): only the rating counters move.
RATING_SHARES = f"""
    SELECT a.organization_id, (a.starts_at AT TIME ZONE 'UTC')::date AS day,
        {", ".join(f"0 AS {c}" for c in COUNTERS[:-2])},
        sum(r.sign * r.score) AS rating_sum, sum(r.sign) AS rating_count
    FROM ({{rows}}) AS r
    JOIN appointments AS a ON a.id = r.appointment_id AND a.status = 'completed'
    GROUP BY 1, 2"""
# Rows of one (organization, day) are updated in key order: concurrent statements cannot deadlock.
ADD = f"""
    INSERT INTO insights_daily_totals AS t (organization_id, day, {", ".join(COUNTERS)})
    SELECT * FROM ({{shares}}) AS s
    WHERE ({", ".join(f"s.{c}" for c in COUNTERS)}) <> ({", ".join("0" for _ in COUNTERS)})
    ORDER BY s.organization_id, s.day
    ON CONFLICT (organization_id, day) DO UPDATE SET
        {", ".join(f"{c} = t.{c} + excluded.{c}" for c in COUNTERS)}"""


def _rows(table: str, sign: int, columns: str = APPOINTMENT_COLUMNS) -> str:
    return f"SELECT {columns}, {sign} AS sign FROM {table}"


RATING_COLUMNS = "appointment_id, score"
DELETED_ROW = "SELECT " + ", ".join(f"OLD.{c.strip()}" for c in APPOINTMENT_COLUMNS.split(",")) + ", -1 AS sign"
TRIGGERS = [
    # (function and trigger, table, when, shares, what the function returns)
    (
        "insights_totals_appointments_inserted",
        "appointments",
        "AFTER INSERT ON {table} REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT",
        APPOINTMENT_SHARES.format(rows=_rows("new_rows", 1)),
        "NULL",
    ),
    (
        "insights_totals_appointments_updated",
        "appointments",
        "AFTER UPDATE ON {table} REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT",
        APPOINTMENT_SHARES.format(rows=_rows("old_rows", -1) + " UNION ALL " + _rows("new_rows", 1)),
        "NULL",
    ),
    # Per row and before the delete: the appointment's rating is still there to be subtracted.
    (
        "insights_totals_appointments_deleted",
        "appointments",
        "BEFORE DELETE ON {table} FOR EACH ROW",
        APPOINTMENT_SHARES.format(rows=DELETED_ROW),
        "OLD",
    ),
    (
        "insights_totals_ratings_inserted",
        "ratings",
        "AFTER INSERT ON {table} REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT",
        RATING_SHARES.format(rows=_rows("new_rows", 1, RATING_COLUMNS)),
        "NULL",
    ),
    (
        "insights_totals_ratings_updated",
        "ratings",
        "AFTER UPDATE ON {table} REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT",
        RATING_SHARES.format(
            rows=_rows("old_rows", -1, RATING_COLUMNS) + " UNION ALL " + _rows("new_rows", 1, RATING_COLUMNS)
        ),
        "NULL",
    ),
    (
        "insights_totals_ratings_deleted",
        "ratings",
        "AFTER DELETE ON {table} REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT",
        RATING_SHARES.format(rows=_rows("old_rows", -1, RATING_COLUMNS)),
        "NULL",
    ),
]


def upgrade() -> None:
    counters = [
        sa.Column(c, sa.Numeric() if c in SECONDS else sa.Integer(), server_default="0", nullable=False)
        for c in COUNTERS
    ]
    op.create_table(
        "insights_daily_totals",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        *counters,
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name="insights_daily_totals_organization_id_fkey",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("organization_id", "day", name="insights_daily_totals_pkey"),
    )
    # No write may fall between the backfill's snapshot and the triggers (held until commit).
    op.execute("LOCK TABLE appointments, ratings IN SHARE ROW EXCLUSIVE MODE")
    op.execute(ADD.format(shares=APPOINTMENT_SHARES.format(rows=_rows("appointments", 1))))
    for function, table, when, shares, returned in TRIGGERS:
        op.execute(
            f"CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"{ADD.format(shares=shares)}; RETURN {returned}; END $$"
        )
        op.execute(f"CREATE TRIGGER {function} {when.format(table=table)} EXECUTE FUNCTION {function}()")


def downgrade() -> None:
    for function, table, *_ in TRIGGERS:
        op.execute(f"DROP TRIGGER {function} ON {table}")
        op.execute(f"DROP FUNCTION {function}()")
    op.drop_table("insights_daily_totals")
