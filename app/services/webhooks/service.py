"""Webhook subscriptions, the events they hear and their deliveries.

A ticket event becomes one `webhook_events` row and one delivery per subscribed webhook, written in
the event's transaction (so a rolled-back change sends nothing); `workers.py` sends them. Targets
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
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.settings import Settings
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


async def publish(
    session: AsyncSession, *, organization_id: uuid.UUID, type_: str, data: dict[str, Any], at: datetime
) -> WebhookEvent | None:
    """Store the event and a delivery for each active webhook that listens to it (none: nothing)."""
    webhook_ids = (
        await session.scalars(
            select(Webhook.id).where(
                Webhook.organization_id == organization_id, Webhook.active.is_(True), Webhook.events.contains([type_])
            )
        )
    ).all()
    if not webhook_ids:
        return None
    event = WebhookEvent(id=uuid.uuid4(), organization_id=organization_id, type=type_, data=data, created_at=at)
    session.add(event)
    await session.flush()
    await session.execute(
        insert(WebhookDelivery),
        [{"id": uuid.uuid4(), "webhook_id": webhook_id, "event_id": event.id} for webhook_id in webhook_ids],
    )
    return event


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


def body_of(event: WebhookEvent) -> dict[str, Any]:
    return {
        "id": str(event.id),
        "type": event.type,
        "created_at": event.created_at.isoformat(),
        "organization_id": str(event.organization_id),
        "data": event.data,
    }


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
