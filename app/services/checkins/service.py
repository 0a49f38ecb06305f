"""Appointment codes (the signed token an appointment's QR code carries) and check-in at the
counter from a scanned code (typed by a scanner, or in a photo)."""

import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.services.appointments import service as appointments_service
from app.services.appointments.models import Appointment
from app.services.appointments.service import Caller
from app.services.checkins.errors import InvalidCode, NoCodeFound
from app.services.qr import service as qr_service
from app.services.qr.errors import InvalidCodeSignature
from app.services.qr.images import ImageCache
from app.services.qr.tokens import Keyring

# ~1-3 KiB an image at the usual scales: a few megabytes at most.
appointment_images = ImageCache(max_entries=4096)


def appointment_code(ring: Keyring, appointment_id: uuid.UUID) -> str:
    return ring.sign(appointment_id)


def read_code(ring: Keyring, text: str) -> uuid.UUID:
    """The appointment a scanned code names; 422 `invalid_code` for a forged or altered one."""
    try:
        return ring.verify(text)
    except InvalidCodeSignature as exc:
        raise InvalidCode() from exc


async def find_appointment_code(ring: Keyring, data: bytes, *, max_pixels: int) -> uuid.UUID:
    """The appointment named by the first genuine code in the photo.

    422 `no_code_found` when no QR code is readable, `invalid_code` when none of those found is ours.
    """
    codes = await qr_service.decode(data, max_pixels=max_pixels, qr_only=True)
    if not codes:
        raise NoCodeFound()
    for code in codes:
        try:
            return ring.verify(code.text)
        except InvalidCodeSignature:
            continue
    raise InvalidCode()


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
    appointment_id = read_code(ring, code)
    return await check_in(session, appointment_id=appointment_id, actor=actor, opens_before=opens_before)


async def check_in_by_photo(
    session: AsyncSession, *, ring: Keyring, image: bytes, max_pixels: int, actor: Caller, opens_before: timedelta
) -> Appointment:
    appointment_id = await find_appointment_code(ring, image, max_pixels=max_pixels)
    return await check_in(session, appointment_id=appointment_id, actor=actor, opens_before=opens_before)
