"""Background work of the notifications feature: the e-mail outbox.

Safe with several server processes on one database: an outbox e-mail is claimed with `FOR UPDATE
SKIP LOCKED`, and its `next_attempt_at` is moved forward by a lease before the SMTP conversation
(which runs outside any transaction, in a thread). A process that dies mid-send leaves the mail to
be retried after the lease: e-mail is delivered at least once, never lost.

`deliver_outbox_once` runs one pass; the tests call it directly.
"""

import asyncio
import contextlib
import logging
import smtplib
import ssl
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate
from functools import partial
from typing import Any

import anyio.to_thread
from fastapi import FastAPI
from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.database import unit_of_work
from app.core.periodic import every
from app.core.settings import Settings
from app.services.notifications.models import EmailStatus, OutboxEmail

logger = logging.getLogger(__name__)

OUTBOX_BATCH = 20
MAX_BACKOFF = timedelta(hours=6)


# --- the e-mail outbox --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Mail:
    id: uuid.UUID
    to_address: str
    subject: str
    body: str
    attempts: int


@dataclass(frozen=True, slots=True)
class _Outcome:
    mail: _Mail
    error: str | None = None
    permanent: bool = False


def _message(settings: Settings, mail: _Mail) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = mail.to_address
    message["Subject"] = mail.subject
    message["Date"] = formatdate(usegmt=True)
    # Stable per outbox row: a mail retried after a lost reply can be recognised as a duplicate.
    message["Message-ID"] = f"<{mail.id.hex}@queueless.invalid>"
    message.set_content(mail.body)
    return message


def _connect(settings: Settings, host: str) -> smtplib.SMTP:
    """An open, authenticated SMTP session."""
    timeout = settings.smtp_timeout_seconds
    smtp: smtplib.SMTP
    if settings.smtp_security == "ssl":
        smtp = smtplib.SMTP_SSL(host, settings.smtp_port, timeout=timeout, context=ssl.create_default_context())
    else:
        smtp = smtplib.SMTP(host, settings.smtp_port, timeout=timeout)
    try:
        if settings.smtp_security == "starttls":
            smtp.starttls(context=ssl.create_default_context())
        if settings.smtp_username:
            smtp.login(settings.smtp_username, settings.smtp_password or "")
    except BaseException:
        smtp.close()
        raise
    return smtp


def _deliver(smtp: smtplib.SMTP, settings: Settings, mail: _Mail) -> _Outcome:
    """One mail on an open session. A refusal is this mail's outcome (5xx for good, 4xx for a
    retry); a broken session raises, for the batch to handle."""
    try:
        message = _message(settings, mail)
    except Exception as exc:  # a mail that cannot even be built must not block the outbox forever
        logger.exception("e-mail %s could not be built", mail.id)
        return _Outcome(mail, f"{type(exc).__name__}: {exc}", permanent=True)
    try:
        smtp.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        return _Outcome(mail, f"recipient refused: {exc.recipients}", permanent=all(code >= 500 for code in codes))
    except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
        return _Outcome(mail, f"{exc.smtp_code} {exc.smtp_error!r}", permanent=exc.smtp_code >= 500)
    except smtplib.SMTPServerDisconnected:
        raise
    except smtplib.SMTPException as exc:  # e.g. an address the server cannot take: this mail only
        return _Outcome(mail, f"{type(exc).__name__}: {exc}")
    return _Outcome(mail)


def send_emails(settings: Settings, mails: Sequence[_Mail]) -> list[_Outcome]:
    """Deliver `mails` over one SMTP session (blocking: run it in a worker thread), one outcome
    each. If the session cannot be opened or breaks, the mails not yet delivered get that error
    and are retried later. Without SMTP_HOST the mails are written to the log instead."""
    host = settings.smtp_host
    if not host:
        if logger.isEnabledFor(logging.INFO):  # building the text is most of the work
            for mail in mails:
                logger.info("e-mail (no SMTP_HOST set, not sent)\n%s", _message(settings, mail).as_string())
        return [_Outcome(mail) for mail in mails]
    outcomes: list[_Outcome] = []
    try:
        with _connect(settings, host) as smtp:
            for mail in mails:
                outcomes.append(_deliver(smtp, settings, mail))
    except (smtplib.SMTPException, OSError) as exc:
        if len(outcomes) < len(mails):
            error = f"{type(exc).__name__}: {exc}"
            outcomes.extend(_Outcome(mail, error) for mail in mails[len(outcomes) :])
    return outcomes


def backoff(settings: Settings, attempts: int) -> timedelta:
    """Wait before attempt `attempts + 1`: the base, doubled after each failure, at most 6 hours."""
    seconds = settings.outbox_retry_base_seconds * 2 ** max(0, attempts - 1)
    return min(timedelta(seconds=seconds), MAX_BACKOFF)


def _claim_statement() -> Any:
    """Take up to `limit` due mails and move each one's `next_attempt_at` to `lease_until`, in one
    statement: the CTE's `FOR UPDATE SKIP LOCKED` leaves mails another pass holds to that pass."""
    due = (
        select(OutboxEmail.id)
        .where(OutboxEmail.status == EmailStatus.pending, OutboxEmail.next_attempt_at <= bindparam("now"))
        .order_by(OutboxEmail.next_attempt_at)
        .limit(bindparam("limit"))
        .with_for_update(skip_locked=True)
        .cte("due")
    )
    return (
        update(OutboxEmail)
        .where(OutboxEmail.id == due.c.id)
        .values(attempts=OutboxEmail.attempts + 1, next_attempt_at=bindparam("lease_until"))
        .returning(OutboxEmail.id, OutboxEmail.to_address, OutboxEmail.subject, OutboxEmail.body, OutboxEmail.attempts)
        .execution_options(synchronize_session=False)
    )


_CLAIM = _claim_statement()


async def _claim_mails(
    sessionmaker: async_sessionmaker[AsyncSession], *, settings: Settings, now: datetime, limit: int
) -> list[_Mail]:
    # Long enough for a whole batch on a slow server: a mail is only offered again after it.
    lease = timedelta(seconds=max(60.0, settings.smtp_timeout_seconds * (limit + 5)))
    async with unit_of_work(sessionmaker) as session:
        rows = await session.execute(_CLAIM, {"now": now, "limit": limit, "lease_until": now + lease})
        return [_Mail(*row) for row in rows]


async def _record(
    sessionmaker: async_sessionmaker[AsyncSession], *, settings: Settings, outcomes: Sequence[_Outcome]
) -> None:
    """Write a batch's outcomes in one transaction: the sent in one statement, each failure alone."""
    now = datetime.now(UTC)
    sent = [outcome.mail.id for outcome in outcomes if outcome.error is None]
    async with unit_of_work(sessionmaker) as session:
        if sent:
            await session.execute(
                update(OutboxEmail)
                .where(OutboxEmail.id.in_(sent))
                .values(status=EmailStatus.sent, sent_at=now, last_error=None)
            )
        for outcome in outcomes:
            mail, error = outcome.mail, outcome.error
            if error is None:
                continue
            values: dict[str, object]
            if outcome.permanent or mail.attempts >= settings.outbox_max_attempts:
                values = {"status": EmailStatus.failed, "last_error": error[:1000]}
                logger.warning("e-mail failed for good", extra={"outbox_id": str(mail.id), "error": error})
            else:
                values = {"next_attempt_at": now + backoff(settings, mail.attempts), "last_error": error[:1000]}
                logger.info("e-mail will be retried", extra={"outbox_id": str(mail.id), "error": error})
            await session.execute(update(OutboxEmail).where(OutboxEmail.id == mail.id).values(**values))


async def deliver_outbox_once(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    settings: Settings,
    now: datetime | None = None,
    limit: int = OUTBOX_BATCH,
) -> int:
    """Send the e-mails due at `now` over one SMTP session; each failure is recorded and retried
    later with backoff, until `OUTBOX_MAX_ATTEMPTS`. Returns how many mails were attempted."""
    mails = await _claim_mails(sessionmaker, settings=settings, now=now or datetime.now(UTC), limit=limit)
    if not mails:
        return 0
    outcomes = await anyio.to_thread.run_sync(partial(send_emails, settings, mails))
    await _record(sessionmaker, settings=settings, outcomes=outcomes)
    return len(mails)


# --- the background service ---------------------------------------------------------------------


@asynccontextmanager
async def notification_workers(app: FastAPI) -> AsyncIterator[None]:
    """The outbox loop of this process (see `create_app`'s `background`)."""
    settings: Settings = app.state.settings
    if not settings.notification_workers_enabled:
        yield
        return
    sessionmaker: async_sessionmaker[AsyncSession] = app.state.sessionmaker
    tasks = [
        asyncio.create_task(
            every(
                "outbox",
                settings.outbox_poll_seconds,
                OUTBOX_BATCH,
                partial(deliver_outbox_once, sessionmaker, settings=settings),
            )
        ),
    ]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
