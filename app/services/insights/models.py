"""Indexes that the insights queries (and the reminder scan) need on the booking engine's tables.

Insights own no table; the indexes are declared here, on the appointments feature's tables, so
that the metadata matches migrations 0005 and 0007, which create them. Measured in bench/INSIGHTS.md.
"""

from sqlalchemy import Index

from app.services.appointments.models import Appointment

# Covering indexes: a range of an organization's appointments (or of all of them, for the
# platform summary and the reminder scan) is read from the index alone, without visiting the table.
appointments_organization_range = Index(
    "ix_appointments_organization_id_starts_at_covering",
    Appointment.organization_id,
    Appointment.starts_at,
    postgresql_include=[
        "id",
        "service_id",
        "status",
        "created_at",
        "checked_in_at",
        "started_at",
        "completed_at",
        "cancelled_at",
    ],
)
appointments_range = Index(
    "ix_appointments_starts_at_covering",
    Appointment.starts_at,
    postgresql_include=[
        "id",
        "organization_id",
        "citizen_id",
        "status",
        "created_at",
        "checked_in_at",
        "started_at",
        "completed_at",
        "cancelled_at",
    ],
)
