"""Rows made directly with the models, for data sets with known answers (no booking rules applied)."""

import secrets
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.services.appointments.models import Appointment, AppointmentEvent, Status
from app.services.catalog.models import Service
from app.services.organizations.models import Membership, Organization
from app.services.users.models import User


async def make_user(session: AsyncSession, *, full_name: str = "Cora Citizen") -> User:
    user = User(email=f"u-{uuid.uuid4().hex[:12]}@example.org", password_hash="x", full_name=full_name)
    session.add(user)
    await session.flush()
    return user


async def make_org(session: AsyncSession, *, timezone: str = "Europe/Paris", name: str = "Town Hall") -> Organization:
    organization = Organization(name=name, kind="government", timezone=timezone)
    session.add(organization)
    await session.flush()
    return organization


async def add_member(session: AsyncSession, *, organization_id: uuid.UUID, user_id: uuid.UUID, role: str) -> None:
    session.add(Membership(organization_id=organization_id, user_id=user_id, role=role))
    await session.flush()


async def make_service(session: AsyncSession, *, organization_id: uuid.UUID, name: str = "Passport") -> Service:
    service = Service(organization_id=organization_id, name=name, duration_minutes=30, capacity=5)
    session.add(service)
    await session.flush()
    return service


async def make_appointment(
    session: AsyncSession,
    *,
    service: Service,
    citizen_id: uuid.UUID,
    starts_at: datetime,
    created_at: datetime | None = None,
    timeline: Sequence[tuple[Status, datetime]] = (),
    actor_id: uuid.UUID | None = None,
) -> Appointment:
    """An appointment booked at `created_at` (default: a day before it starts) that then went
    through `timeline` (status, time) moves; its status is the last move's."""
    created_at = created_at or starts_at - timedelta(days=1)
    appointment = Appointment(
        reference=secrets.token_hex(5).upper(),
        service_id=service.id,
        organization_id=service.organization_id,
        citizen_id=citizen_id,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=30),
        status=timeline[-1][0] if timeline else Status.booked,
        created_at=created_at,
    )
    session.add(appointment)
    await session.flush()
    previous: Status | None = None
    for status, at in [(Status.booked, created_at), *timeline]:
        session.add(
            AppointmentEvent(
                appointment_id=appointment.id,
                from_status=previous,
                to_status=status,
                actor_id=actor_id or citizen_id,
                at=at,
            )
        )
        previous = status
    await session.flush()
    return appointment
