"""Check-in at the counter from a scanned appointment code (typed by a scanner, or in a photo)."""

import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.services.appointments import service as appointments_service
from app.services.appointments.models import Appointment
from app.services.appointments.service import Caller
from app.services.qr import service as qr_service
from app.services.qr.tokens import Keyring


async def check_in(
    session: AsyncSession, *, appointment_id: uuid.UUID, actor: Caller, opens_before: timedelta
) -> Appointment:
    """Staff of the appointment's organization (or an admin) check it in; anyone else gets 404.
    Idempotent: an appointment already checked in comes back unchanged."""
    appointment = await appointments_service.get_for_staff(session, appointment_id=appointment_id, user=actor)
    return await appointments_service.check_in(session, appointment=appointment, actor=actor, opens_before=opens_before)


async def check_in_by_code(
    session: AsyncSession, *, ring: Keyring, code: str, actor: Caller, opens_before: timedelta
) -> Appointment:
    appointment_id = qr_service.read_code(ring, code)
    return await check_in(session, appointment_id=appointment_id, actor=actor, opens_before=opens_before)


async def check_in_by_photo(
    session: AsyncSession, *, ring: Keyring, image: bytes, max_pixels: int, actor: Caller, opens_before: timedelta
) -> Appointment:
    appointment_id = await qr_service.find_appointment_code(ring, image, max_pixels=max_pixels)
    return await check_in(session, appointment_id=appointment_id, actor=actor, opens_before=opens_before)
