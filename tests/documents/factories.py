"""Rows for the documents, QR and check-in tests, inserted directly with the models."""

import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.services.appointments.models import Appointment, Status
from app.services.catalog.models import Requirement, Service
from app.services.organizations.models import MemberRole, Membership, Organization
from tests.helpers import Account, register


async def create_organization(session: AsyncSession, *, name: str = "Town hall") -> Organization:
    organization = Organization(name=name, kind="government", timezone="Europe/Paris")
    session.add(organization)
    await session.commit()
    return organization


async def add_member(
    session: AsyncSession, *, organization: Organization, user_id: uuid.UUID, role: MemberRole = MemberRole.staff
) -> None:
    session.add(Membership(organization_id=organization.id, user_id=user_id, role=role))
    await session.commit()


async def create_service(
    session: AsyncSession,
    *,
    organization: Organization,
    requirements: tuple[str, ...] = ("ID card", "Proof of address"),
) -> tuple[Service, list[Requirement]]:
    service = Service(organization_id=organization.id, name="Passport", duration_minutes=15, capacity=2)
    session.add(service)
    await session.flush()
    items = [
        Requirement(service_id=service.id, name=name, mandatory=True, position=i) for i, name in enumerate(requirements)
    ]
    session.add_all(items)
    await session.commit()
    return service, items


async def create_appointment(
    session: AsyncSession,
    *,
    service: Service,
    citizen_id: uuid.UUID,
    starts_at: datetime | None = None,
    status: Status = Status.booked,
) -> Appointment:
    starts_at = starts_at or datetime.now(UTC) + timedelta(minutes=30)
    appointment = Appointment(
        reference=secrets.token_hex(4).upper(),
        service_id=service.id,
        organization_id=service.organization_id,
        citizen_id=citizen_id,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=service.duration_minutes),
        status=status,
    )
    session.add(appointment)
    await session.commit()
    return appointment


@dataclass
class World:
    """A citizen with an appointment at an organization, its staff, and strangers to both."""

    organization: Organization
    service: Service
    requirements: list[Requirement]
    appointment: Appointment
    citizen: Account
    staff: Account
    other_citizen: Account
    other_staff: Account
    other_service: Service
    other_requirements: list[Requirement] = field(default_factory=list)


async def create_world(client: httpx.AsyncClient, session: AsyncSession, *, starts_at: datetime | None = None) -> World:
    organization = await create_organization(session)
    other_organization = await create_organization(session, name="Clinic")
    service, requirements = await create_service(session, organization=organization)
    other_service, other_requirements = await create_service(session, organization=other_organization)
    citizen = await register(client, full_name="Cora Citizen")
    staff = await register(client, full_name="Sam Staff")
    other_citizen = await register(client, full_name="Olga Other")
    other_staff = await register(client, full_name="Oscar Otherstaff")
    await add_member(session, organization=organization, user_id=staff.id)
    await add_member(session, organization=other_organization, user_id=other_staff.id, role=MemberRole.owner)
    appointment = await create_appointment(session, service=service, citizen_id=citizen.id, starts_at=starts_at)
    return World(
        organization=organization,
        service=service,
        requirements=requirements,
        appointment=appointment,
        citizen=citizen,
        staff=staff,
        other_citizen=other_citizen,
        other_staff=other_staff,
        other_service=other_service,
        other_requirements=other_requirements,
    )
