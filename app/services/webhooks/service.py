"""Webhook subscriptions, the events they hear and their deliveries.

A ticket or appointment event becomes one `webhook_events` row and one delivery per subscribed
webhook, written in the event's transaction (so a rolled-back change sends nothing; a booking's
in its very statement); `workers.py` sends them. Targets
must be public: private, link-local and reserved addresses are refused (loopback too in
production), checked on the resolved addresses, at subscription and again before each send in
production (a name may be re-pointed later).
"""

import ipaddress
import secrets
import socket
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import anyio.to_thread
from sqlalchemy import CTE, ColumnElement, DateTime, Select, Uuid, and_, cast, exists, func, insert, literal, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.settings import Settings
from app.services.appointments import events as appointment_events
from app.services.organizations import service as organizations_service
from app.services.organizations.models import MemberRole, Organization
from app.services.tickets import events as ticket_events
from app.services.tickets.events import TicketHappened
from app.services.tickets.schemas import TicketRead
from app.services.users.models import User
from app.services.webhooks.errors import UrlNotAllowed, WebhookDeliveryNotFound, WebhookNotFound
from app.services.webhooks.models import DeliveryStatus, Webhook, WebhookDelivery, WebhookEvent
from app.services.webhooks.schemas import AttemptRead, DeliveryRead, WebhookCreate, WebhookUpdate

TYPE_OF = {
    ticket_events.CREATED: "ticket.created",
    ticket_events.STATUS_CHANGED: "ticket.status_changed",
    ticket_events.ASSIGNED: "ticket.assigned",
    ticket_events.MESSAGE: "ticket.message",
    ticket_events.SLA_BREACHED: "ticket.sla_breached",
}

APPOINTMENT_TYPE_OF = {
    appointment_events.BOOKED: "appointment.booked",
    appointment_events.CANCELLED: "appointment.cancelled",
}


# --- targets ------------------------------------------------------------------------------------


def _refused(address: str, *, production: bool) -> bool:
    ip = ipaddress.ip_address(address)
    if ip.is_loopback:
        return production
    return not ip.is_global or ip.is_multicast


async def resolve(host: str) -> list[str]:
    infos = await anyio.to_thread.run_sync(lambda: socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP))
    return sorted({str(info[4][0]) for info in infos})


async def check_url(url: str, *, settings: Settings) -> None:
    """Refuse targets that are not public http(s) addresses (by every address the name resolves
    to). Outside production loopback is allowed (local development, tests), and a name that does
    not resolve is let through (it will fail at delivery)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        raise UrlNotAllowed("A webhook URL is http(s)://host[:port]/path, without credentials.")
    host = parts.hostname
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        try:
            addresses = await resolve(host)
        except OSError:
            if settings.is_production:
                raise UrlNotAllowed(f"{host} does not resolve.") from None
            return
    refused = [address for address in addresses if _refused(address, production=settings.is_production)]
    if refused:
        raise UrlNotAllowed(f"{host} is a private, loopback or reserved address ({', '.join(refused)}).")


# --- subscriptions ------------------------------------------------------------------------------


async def create(
    session: AsyncSession, *, organization: Organization, data: WebhookCreate, settings: Settings
) -> Webhook:
    await check_url(data.url, settings=settings)
    webhook = Webhook(
        organization_id=organization.id,
        url=data.url,
        events=list(dict.fromkeys(data.events)),
        secret="whsec_" + secrets.token_urlsafe(32),
    )
    session.add(webhook)
    await session.flush()
    await session.refresh(webhook)
    return webhook


async def get_all(
    session: AsyncSession, *, organization: Organization, offset: int, limit: int
) -> tuple[Sequence[Webhook], int]:
    query = select(Webhook).where(Webhook.organization_id == organization.id)
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.scalars(query.order_by(Webhook.created_at, Webhook.id).offset(offset).limit(limit))
    return rows.all(), total


async def get_managed(session: AsyncSession, *, user: User, webhook_id: uuid.UUID) -> Webhook:
    """The webhook, for its organization's owners and managers; anyone else: 404."""
    webhook = await session.get(Webhook, webhook_id)
    if webhook is None:
        raise WebhookNotFound()
    await organizations_service.require_staff(
        session, user=user, organization_id=webhook.organization_id, minimum=MemberRole.manager
    )
    return webhook


async def update(session: AsyncSession, *, webhook: Webhook, data: WebhookUpdate, settings: Settings) -> Webhook:
    if data.url is not None:
        await check_url(data.url, settings=settings)
    for field, value in data.model_dump(exclude_unset=True).items():
        setattr(webhook, field, list(dict.fromkeys(value)) if field == "events" else value)
    await session.flush()
    return webhook


async def delete(session: AsyncSession, *, webhook: Webhook) -> None:
    await session.delete(webhook)
    await session.flush()


# --- events -------------------------------------------------------------------------------------


def _listening(organization_id: Any, type_: str) -> ColumnElement[bool]:
    return and_(Webhook.organization_id == organization_id, Webhook.active.is_(True), Webhook.events.contains([type_]))


def _outbox(*, type_: str, happened: Select[Any]) -> tuple[CTE, CTE]:
    """The CTEs that store an event for each row of `happened` (`organization_id`, `data`, `at`)
    that an active webhook of its organization listens to, and a delivery per such webhook: the
    event's (returning its `id`) and the deliveries'."""
    rows = happened.subquery("happened")
    event = (
        insert(WebhookEvent)
        .from_select(
            ["id", "organization_id", "type", "data", "created_at"],
            select(
                func.gen_random_uuid(), rows.c.organization_id, literal(type_), cast(rows.c.data, JSONB), rows.c.at
            ).where(exists().where(_listening(rows.c.organization_id, type_))),
        )
        .returning(WebhookEvent.id, WebhookEvent.organization_id)
        .cte("webhook_event")
    )
    deliveries = insert(WebhookDelivery).from_select(
        ["id", "webhook_id", "event_id"],
        select(func.gen_random_uuid(), Webhook.id, event.c.id).join(event, _listening(event.c.organization_id, type_)),
    )
    return event, deliveries.cte("webhook_deliveries")


def published(statement: Select[Any], *, type_: str, happened: Select[Any]) -> Select[Any]:
    """`statement`, extended to publish the events `happened` describes (see `_outbox`) in the
    same round trip. Without a listening webhook nothing is written, and `data` is only built for
    a stored event, so an organization without webhooks pays one index probe."""
    return statement.add_cte(*_outbox(type_=type_, happened=happened))


async def publish(
    session: AsyncSession, *, organization_id: uuid.UUID, type_: str, data: dict[str, Any], at: datetime
) -> uuid.UUID | None:
    """Store the event and a delivery for each active webhook that listens to it, in one round
    trip; returns the event's id (None: no webhook listens, nothing stored)."""
    happened = select(
        literal(organization_id, Uuid).label("organization_id"),
        literal(data, JSONB).label("data"),
        literal(at, DateTime(timezone=True)).label("at"),
    )
    event, deliveries = _outbox(type_=type_, happened=happened)
    return await session.scalar(select(event.c.id).add_cte(deliveries))


async def on_ticket_event(session: AsyncSession, event: TicketHappened) -> None:
    """The listener the tickets service calls (internal notes are never emitted)."""
    type_ = TYPE_OF.get(event.type)
    if type_ is None:
        return
    await session.flush()
    data: dict[str, Any] = {"ticket": TicketRead.model_validate(event.ticket).model_dump(mode="json")}
    data |= {key: value for key, value in event.data.items() if key != "from_requester"}
    if event.rule_id is not None:
        data["rule_id"] = str(event.rule_id)
    await publish(session, organization_id=event.ticket.organization_id, type_=type_, data=data, at=event.at)


def _listens_to_appointments(organization_id: Any, kind: str) -> ColumnElement[bool]:
    return exists().where(_listening(organization_id, APPOINTMENT_TYPE_OF[kind]))


def _publish_appointment_event(statement: Select[Any], *, kind: str, happened: Select[Any]) -> Select[Any]:
    return published(statement, type_=APPOINTMENT_TYPE_OF[kind], happened=happened)


# What the appointments feature builds into its booking and cancellation statements.
APPOINTMENT_PUBLISHER = appointment_events.Publisher(
    listening=_listens_to_appointments, publish=_publish_appointment_event
)


# --- deliveries ---------------------------------------------------------------------------------


def _read(delivery: WebhookDelivery, event_type: str) -> DeliveryRead:
    return DeliveryRead(
        id=delivery.id,
        event_id=delivery.event_id,
        event_type=event_type,
        status=DeliveryStatus(delivery.status),
        attempts=[AttemptRead.model_validate(attempt) for attempt in delivery.attempts],
        next_attempt_at=delivery.next_attempt_at if delivery.status == DeliveryStatus.pending else None,
        created_at=delivery.created_at,
    )


async def get_deliveries(
    session: AsyncSession, *, webhook: Webhook, offset: int, limit: int
) -> tuple[list[DeliveryRead], int]:
    """Newest first, each with every attempt."""
    query = (
        select(WebhookDelivery, WebhookEvent.type)
        .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.webhook_id == webhook.id)
    )
    total = await session.scalar(
        select(func.count()).select_from(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook.id)
    )
    rows = await session.execute(
        query.order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id).offset(offset).limit(limit)
    )
    return [_read(delivery, type_) for delivery, type_ in rows], total or 0


async def redeliver(session: AsyncSession, *, webhook: Webhook, delivery_id: uuid.UUID) -> DeliveryRead:
    """A new delivery of the same event, due now (the old one keeps its history)."""
    row = (
        await session.execute(
            select(WebhookDelivery.event_id, WebhookEvent.type)
            .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
            .where(WebhookDelivery.id == delivery_id, WebhookDelivery.webhook_id == webhook.id)
        )
    ).one_or_none()
    if row is None:
        raise WebhookDeliveryNotFound()
    delivery = WebhookDelivery(webhook_id=webhook.id, event_id=row.event_id)
    session.add(delivery)
    await session.flush()
    await session.refresh(delivery)
    return _read(delivery, row.type)
