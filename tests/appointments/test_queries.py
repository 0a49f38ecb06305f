import json

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.services.appointments import queries
from app.services.appointments.models import Appointment
from app.services.appointments.schemas import AppointmentRead
from tests.factories import book, create_org, create_service, local_slot
from tests.helpers import register

TRICKY_NOTES = 'Zoë\'s "urgent" visit \\ tab\there, bell\u0007, </script> 🚀 ∑'


async def test_bodies_written_by_postgresql_match_pydantic(client: httpx.AsyncClient, session: AsyncSession) -> None:
    """The hot reads send the JSON that PostgreSQL writes (`BODY_JSON`); the other endpoints send
    pydantic's. Both must say the same, every timestamp string included (only the spacing differs)."""
    org = await create_org(client, session)
    service = await create_service(
        client, org, requirements=[{"name": "ID card", "mandatory": True}, {"name": "Photo", "mandatory": False}]
    )
    citizen = await register(client)
    booked = (await book(client, citizen, service["id"], local_slot(org.timezone), notes=TRICKY_NOTES)).json()
    plain = (await book(client, citizen, service["id"], local_slot(org.timezone, hour=10))).json()
    # A whole-second time (no fraction) and a staff member, beside the fractional created_at.
    await session.execute(
        update(Appointment)
        .where(Appointment.id == plain["id"])
        .values(checked_in_at=Appointment.starts_at, staff_id=org.staff.id)
    )
    await session.commit()
    rows = (
        await session.execute(
            select(queries.BODY_JSON, *queries.BODY_COLUMNS).where(Appointment.id.in_([booked["id"], plain["id"]]))
        )
    ).all()
    assert len(rows) == 2
    for row in rows:
        written_by_pydantic = AppointmentRead.model_validate(row._mapping).model_dump_json()
        assert json.loads(row.body) == json.loads(written_by_pydantic)
        assert list(json.loads(row.body)) == list(AppointmentRead.model_fields)
    assert any(TRICKY_NOTES in (AppointmentRead.model_validate_json(row.body).notes or "") for row in rows)
