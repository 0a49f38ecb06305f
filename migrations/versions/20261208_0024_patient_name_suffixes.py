"""Clinic: `patient_name_suffixes`, every suffix of each patient's lowercased name, kept by triggers.

A search by any part of the name read candidates from the trigram index of `patients.full_name`,
then each candidate's row to recheck it, count it and sort it: ~0.9 ms of a 1.4 ms search for a
surname part matching 1,119 of 1,000,000 patients. A part of a name is a prefix of one of its
suffixes: with one row per suffix (cut to 16 characters, `SUFFIX_CHARS` in the models), its matches
in a clinic are one range of `ix_patient_name_suffixes`, read from the index alone, the name for the
page's sort included. The trigram index of the name is no longer read, and is dropped.

Statement-level triggers on `patients` (through transition tables: a bulk load is one statement)
add a patient's rows, drop them, and replace them when its name, archived flag or clinic changes;
rows are found again by their full key (the suffixes recomputed from the old row), so a patient's
change touches only its own index entries. Existing patients are added here.

Revision ID: 0024
Revises: 0022
Create Date: 2026-12-08 22:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SUFFIX_CHARS = 16  # patients.models.SUFFIX_CHARS, as of this revision
# The rows of the patients in `{rows}`: one per character of the lowercased name (PostgreSQL's
# `lower()`, as ILIKE's), duplicates (a name repeating 16 characters) left to the search's union.
SUFFIXES = f"""
    SELECT p.organization_id, p.archived, left(substr(f.folded, n), {SUFFIX_CHARS}) AS suffix,
           p.id AS patient_id, p.full_name
    FROM ({{rows}}) AS p CROSS JOIN LATERAL lower(p.full_name) AS f(folded)
    CROSS JOIN LATERAL generate_series(1, char_length(f.folded)) AS n"""
INSERT = "INSERT INTO patient_name_suffixes (organization_id, archived, suffix, patient_id, full_name) {rows}"
DELETE = """
    DELETE FROM patient_name_suffixes AS s USING ({gone}) AS g
    WHERE s.organization_id = g.organization_id AND s.archived = g.archived AND s.suffix = g.suffix
      AND s.patient_id = g.patient_id"""
# An update changes the rows of the patients whose name, archived flag or clinic changed (the
# others are matched in the other transition table: no alias is `new`, the trigger's row in
# PL/pgSQL).
SAME = (
    "{b}.id = {a}.id AND {b}.organization_id = {a}.organization_id AND {b}.archived = {a}.archived"
    " AND {b}.full_name = {a}.full_name"
)
GONE = f"SELECT * FROM old_rows AS o WHERE NOT EXISTS (SELECT FROM new_rows AS n WHERE {SAME.format(a='o', b='n')})"
FRESH = f"SELECT * FROM new_rows AS n WHERE NOT EXISTS (SELECT FROM old_rows AS o WHERE {SAME.format(a='n', b='o')})"

FUNCTION = f"""
CREATE FUNCTION patient_name_suffixes_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {INSERT.format(rows=SUFFIXES.format(rows="SELECT * FROM new_rows"))};
    ELSIF TG_OP = 'DELETE' THEN
        {DELETE.format(gone=SUFFIXES.format(rows="SELECT * FROM old_rows"))};
    ELSE
        {DELETE.format(gone=SUFFIXES.format(rows=GONE))};
        {INSERT.format(rows=SUFFIXES.format(rows=FRESH))};
    END IF;
    RETURN NULL;
END
$$"""
TRIGGERS = {
    "patient_name_suffixes_added": "AFTER INSERT ON patients REFERENCING NEW TABLE AS new_rows",
    "patient_name_suffixes_changed": "AFTER UPDATE ON patients REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "patient_name_suffixes_dropped": "AFTER DELETE ON patients REFERENCING OLD TABLE AS old_rows",
}


def upgrade() -> None:
    op.create_table(
        "patient_name_suffixes",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("suffix", sa.Text(collation="C"), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("full_name", sa.String(length=200), nullable=False),
    )
    # The search reads this table from its index alone, which needs the visibility map: vacuumed
    # after 1 % of its rows changed or came (the default, 20 %, leaves a large clinic's new
    # patients to be read from the heap for long).
    op.execute(
        "ALTER TABLE patient_name_suffixes"
        " SET (autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_insert_scale_factor = 0.01)"
    )
    op.execute(INSERT.format(rows=SUFFIXES.format(rows="SELECT * FROM patients")))
    op.create_index(
        "ix_patient_name_suffixes",
        "patient_name_suffixes",
        ["organization_id", "archived", "suffix", "patient_id"],
        postgresql_include=["full_name"],
    )
    op.execute(FUNCTION)
    for name, when in TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {when} FOR EACH STATEMENT EXECUTE FUNCTION patient_name_suffixes_sync()")
    op.drop_index("ix_patients_full_name_trgm", table_name="patients", postgresql_using="gin")


def downgrade() -> None:
    op.create_index(
        "ix_patients_full_name_trgm",
        "patients",
        ["full_name"],
        postgresql_using="gin",
        postgresql_ops={"full_name": "gin_trgm_ops"},
    )
    for name in TRIGGERS:
        op.execute(f"DROP TRIGGER {name} ON patients")
    op.execute("DROP FUNCTION patient_name_suffixes_sync()")
    op.drop_index("ix_patient_name_suffixes", table_name="patient_name_suffixes")
    op.drop_table("patient_name_suffixes")
