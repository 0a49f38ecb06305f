"""In-app notifications (written in the caller's transaction, pushed live after commit).

Other features call `notify` (or build `stored` into their own statement) from inside their own
unit of work: the notification (and its e-mail) is then stored if and only if the event it
announces is. The texts of an event belong to the feature of the event (appointments'
announcements, documents' review); this feature knows none of them.
"""

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from string import Template
from typing import Any

from sqlalchemy import (
    CTE,
    ColumnElement,
    DateTime,
    Select,
    String,
    Text,
    Uuid,
    bindparam,
    case,
    exists,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import metrics, paging, realtime
from app.services.notifications.errors import NotificationNotFound
from app.services.notifications.models import EmailStatus, EmailTemplate, Notification, OutboxEmail
from app.services.notifications.schemas import NotificationRead
from app.services.users.models import User

APP_NAME = "Queueless"
TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True, slots=True)
class Message:
    kind: str
    title: str
    body: str
    data: dict[str, Any]
    email: bool
    # The folder of the e-mail templates, `<kind>.txt`: the feature of the event owns its texts.
    templates: Path | None = None


# --- writing ------------------------------------------------------------------------------------
# One way to write a notification: `stored`, a Core builder that every writer uses (`notify`, the
# booking's statement through `announced`, chat's send), so the columns, the clipping of the texts
# and the e-mail outbox row are decided here, inside whatever statement and transaction the caller
# runs.

KIND_CHARS = 40
TITLE_CHARS = 200
BODY_CHARS = 2000
SUBJECT_CHARS = 300

_OPTIONAL = ("created_at", "email_subject", "email_body")


def clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, an ellipsis marking the cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def clipped(text: ColumnElement[str], limit: int) -> ColumnElement[str]:
    """`clip` in SQL."""
    return case((func.char_length(text) <= limit, text), else_=func.left(text, limit - 1) + literal("…"))


def stored(rows: Select[Any], *, name: str = "notification") -> tuple[CTE, tuple[CTE, ...]]:
    """CTEs that store a notification for each row of `rows`, and its e-mail when it has one.

    `rows` labels its columns `user_id`, `kind`, `title`, `body` and `data` (JSONB), and may add
    `id` (else one is drawn), `created_at` (else the insert's clock) and `email_subject` and
    `email_body` (the rendered e-mail; NULL for none). The texts are clipped to their columns. An
    e-mail is queued only for an active account, to its address. Returns the notification CTE
    (returning every column of `notifications`) and the others the statement must carry:
    `statement.add_cte(notification, *others)`.
    """
    given = rows.selected_columns
    if "id" not in given:
        rows = rows.add_columns(func.gen_random_uuid().label("id"))
    source = rows.cte(f"{name}_row")
    row = source.c
    values: dict[str, Any] = {
        "id": row.id,
        "user_id": row.user_id,
        "kind": func.left(row.kind, KIND_CHARS),
        "title": clipped(row.title, TITLE_CHARS),
        "body": clipped(row.body, BODY_CHARS),
        "data": row.data,
    }
    if "created_at" in given:
        values["created_at"] = row.created_at
    notification = (
        insert(Notification)
        .from_select(list(values), select(*values.values()))
        .returning(*Notification.__table__.c)
        .cte(name)
    )
    if "email_subject" not in given:
        return notification, ()
    # Every column spelled out: a Python-side default would be evaluated once, when compiled.
    mail = insert(OutboxEmail).from_select(
        ["id", "notification_id", "to_address", "subject", "body", "status", "attempts"],
        select(
            func.gen_random_uuid(),
            notification.c.id,
            User.email,
            clipped(row.email_subject, SUBJECT_CHARS),
            row.email_body,
            literal(EmailStatus.pending.value),
            literal(0),
        )
        .select_from(notification)
        .join(source, source.c.id == notification.c.id)
        .join(User, User.id == notification.c.user_id)
        .where(row.email_subject.is_not(None), User.is_active.is_(True)),
    )
    return notification, (mail.cte(f"{name}_mail"),)


def _parameter_row(prefix: str, *, stamped: bool) -> Select[Any]:
    """A notification given as parameters (`{prefix}user_id`, `{prefix}kind`, ..., and its e-mail's
    `email_subject` and `email_body`); `stamped`: with its id and time too, chosen by the caller."""
    columns: dict[str, Any] = {"user_id": Uuid, "kind": String, "title": String, "body": String, "data": JSONB}
    if stamped:
        columns = {"id": Uuid, **columns, "created_at": DateTime(timezone=True)}
    return select(
        *(bindparam(prefix + name, type_=sql_type).label(name) for name, sql_type in columns.items()),
        bindparam("email_subject", type_=String).label("email_subject"),
        bindparam("email_body", type_=Text).label("email_body"),
    )


def _notify_statement() -> Select[Any]:
    rows = _parameter_row("", stamped=False)
    notification, others = stored(rows)
    return select(notification).add_cte(*others)


_NOTIFY = _notify_statement()


async def notify(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    kind: str,
    title: str,
    body: str,
    data: dict[str, Any] | None = None,
    email: bool = False,
    templates: Path | None = None,
    organization_id: uuid.UUID | None = None,
    email_values: dict[str, str] | None = None,
) -> Notification:
    """Store a notification for `user_id` in the caller's transaction, queue its e-mail when
    `email` is true (and the account is active; its text from `templates`, or from the
    organization's own template for the kind when `organization_id` names one that wrote it;
    `email_values` adds placeholders), and push it to the user's open sockets once the
    transaction commits. Returns the stored row (not attached to the session)."""
    await session.flush()  # the caller's pending changes go first, as with an ORM insert
    data = data or {}
    subject = text = None
    if email:
        user = await session.get(User, user_id)
        if user is not None and user.is_active:
            subject, text = render_email(
                kind,
                full_name=user.full_name,
                title=clip(title, TITLE_CHARS),
                body=clip(body, BODY_CHARS),
                data=data,
                templates=templates,
                values=email_values,
                template=await organization_template(session, organization_id=organization_id, key=kind),
            )
    row = (
        await session.execute(
            _NOTIFY,
            {
                "user_id": user_id,
                "kind": kind,
                "title": title,
                "body": body,
                "data": data,
                "email_subject": subject,
                "email_body": text,
            },
        )
    ).one()
    notification = Notification(**row._mapping)
    frame = {
        "type": "notification",
        "notification": NotificationRead.model_validate(notification).model_dump(mode="json"),
    }
    await realtime.send_to_users(session, user_ids=[user_id], frame=frame)
    return notification


@dataclass(frozen=True, slots=True)
class Recipient:
    user_id: uuid.UUID
    full_name: str


def announced(statement: Select[Any], *, after: CTE) -> Select[Any]:
    """`statement`, extended to store a notification (with its e-mail when there is one) and send
    it live, in the same round trip, if and only if the CTE `after` has a row: the event and its
    announcement are stored together, by one statement. Its parameters: `announcement_values`.

    The statement's rows each send the live frame, so `statement` should read one row of `after`.
    """
    rows = _parameter_row("notification_", stamped=True).where(exists(after.select()))
    notification, others = stored(rows)
    live = func.pg_notify(realtime.CHANNEL, bindparam("live_payload", type_=String)).label("announced")
    return statement.add_cte(notification, *others).add_columns(live)


def announcement_values(message: Message, *, recipient: Recipient) -> dict[str, Any]:
    """The parameters of an `announced` statement that tells `recipient` the `message`.

    The notification's time is taken here (not by PostgreSQL) so that its live frame, built here,
    carries it.
    """
    notification = NotificationRead(
        id=uuid.uuid4(),
        kind=message.kind[:KIND_CHARS],
        title=clip(message.title, TITLE_CHARS),
        body=clip(message.body, BODY_CHARS),
        data=message.data,
        read_at=None,
        created_at=datetime.now(UTC),
    )
    subject, text = (
        render_email(
            message.kind,
            full_name=recipient.full_name,
            title=notification.title,
            body=notification.body,
            data=message.data,
            templates=message.templates,
        )
        if message.email
        else (None, None)
    )
    frame = {"type": "notification", "notification": notification.model_dump(mode="json")}
    return {
        "notification_id": notification.id,
        "notification_user_id": recipient.user_id,
        "notification_kind": notification.kind,
        "notification_title": notification.title,
        "notification_body": notification.body,
        "notification_data": json.dumps(message.data, separators=(",", ":")),
        "notification_created_at": notification.created_at,
        "email_subject": subject,
        "email_body": text,
        "live_payload": realtime.payload_for(recipient.user_id, frame),
    }


@lru_cache(maxsize=64)
def default_template(kind: str, templates: Path | None = None) -> tuple[str, str]:
    """The (subject, body) of `<templates>/<kind>.txt` (this feature's folder by default), or of
    this feature's `default.txt` when there is none."""
    path = (templates or TEMPLATES) / f"{kind}.txt"
    if not path.is_file() or not kind.replace("_", "").isalnum():
        path = TEMPLATES / "default.txt"
    first, _, rest = path.read_text(encoding="utf-8").partition("\n")
    return first.removeprefix("Subject:").strip(), rest.lstrip("\n")


async def organization_template(
    session: AsyncSession, *, organization_id: uuid.UUID | None, key: str
) -> tuple[str, str] | None:
    """The organization's own (subject, body) for `key`, if it wrote one."""
    if organization_id is None:
        return None
    row = await session.get(EmailTemplate, (organization_id, key))
    return (row.subject, row.body) if row is not None else None


def render_template(template: tuple[str, str], values: dict[str, str]) -> tuple[str, str]:
    """(subject, body) with `values` put in; the subject is one line of at most 300 characters.
    A ticket's mail names `[#reference]` in its subject, whatever the template says, so that
    replies thread."""
    subject_template, body_template = template
    subject = " ".join(Template(subject_template).safe_substitute(values).split())
    reference = values.get("ticket_reference")
    if reference and f"[#{reference}]" not in subject:
        subject = f"{subject} [#{reference}]"
    return clip(subject, 300), Template(body_template).safe_substitute(values)


def render_email(
    kind: str,
    *,
    full_name: str,
    title: str,
    body: str,
    data: dict[str, Any],
    templates: Path | None = None,
    values: dict[str, str] | None = None,
    template: tuple[str, str] | None = None,
) -> tuple[str, str]:
    """The subject and body of the e-mail for a notification, from `template` (an organization's)
    or `<templates>/<kind>.txt` (this feature's `default.txt` when there is none)."""
    merged: dict[str, str] = {k: str(v) for k, v in data.items() if isinstance(v, str | int | float)}
    merged |= {"full_name": full_name, "title": title, "body": body, "app_name": APP_NAME}
    merged |= values or {}
    return render_template(template or default_template(kind, templates), merged)


# --- reading ------------------------------------------------------------------------------------


async def get_all(
    session: AsyncSession, *, user: User, unread: bool | None, offset: int, limit: int
) -> tuple[Sequence[Notification], int]:
    query = select(Notification).where(Notification.user_id == user.id)
    if unread is True:
        query = query.where(Notification.read_at.is_(None))
    elif unread is False:
        query = query.where(Notification.read_at.is_not(None))
    order = [Notification.created_at.desc(), Notification.id.desc()]
    return await paging.page_of(session, query, order_by=order, offset=offset, limit=limit)


async def count_unread(session: AsyncSession, *, user: User) -> int:
    count = await session.scalar(
        select(func.count()).where(Notification.user_id == user.id, Notification.read_at.is_(None))
    )
    return count or 0


async def mark_read(session: AsyncSession, *, user: User, notification_id: uuid.UUID) -> None:
    """Idempotent: reading a read notification keeps its first `read_at`."""
    found = await session.scalar(
        select(Notification.id).where(Notification.id == notification_id, Notification.user_id == user.id)
    )
    if found is None:
        raise NotificationNotFound()
    await session.execute(
        update(Notification)
        .where(Notification.id == notification_id, Notification.read_at.is_(None))
        .values(read_at=func.now())
    )


async def mark_all_read(session: AsyncSession, *, user: User) -> int:
    result = await session.execute(
        update(Notification)
        .where(Notification.user_id == user.id, Notification.read_at.is_(None))
        .values(read_at=func.now())
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def queue_email(
    session: AsyncSession,
    *,
    to_address: str,
    kind: str,
    full_name: str = "",
    title: str = "",
    body: str = "",
    data: dict[str, Any] | None = None,
    values: dict[str, str] | None = None,
    templates: Path | None = None,
    organization_id: uuid.UUID | None = None,
) -> None:
    """An e-mail without an in-app notification (account mails: reset links, verification links,
    security changes; an automation rule's `send_email`), rendered now from the organization's own
    template for `kind` when `organization_id` names one that wrote it, else from
    `<templates>/<kind>.txt`, and sent by the outbox worker once the caller's transaction commits."""
    template = await organization_template(session, organization_id=organization_id, key=kind)
    subject, text = render_email(
        kind,
        full_name=full_name,
        title=title,
        body=body,
        data=data or {},
        values=values,
        templates=templates,
        template=template,
    )
    session.add(OutboxEmail(notification_id=None, to_address=to_address, subject=subject, body=text))
    await session.flush()


async def refresh_outbox_metric(session: AsyncSession) -> None:
    """`queueless_outbox_emails{state}` from the outbox itself, at each metrics scrape."""
    counts = dict((await session.execute(select(OutboxEmail.status, func.count()).group_by(OutboxEmail.status))).all())
    for state in EmailStatus:
        metrics.OUTBOX_EMAILS.labels(state.value).set(counts.get(state.value, 0))
