import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import realtime
from app.services.appointments import announcements
from app.services.appointments.models import Status
from app.services.documents import service as documents_service
from app.services.notifications import service as notifications_service
from app.services.notifications.models import Notification, OutboxEmail
from app.services.users.models import User
from tests.conftest import _libpq
from tests.insights.factories import add_member, make_appointment, make_org, make_service, make_user

STARTS = datetime(2026, 12, 1, 8, 30, tzinfo=UTC)  # 09:30 in Paris


async def _setup(session: AsyncSession):  # type: ignore[no-untyped-def]
    org = await make_org(session, timezone="Europe/Paris", name="Mairie de Lyon")
    service = await make_service(session, organization_id=org.id, name="Passport")
    citizen = await make_user(session, full_name="Cora Citizen")
    staff = await make_user(session, full_name="Sam Staff")
    await add_member(session, organization_id=org.id, user_id=staff.id, role="staff")
    appointment = await make_appointment(session, service=service, citizen_id=citizen.id, starts_at=STARTS)
    return org, service, citizen, staff, appointment


async def test_notification_is_stored_only_if_the_transaction_commits(session: AsyncSession) -> None:
    user = await make_user(session)
    await session.commit()
    await notifications_service.notify(session, user_id=user.id, kind="x", title="t", body="b", email=True)
    await session.rollback()
    assert await session.scalar(select(func.count()).select_from(Notification)) == 0
    assert await session.scalar(select(func.count()).select_from(OutboxEmail)) == 0


async def test_booking_by_the_citizen_is_announced_and_emailed_in_local_time(session: AsyncSession) -> None:
    _, service, citizen, _, appointment = await _setup(session)
    notification = await announcements.announce_appointment(
        session, appointment=appointment, kind="appointment_booked", actor=citizen
    )
    await session.commit()
    assert notification.user_id == citizen.id
    assert notification.kind == "appointment_booked"
    assert "Tue 1 Dec 2026, 09:30" in notification.body
    assert "booked by you" in notification.body
    assert notification.data["by"] == "citizen"
    assert notification.data["appointment_id"] == str(appointment.id)
    assert notification.data["reference"] == appointment.reference
    mail = await session.scalar(select(OutboxEmail).where(OutboxEmail.notification_id == notification.id))
    assert mail is not None
    assert mail.to_address == citizen.email
    assert mail.subject == f"Booked: {service.name}, Tue 1 Dec 2026, 09:30"
    assert "Hello Cora Citizen" in mail.body
    assert appointment.reference in mail.body
    assert "$" not in mail.body


async def test_cancellation_by_staff_names_the_organization_and_is_not_emailed(session: AsyncSession) -> None:
    _, _, citizen, staff, appointment = await _setup(session)
    appointment.status = Status.cancelled
    notification = await announcements.announce_appointment(
        session, appointment=appointment, kind="appointment_cancelled", actor=staff, note="Office closed"
    )
    await session.commit()
    assert notification.user_id == citizen.id
    assert "cancelled by Mairie de Lyon" in notification.body
    assert "Office closed" in notification.body
    assert notification.data["by"] == "staff"
    assert notification.data["actor_id"] == str(staff.id)
    assert notification.data["note"] == "Office closed"
    assert await session.scalar(select(func.count()).select_from(OutboxEmail)) == 0


async def test_reschedule_names_old_and_new_time_and_status_and_rating_request(session: AsyncSession) -> None:
    _, _, citizen, staff, appointment = await _setup(session)
    old = appointment.starts_at
    appointment.starts_at = old + timedelta(days=1, hours=1)
    appointment.ends_at = appointment.starts_at + timedelta(minutes=30)
    moved = await announcements.announce_appointment(
        session, appointment=appointment, kind="appointment_rescheduled", actor=citizen, previous_starts_at=old
    )
    assert "moved by you from Tue 1 Dec 2026, 09:30 to Wed 2 Dec 2026, 10:30" in moved.body
    assert moved.data["previous_starts_at"] == old.isoformat()
    appointment.status = Status.no_show
    status = await announcements.announce_appointment(
        session, appointment=appointment, kind="appointment_status", actor=staff
    )
    assert status.title == "Appointment marked as missed"
    assert status.data["status"] == "no_show"
    appointment.status = Status.completed
    request = await announcements.announce_appointment(
        session, appointment=appointment, kind="rating_request", actor=staff
    )
    assert request.kind == "rating_request"
    assert request.title == "How was your visit?"
    checked_in = await announcements.announce_appointment(
        session, appointment=appointment, kind="appointment_checked_in", actor=staff
    )
    assert checked_in.title == "Checked in"
    await session.commit()
    assert await session.scalar(select(func.count()).where(Notification.user_id == citizen.id)) == 4
    assert await session.scalar(select(func.count()).select_from(OutboxEmail)) == 0


async def test_document_rejection_is_emailed_with_its_reason_approval_is_not(session: AsyncSession) -> None:
    citizen = await make_user(session, full_name="Dora")
    await session.commit()
    rejected = await documents_service.announce_review(
        session, user_id=citizen.id, document_id=uuid.uuid4(), filename="id.pdf", decision="rejected", note="Blurry"
    )
    approved = await documents_service.announce_review(
        session, user_id=citizen.id, document_id=uuid.uuid4(), filename="bill.pdf", decision="approved"
    )
    await session.commit()
    assert (rejected.kind, approved.kind) == ("document_rejected", "document_approved")
    assert "Blurry" in rejected.body
    mails = (await session.scalars(select(OutboxEmail))).all()
    assert len(mails) == 1
    assert mails[0].notification_id == rejected.id
    assert mails[0].subject == "Please upload id.pdf again"
    assert "Reason: Blurry" in mails[0].body


async def test_inactive_account_gets_no_email(session: AsyncSession) -> None:
    user = await make_user(session)
    await session.execute(update(User).where(User.id == user.id).values(is_active=False))
    await notifications_service.notify(session, user_id=user.id, kind="reminder", title="t", body="b", email=True)
    await session.commit()
    assert await session.scalar(select(func.count()).select_from(Notification)) == 1
    assert await session.scalar(select(func.count()).select_from(OutboxEmail)) == 0


async def test_notification_frame_goes_to_the_live_channel_on_commit(session: AsyncSession, database_url: str) -> None:
    user = await make_user(session)
    await session.commit()
    received: asyncio.Queue[str] = asyncio.Queue()
    listener = await asyncpg.connect(_libpq(database_url))
    try:
        await listener.add_listener(realtime.CHANNEL, lambda *args: received.put_nowait(args[-1]))
        notification = await notifications_service.notify(
            session, user_id=user.id, kind="x", title="Hello", body="World", data={"k": "v"}
        )
        await asyncio.sleep(0.2)
        assert received.empty()  # nothing before the commit
        await session.commit()
        payload = json.loads(await asyncio.wait_for(received.get(), timeout=5))
    finally:
        await listener.close()
    assert payload["u"] == [str(user.id)]
    frame = payload["f"]
    assert frame["type"] == "notification"
    assert frame["notification"]["id"] == str(notification.id)
    assert frame["notification"]["title"] == "Hello"
    assert frame["notification"]["data"] == {"k": "v"}
    assert set(frame["notification"]) == {"id", "kind", "title", "body", "data", "read_at", "created_at"}


async def test_the_writer_clips_texts_to_their_columns_in_every_statement(session: AsyncSession) -> None:
    """`stored` clips in SQL, so a writer that passes raw texts (chat's subject line, `notify`)
    stores them cut with an ellipsis instead of failing on the column's length."""
    user = await make_user(session)
    await session.commit()
    stored = await notifications_service.notify(
        session, user_id=user.id, kind="k" * 60, title="t" * 300, body="b" * 2500, email=True
    )
    await session.commit()
    row = await session.get(Notification, stored.id)
    assert row is not None
    assert (row.kind, row.title, row.body) == ("k" * 40, "t" * 199 + "…", "b" * 1999 + "…")
    mail = await session.scalar(select(OutboxEmail).where(OutboxEmail.notification_id == row.id))
    assert mail is not None
    assert mail.to_address == user.email
