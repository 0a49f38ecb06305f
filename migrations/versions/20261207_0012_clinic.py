"""Clinic: clinical roles, patients, the append-only medical history, its access log, and
appointments booked for a patient.

- `memberships.clinical_role` (doctor | nurse).
- `patients`: MRN and national id unique per clinic ignoring case (unique indexes on `lower()`),
  one record per account and clinic; trigram (pg_trgm) GIN indexes for search by any part of the
  name or of the phone's digits (a stored generated column).
- `medical_entries`: versions linked by a unique `supersedes_id` (one amendment per version, so
  one current version per entry); `record_access_log`. A trigger refuses UPDATE and DELETE on both.
- `appointments`: `patient_id`, `reason`; `citizen_id` may be NULL (a patient without an account);
  a patient's active appointments never overlap (an exclusion constraint, as for citizens).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 16:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVE_SQL = "status IN ('booked', 'checked_in', 'in_progress')"
APPEND_ONLY = "refuse_change_of_history"


def upgrade() -> None:
    # pg_trgm is a trusted extension (PostgreSQL 13+): a database owner may create it.
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")

    op.add_column("memberships", sa.Column("clinical_role", sa.String(length=16), nullable=True))
    op.create_check_constraint("clinical_role", "memberships", "clinical_role IN ('doctor', 'nurse')")

    op.execute("CREATE SEQUENCE patients_mrn_seq")
    op.create_table(
        "patients",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("mrn", sa.String(length=64), nullable=False),
        sa.Column("national_id", sa.String(length=64), nullable=True),
        sa.Column("full_name", sa.String(length=200), nullable=False),
        sa.Column("date_of_birth", sa.Date(), nullable=True),
        sa.Column("sex", sa.String(length=16), nullable=True),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column(
            "phone_digits",
            sa.String(length=32),
            sa.Computed("regexp_replace(phone, '[^0-9]', '', 'g')", persisted=True),
            nullable=True,
        ),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("address", sa.String(length=500), nullable=True),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("assigned_doctor_id", sa.Uuid(), nullable=True),
        sa.Column("archived", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("sex IN ('female', 'male', 'other', 'unknown')", name=op.f("patients_sex_check")),
        sa.ForeignKeyConstraint(
            ["assigned_doctor_id"], ["users.id"], name=op.f("patients_assigned_doctor_id_fkey"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("patients_organization_id_fkey"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("patients_user_id_fkey"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("patients_pkey")),
        sa.UniqueConstraint("organization_id", "user_id", name=op.f("patients_organization_id_user_id_key")),
    )
    op.create_index(
        "patients_organization_id_mrn_key", "patients", ["organization_id", sa.text("lower(mrn)")], unique=True
    )
    op.create_index(
        "patients_organization_id_national_id_key",
        "patients",
        ["organization_id", sa.text("lower(national_id)")],
        unique=True,
    )
    op.create_index("ix_patients_organization_id_full_name_id", "patients", ["organization_id", "full_name", "id"])
    op.create_index(
        "ix_patients_full_name_trgm",
        "patients",
        ["full_name"],
        postgresql_using="gin",
        postgresql_ops={"full_name": "gin_trgm_ops"},
    )
    op.create_index(
        "ix_patients_phone_digits_trgm",
        "patients",
        ["phone_digits"],
        postgresql_using="gin",
        postgresql_ops={"phone_digits": "gin_trgm_ops"},
    )
    op.create_index("ix_patients_user_id", "patients", ["user_id"])
    op.create_index("ix_patients_assigned_doctor_id", "patients", ["assigned_doctor_id"])

    op.create_table(
        "medical_entries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("chain_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("supersedes_id", sa.Uuid(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("confidential", sa.Boolean(), nullable=False),
        sa.Column("effective_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=True),
        sa.Column("author_name", sa.String(length=200), nullable=False),
        sa.Column("author_role", sa.String(length=16), nullable=False),
        sa.Column("amendment_reason", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("author_role IN ('doctor', 'nurse')", name=op.f("medical_entries_author_role_check")),
        sa.CheckConstraint(
            "kind IN ('diagnosis', 'allergy', 'medication', 'vital_signs', 'note')",
            name=op.f("medical_entries_kind_check"),
        ),
        sa.CheckConstraint("(version = 1) = (supersedes_id IS NULL)", name=op.f("medical_entries_version_check")),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("medical_entries_author_id_fkey"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("medical_entries_patient_id_fkey"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["supersedes_id"],
            ["medical_entries.id"],
            name=op.f("medical_entries_supersedes_id_fkey"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("medical_entries_pkey")),
        sa.UniqueConstraint("supersedes_id", name=op.f("medical_entries_supersedes_id_key")),
    )
    op.create_index("ix_medical_entries_chain_id_version", "medical_entries", ["chain_id", "version"], unique=True)
    op.create_index(
        "ix_medical_entries_patient_id_effective_at", "medical_entries", ["patient_id", "effective_at", "id"]
    )

    op.create_table(
        "record_access_log",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("actor_name", sa.String(length=200), nullable=False),
        sa.Column("actor_role", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("entry_id", sa.Uuid(), nullable=True),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("clock_timestamp()"), nullable=False),
        sa.CheckConstraint(
            "action IN ('list_entries', 'read_entry', 'read_versions')", name=op.f("record_access_log_action_check")
        ),
        sa.CheckConstraint(
            "actor_role IN ('doctor', 'nurse', 'patient')", name=op.f("record_access_log_actor_role_check")
        ),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("record_access_log_actor_id_fkey"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["medical_entries.id"], name=op.f("record_access_log_entry_id_fkey"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("record_access_log_organization_id_fkey"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("record_access_log_patient_id_fkey"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("record_access_log_pkey")),
    )
    op.create_index("ix_record_access_log_organization_id_at", "record_access_log", ["organization_id", "at"])
    op.create_index("ix_record_access_log_patient_id_at", "record_access_log", ["patient_id", "at"])

    # Append-only, whoever connects: no UPDATE or DELETE of a row ever succeeds (TRUNCATE, which
    # only an owner's maintenance does, is not a row change). A user's account being deleted would
    # SET NULL its author/actor ids: users are deactivated, never deleted, so that is refused too.
    op.execute(
        f"""
        CREATE FUNCTION {APPEND_ONLY}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
                USING ERRCODE = 'restrict_violation';
        END
        $$
        """
    )
    for table in ("medical_entries", "record_access_log"):
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}"
            f" FOR EACH ROW EXECUTE FUNCTION {APPEND_ONLY}()"
        )

    op.alter_column("appointments", "citizen_id", existing_type=sa.Uuid(), nullable=True)
    op.add_column("appointments", sa.Column("patient_id", sa.Uuid(), nullable=True))
    op.add_column("appointments", sa.Column("reason", sa.String(length=500), nullable=True))
    op.create_foreign_key(
        op.f("appointments_patient_id_fkey"), "appointments", "patients", ["patient_id"], ["id"], ondelete="RESTRICT"
    )
    op.create_index("ix_appointments_patient_id_starts_at", "appointments", ["patient_id", "starts_at"])
    op.create_index("ix_appointments_staff_id_starts_at", "appointments", ["staff_id", "starts_at"])
    op.execute(
        "ALTER TABLE appointments ADD CONSTRAINT appointments_patient_overlap_excl"
        " EXCLUDE USING gist (patient_id WITH =, tstzrange(starts_at, ends_at) WITH &&)"
        f" WHERE ({ACTIVE_SQL})"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE appointments DROP CONSTRAINT appointments_patient_overlap_excl")
    op.drop_index("ix_appointments_staff_id_starts_at", table_name="appointments")
    op.drop_index("ix_appointments_patient_id_starts_at", table_name="appointments")
    op.drop_constraint(op.f("appointments_patient_id_fkey"), "appointments", type_="foreignkey")
    op.drop_column("appointments", "reason")
    op.drop_column("appointments", "patient_id")
    # Appointments of patients without an account cannot survive a schema that requires one.
    op.execute(
        "DELETE FROM appointment_events WHERE appointment_id IN (SELECT id FROM appointments WHERE citizen_id IS NULL)"
    )
    op.execute("DELETE FROM appointments WHERE citizen_id IS NULL")
    op.alter_column("appointments", "citizen_id", existing_type=sa.Uuid(), nullable=False)

    op.drop_table("record_access_log")
    op.drop_table("medical_entries")
    op.execute(f"DROP FUNCTION {APPEND_ONLY}()")
    op.drop_table("patients")
    op.execute("DROP SEQUENCE patients_mrn_seq")
    op.drop_constraint(op.f("memberships_clinical_role_check"), "memberships", type_="check")
    op.drop_column("memberships", "clinical_role")
    # pg_trgm stays: other schemas of the database may use it, and it holds no data.
