"""Indexes that the insights queries (and the reminder scan) need on the booking engine's tables.

Insights own no table; the indexes are declared here, on the appointments feature's tables, so
that the metadata matches migration 0005 which creates them.
"""

from sqlalchemy import Index

from app.services.appointments.models import Appointment, AppointmentEvent

# The platform summary and the reminder worker select appointments by start time alone.
appointments_starts_at = Index("ix_appointments_starts_at", Appointment.starts_at)
# Wait and service times read, per appointment, the time of a few status changes: with this index
# they come from the index alone instead of from the heap.
appointment_events_timeline = Index(
    "ix_appointment_events_appointment_id_to_status_at",
    AppointmentEvent.appointment_id,
    AppointmentEvent.to_status,
    AppointmentEvent.at,
)
