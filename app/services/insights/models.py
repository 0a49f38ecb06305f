"""Indexes that the insights queries (and the reminder scan) need on the booking engine's tables.

Insights own no table; the indexes are declared here, on the appointments feature's tables, so
that the metadata matches migration 0005 which creates them. Measured in bench/INSIGHTS.md.
"""

from sqlalchemy import Index, text

from app.services.appointments.models import Appointment, AppointmentEvent

# Covering indexes: a range of an organization's appointments (or of all of them, for the
# platform summary and the reminder scan) is read from the index alone, without visiting the table.
appointments_organization_range = Index(
    "ix_appointments_organization_id_starts_at_covering",
    Appointment.organization_id,
    Appointment.starts_at,
    postgresql_include=["id", "service_id", "status", "created_at"],
)
appointments_range = Index(
    "ix_appointments_starts_at_covering",
    Appointment.starts_at,
    postgresql_include=["id", "organization_id", "citizen_id", "status", "created_at"],
)
# Wait, service and cancellation times read, per appointment, the time of a few status changes:
# an index-only probe each. Partial: bookings and no-shows (half the history) stay out of it, so
# more of it stays in memory.
appointment_events_timeline = Index(
    "ix_appointment_events_timeline",
    AppointmentEvent.appointment_id,
    AppointmentEvent.to_status,
    AppointmentEvent.at,
    postgresql_where=text("to_status IN ('checked_in', 'in_progress', 'completed', 'cancelled')"),
)
