import asyncio
import logging
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import String, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.settings import Settings
from app.services.appointments import reminders
from app.services.appointments.models import Appointment, SentReminder, Status
from app.services.notifications import service as notifications_service
from app.services.notifications import workers
from app.services.notifications.models import EmailStatus, Notification, OutboxEmail
from app.services.users.models import User
from tests.insights.factories import make_appointment, make_org, make_service, make_user
from tests.notifications.smtp_stub import SmtpStub

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def _sessionmaker(app: FastAPI) -> async_sessionmaker[AsyncSession]:
    maker: async_sessionmaker[AsyncSession] = app.state.sessionmaker
    return maker


async def _reminders(session: AsyncSession) -> list[tuple[str, int]]:
    """(reference, minutes before) of every reminder notification, sorted."""
    rows = await session.execute(
        select(Appointment.reference, Notification.data)
        .join(Notification, Notification.data["appointment_id"].astext == Appointment.id.cast(String))
        .where(Notification.kind == "reminder")
    )
    return sorted((reference, data["minutes_before"]) for reference, data in rows)


async def _appointments(session: AsyncSession) -> dict[str, Appointment]:
    org = await make_org(session, timezone="UTC")
    service = await make_service(session, organization_id=org.id)
    made = {}
    cases = {
        # name: (starts in, booked how long before the start, status)
        "in_23h": (timedelta(hours=23), timedelta(days=3), Status.booked),
        "in_30min": (timedelta(minutes=30), timedelta(days=3), Status.booked),
        "in_2d": (timedelta(days=2), timedelta(days=3), Status.booked),
        "booked_late": (timedelta(hours=20), timedelta(hours=2), Status.booked),
        "cancelled": (timedelta(hours=23), timedelta(days=3), Status.cancelled),
        "started": (timedelta(minutes=-10), timedelta(days=3), Status.booked),
    }
    for name, (starts_in, lead, status) in cases.items():
        citizen = await make_user(session)
        starts = NOW + starts_in
        made[name] = await make_appointment(
            session,
            service=service,
            citizen_id=citizen.id,
            starts_at=starts,
            created_at=starts - lead,
            timeline=[(status, NOW - timedelta(hours=1))] if status != Status.booked else [],
        )
        made[name].reference = name.upper()
    await session.commit()
    return made


async def test_due_reminders_go_out_once_each_the_most_urgent_only(
    session: AsyncSession, settings: Settings, app: FastAPI
) -> None:
    await _appointments(session)
    async with _sessionmaker(app)() as worker, worker.begin():
        assert await reminders.send_due_reminders(worker, settings=settings, now=NOW) == 2
    # 24 h ahead: the one starting in 23 h; 1 h ahead: the one in 30 min (not also its 24 h one).
    # Not: in two days, booked only 2 hours ahead of its start (booked after its 24 h point and
    # its 1 h point not reached), cancelled, already started.
    assert await _reminders(session) == [("IN_23H", 1440), ("IN_30MIN", 60)]
    async with _sessionmaker(app)() as worker, worker.begin():
        assert await reminders.send_due_reminders(worker, settings=settings, now=NOW + timedelta(minutes=5)) == 0
    # Later, "booked_late" reaches its 1 h point, then "in_23h" gets its 1 h reminder as well.
    for hours, due in ((19, 1), (22, 1), (22, 0)):
        async with _sessionmaker(app)() as worker, worker.begin():
            later = NOW + timedelta(hours=hours, minutes=1)
            assert await reminders.send_due_reminders(worker, settings=settings, now=later) == due
    assert await _reminders(session) == [("BOOKED_LATE", 60), ("IN_23H", 60), ("IN_23H", 1440), ("IN_30MIN", 60)]
    mails = (await session.scalars(select(OutboxEmail).order_by(OutboxEmail.created_at))).all()
    assert len(mails) == 4
    assert all(m.subject.startswith("Reminder: ") for m in mails)


async def test_a_rescheduled_appointment_is_reminded_again(
    session: AsyncSession, settings: Settings, app: FastAPI
) -> None:
    made = await _appointments(session)
    async with _sessionmaker(app)() as worker, worker.begin():
        await reminders.send_due_reminders(worker, settings=settings, now=NOW)
    moved = await session.get(Appointment, made["in_23h"].id)
    assert moved is not None
    moved.starts_at += timedelta(minutes=30)
    moved.ends_at += timedelta(minutes=30)
    await session.commit()
    async with _sessionmaker(app)() as worker, worker.begin():
        assert await reminders.send_due_reminders(worker, settings=settings, now=NOW + timedelta(minutes=1)) == 1
    keys = (await session.execute(select(SentReminder.starts_at).where(SentReminder.appointment_id == moved.id))).all()
    assert len(keys) == 2


async def test_two_concurrent_passes_send_each_reminder_at_most_once(
    session: AsyncSession, settings: Settings, app: FastAPI, engine: Any
) -> None:
    await _appointments(session)
    maker = _sessionmaker(app)
    async with maker() as first, maker() as second:
        # The first pass claims and holds its transaction open; the second runs meanwhile and
        # must wait on the claims, then skip them.
        claimed_first = await reminders.send_due_reminders(first, settings=settings, now=NOW)
        second_pass = asyncio.create_task(reminders.send_due_reminders(second, settings=settings, now=NOW))
        async with engine.connect() as probe:
            for _ in range(200):
                waiting = await probe.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE wait_event_type = 'Lock' AND datname = current_database()"
                    )
                )
                await probe.commit()  # pg_stat_activity is a snapshot per transaction
                if waiting:
                    break
                await asyncio.sleep(0.02)
        assert waiting, "the second pass should be blocked on the first one's claims"
        assert not second_pass.done()
        await first.commit()
        claimed_second = await asyncio.wait_for(second_pass, timeout=10)
        await second.commit()
    assert (claimed_first, claimed_second) == (2, 0)
    assert await _reminders(session) == [("IN_23H", 1440), ("IN_30MIN", 60)]


async def test_rolled_back_pass_claims_nothing(session: AsyncSession, settings: Settings, app: FastAPI) -> None:
    await _appointments(session)
    async with _sessionmaker(app)() as worker:
        assert await reminders.send_due_reminders(worker, settings=settings, now=NOW) == 2
        await worker.rollback()
    async with _sessionmaker(app)() as worker, worker.begin():
        assert await reminders.send_due_reminders(worker, settings=settings, now=NOW) == 2
    assert len(await _reminders(session)) == 2


# --- the outbox ---------------------------------------------------------------------------------


async def _queue_mail(session: AsyncSession, *, n: int = 1) -> User:
    user = await make_user(session, full_name="Mia Mail")
    for i in range(n):
        await notifications_service.notify(
            session, user_id=user.id, kind="appointment_booked", title=f"Booked {i}", body=f"Body {i}", email=True
        )
    await session.commit()
    return user


def _smtp(settings: Settings, stub: SmtpStub, **extra: Any) -> Settings:
    return settings.model_copy(
        update={"smtp_host": "127.0.0.1", "smtp_port": stub.port, "smtp_security": "none", "smtp_timeout_seconds": 5}
        | extra
    )


async def test_outbox_sends_over_smtp_and_marks_sent(session: AsyncSession, settings: Settings, app: FastAPI) -> None:
    user = await _queue_mail(session, n=2)
    async with SmtpStub() as stub:
        assert await workers.deliver_outbox_once(_sessionmaker(app), settings=_smtp(settings, stub)) == 2
        assert await workers.deliver_outbox_once(_sessionmaker(app), settings=_smtp(settings, stub)) == 0
    assert len(stub.received) == 2
    assert f"To: {user.email}" in stub.received[0]
    assert "Hello Mia Mail" in stub.received[0]
    mails = (await session.scalars(select(OutboxEmail))).all()
    assert {(m.status, m.attempts, m.last_error) for m in mails} == {(EmailStatus.sent, 1, None)}
    assert all(m.sent_at is not None for m in mails)


async def test_a_batch_goes_over_one_smtp_session_and_each_mail_keeps_its_outcome(
    session: AsyncSession, settings: Settings, app: FastAPI
) -> None:
    await _queue_mail(session, n=3)
    async with SmtpStub(replies=["250 queued", "554 no such mailbox", "451 try later"]) as stub:
        assert await workers.deliver_outbox_once(_sessionmaker(app), settings=_smtp(settings, stub)) == 3
    assert stub.sessions == 1
    assert stub.attempts == 3
    mails = (await session.scalars(select(OutboxEmail))).all()
    assert sorted((m.status, m.attempts, (m.last_error or "")[:3]) for m in mails) == sorted(
        [(EmailStatus.sent, 1, ""), (EmailStatus.failed, 1, "554"), (EmailStatus.pending, 1, "451")]
    )


async def test_two_concurrent_outbox_passes_send_each_mail_once(
    session: AsyncSession, settings: Settings, app: FastAPI
) -> None:
    await _queue_mail(session, n=30)
    async with SmtpStub() as stub:
        config = _smtp(settings, stub)
        passes = [workers.deliver_outbox_once(_sessionmaker(app), settings=config, limit=30) for _ in range(2)]
        assert sum(await asyncio.gather(*passes)) == 30
    assert len(stub.received) == 30
    assert len({next(line for line in mail.splitlines() if line.startswith("Body ")) for mail in stub.received}) == 30
    mails = (await session.scalars(select(OutboxEmail))).all()
    assert {(m.status, m.attempts) for m in mails} == {(EmailStatus.sent, 1)}


async def test_an_outbox_pass_skips_the_mails_another_pass_holds(
    session: AsyncSession, settings: Settings, app: FastAPI
) -> None:
    await _queue_mail(session, n=30)
    async with _sessionmaker(app)() as other_pass:  # holds 10 mails, as a pass does until it commits
        ten = select(OutboxEmail.id).order_by(OutboxEmail.id).limit(10).with_for_update()
        held = set((await other_pass.scalars(ten)).all())
        async with SmtpStub() as stub:
            # Waiting on the held rows (FOR UPDATE without SKIP LOCKED) would time out here.
            deliver = workers.deliver_outbox_once(_sessionmaker(app), settings=_smtp(settings, stub), limit=30)
            assert await asyncio.wait_for(deliver, timeout=5) == 20
        await other_pass.rollback()
    assert len(stub.received) == 20
    mails = (await session.scalars(select(OutboxEmail).execution_options(populate_existing=True))).all()
    assert {(m.status, m.attempts) for m in mails if m.id in held} == {(EmailStatus.pending, 0)}
    assert {(m.status, m.attempts) for m in mails if m.id not in held} == {(EmailStatus.sent, 1)}


async def test_outbox_retries_temporary_failures_with_backoff(
    session: AsyncSession, settings: Settings, app: FastAPI
) -> None:
    await _queue_mail(session)
    async with SmtpStub(replies=["451 try later", "451 try later"]) as stub:
        config = _smtp(settings, stub, outbox_retry_base_seconds=60)
        assert await workers.deliver_outbox_once(_sessionmaker(app), settings=config) == 1
        mail = await session.scalar(select(OutboxEmail))
        assert mail is not None
        assert (mail.status, mail.attempts) == (EmailStatus.pending, 1)
        assert "451" in (mail.last_error or "")
        first_retry = mail.next_attempt_at
        assert first_retry > datetime.now(UTC) + timedelta(seconds=50)
        # Not due yet: nothing is attempted.
        assert await workers.deliver_outbox_once(_sessionmaker(app), settings=config) == 0
        later = first_retry + timedelta(seconds=1)
        assert await workers.deliver_outbox_once(_sessionmaker(app), settings=config, now=later) == 1
        await session.refresh(mail)
        assert mail.attempts == 2
        # The wait doubles after each failure.
        assert mail.next_attempt_at - datetime.now(UTC) > timedelta(seconds=110)
        assert await workers.deliver_outbox_once(_sessionmaker(app), settings=config, now=mail.next_attempt_at) == 1
    await session.refresh(mail)
    assert (mail.status, mail.attempts, mail.last_error) == (EmailStatus.sent, 3, None)
    assert stub.attempts == 3
    assert len(stub.received) == 1


async def test_outbox_records_failure_after_the_last_attempt(
    session: AsyncSession, settings: Settings, app: FastAPI
) -> None:
    await _queue_mail(session)
    async with SmtpStub(replies=["451 busy"] * 10) as stub:
        config = _smtp(settings, stub, outbox_retry_base_seconds=0, outbox_max_attempts=3)
        for _ in range(5):
            await workers.deliver_outbox_once(
                _sessionmaker(app), settings=config, now=datetime.now(UTC) + timedelta(seconds=1)
            )
    mail = await session.scalar(select(OutboxEmail))
    assert mail is not None
    assert (mail.status, mail.attempts) == (EmailStatus.failed, 3)
    assert "451" in (mail.last_error or "")
    assert stub.attempts == 3


async def test_outbox_permanent_refusal_fails_at_once(session: AsyncSession, settings: Settings, app: FastAPI) -> None:
    await _queue_mail(session)
    async with SmtpStub(replies=["554 no such mailbox"]) as stub:
        await workers.deliver_outbox_once(_sessionmaker(app), settings=_smtp(settings, stub))
    mail = await session.scalar(select(OutboxEmail))
    assert mail is not None
    assert (mail.status, mail.attempts) == (EmailStatus.failed, 1)
    assert "554" in (mail.last_error or "")


async def test_unreachable_smtp_server_is_a_recorded_temporary_failure(
    session: AsyncSession, settings: Settings, app: FastAPI
) -> None:
    await _queue_mail(session)
    async with SmtpStub() as stub:
        port = stub.port  # closed when the block ends: nothing listens there any more
    config = settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_security": "none"})
    assert await workers.deliver_outbox_once(_sessionmaker(app), settings=config) == 1
    mail = await session.scalar(select(OutboxEmail))
    assert mail is not None
    assert (mail.status, mail.attempts) == (EmailStatus.pending, 1)
    assert "ConnectionRefusedError" in (mail.last_error or "")


async def test_without_smtp_settings_mail_is_logged(
    session: AsyncSession, settings: Settings, app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    await _queue_mail(session)
    with caplog.at_level(logging.INFO, logger="app.services.notifications.workers"):
        assert await workers.deliver_outbox_once(_sessionmaker(app), settings=settings) == 1
    assert "Hello Mia Mail" in caplog.text
    assert (await session.scalar(select(OutboxEmail.status))) == EmailStatus.sent


async def test_background_service_runs_reminders_and_outbox(
    session: AsyncSession, settings: Settings, app: FastAPI
) -> None:
    org = await make_org(session, timezone="UTC")
    service = await make_service(session, organization_id=org.id)
    citizen = await make_user(session)
    starts = datetime.now(UTC) + timedelta(minutes=30)
    await make_appointment(
        session, service=service, citizen_id=citizen.id, starts_at=starts, created_at=starts - timedelta(days=2)
    )
    await session.commit()
    fake_app = SimpleNamespace(
        state=SimpleNamespace(
            settings=settings.model_copy(
                update={"notification_workers": True, "reminder_poll_seconds": 0.05, "outbox_poll_seconds": 0.05}
            ),
            sessionmaker=app.state.sessionmaker,
        )
    )
    async with workers.notification_workers(fake_app), reminders.reminder_worker(fake_app):  # type: ignore[arg-type]
        for _ in range(200):
            if await session.scalar(select(func.count()).where(OutboxEmail.status == EmailStatus.sent)):
                break
            await asyncio.sleep(0.05)
    assert await session.scalar(select(func.count()).where(Notification.kind == "reminder")) == 1
    assert await session.scalar(select(OutboxEmail.status)) == EmailStatus.sent


async def test_workers_are_off_in_tests_unless_asked(settings: Settings) -> None:
    assert settings.notification_workers_enabled is False
    assert Settings(environment="production").notification_workers_enabled is True  # type: ignore[arg-type]
    assert Settings(reminder_minutes_before=[60, 1440, 60]).reminder_minutes_before == [1440, 60]
