"""The webhook sender: claims due deliveries, POSTs them with `httpx`, records each attempt.

Safe with several processes: a pass claims deliveries with `FOR UPDATE SKIP LOCKED` and moves
their `next_attempt_at` forward by a lease in the same statement, then sends outside any
transaction. Two passes never take the same attempt; a process that dies mid-send leaves the
delivery to be tried again after the lease (at least once, never lost). Receivers dedupe by the
event `id`.

Schedule: a 2xx within the timeout (`WEBHOOK_TIMEOUT_SECONDS`, 10 s) succeeds; otherwise the
next attempt comes 10 s, 1 min, 5 min, 30 min, 2 h, then 6 h later, and after the seventh attempt
the delivery is `failed`.
"""

import asyncio
import hashlib
import hmac
import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import bindparam, literal, select, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.database import unit_of_work
from app.core.periodic import periodic_service
from app.core.settings import Settings
from app.services.webhooks import service as webhooks_service
from app.services.webhooks.errors import UrlNotAllowed
from app.services.webhooks.models import DeliveryStatus, Webhook, WebhookDelivery, WebhookEvent

logger = logging.getLogger(__name__)

RETRY_AFTER = (
    timedelta(seconds=10),
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=6),
)
BATCH = 50
SIGNATURE_HEADER = "X-Queueless-Signature"


def sign(secret: str, body: bytes, *, timestamp: int) -> str:
    """`t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


@dataclass(frozen=True, slots=True)
class _Claimed:
    id: uuid.UUID
    attempt: int
    url: str
    secret: str
    body: bytes


def _claim_statement() -> Any:
    due = (
        select(WebhookDelivery.id)
        .where(WebhookDelivery.status == DeliveryStatus.pending, WebhookDelivery.next_attempt_at <= bindparam("now"))
        .order_by(WebhookDelivery.next_attempt_at)
        .limit(bindparam("limit"))
        .with_for_update(skip_locked=True)
        .cte("due")
    )
    return (
        update(WebhookDelivery)
        .where(WebhookDelivery.id == due.c.id)
        .values(attempt_count=WebhookDelivery.attempt_count + 1, next_attempt_at=bindparam("lease_until"))
        .returning(
            WebhookDelivery.id, WebhookDelivery.attempt_count, WebhookDelivery.webhook_id, WebhookDelivery.event_id
        )
        .execution_options(synchronize_session=False)
    )


_CLAIM = _claim_statement()


async def _claim(
    sessionmaker: async_sessionmaker[AsyncSession], *, settings: Settings, now: datetime, limit: int
) -> list[_Claimed]:
    lease = timedelta(seconds=settings.webhook_timeout_seconds * 3 + 30)
    async with unit_of_work(sessionmaker) as session:
        rows = (await session.execute(_CLAIM, {"now": now, "limit": limit, "lease_until": now + lease})).all()
        if not rows:
            return []
        webhooks = {
            row.id: row
            for row in await session.scalars(select(Webhook).where(Webhook.id.in_({r.webhook_id for r in rows})))
        }
        events = {
            row.id: row
            for row in await session.scalars(
                select(WebhookEvent).where(WebhookEvent.id.in_({r.event_id for r in rows}))
            )
        }
    claimed = []
    for row in rows:
        webhook, event = webhooks[row.webhook_id], events[row.event_id]
        body = json.dumps(webhooks_service.body_of(event), separators=(",", ":"), ensure_ascii=False).encode()
        claimed.append(_Claimed(row.id, row.attempt_count, webhook.url, webhook.secret, body))
    return claimed


async def _send(client: httpx.AsyncClient, settings: Settings, item: _Claimed) -> dict[str, Any]:
    """One attempt: `{"at", "status_code", "error"}`."""
    at = datetime.now(UTC)
    try:
        if settings.is_production:  # the name may point elsewhere since the subscription
            await webhooks_service.check_url(item.url, settings=settings)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Queueless-Webhooks/1",
            SIGNATURE_HEADER: sign(item.secret, item.body, timestamp=int(at.timestamp())),
        }
        response = await asyncio.wait_for(
            client.post(item.url, content=item.body, headers=headers), timeout=settings.webhook_timeout_seconds
        )
    except (TimeoutError, httpx.TimeoutException):
        return {
            "at": at.isoformat(),
            "status_code": None,
            "error": f"timeout after {settings.webhook_timeout_seconds:g} s",
        }
    except UrlNotAllowed as exc:
        return {"at": at.isoformat(), "status_code": None, "error": exc.detail}
    except httpx.HTTPError as exc:
        return {"at": at.isoformat(), "status_code": None, "error": f"{type(exc).__name__}: {exc}"[:500]}
    error = None if response.is_success else f"HTTP {response.status_code}"
    return {"at": at.isoformat(), "status_code": response.status_code, "error": error}


async def _record(
    sessionmaker: async_sessionmaker[AsyncSession], results: Sequence[tuple[_Claimed, dict[str, Any]]], now: datetime
) -> None:
    async with unit_of_work(sessionmaker) as session:
        for item, attempt in results:
            appended = WebhookDelivery.attempts.op("||")(literal([attempt], type_=JSONB))
            values: dict[str, Any] = {"attempts": appended}
            if attempt["error"] is None:
                values["status"] = DeliveryStatus.succeeded
            elif item.attempt > len(RETRY_AFTER):
                values["status"] = DeliveryStatus.failed
            else:
                values["next_attempt_at"] = now + RETRY_AFTER[item.attempt - 1]
            await session.execute(update(WebhookDelivery).where(WebhookDelivery.id == item.id).values(**values))


async def deliver_once(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    settings: Settings,
    now: datetime | None = None,
    limit: int = BATCH,
    transport: httpx.AsyncBaseTransport | None = None,
) -> int:
    """Send the deliveries due at `now`, concurrently; returns how many were attempted."""
    now = now or datetime.now(UTC)
    claimed = await _claim(sessionmaker, settings=settings, now=now, limit=limit)
    if not claimed:
        return 0
    timeout = httpx.Timeout(settings.webhook_timeout_seconds)
    async with httpx.AsyncClient(timeout=timeout, follow_redirects=False, transport=transport) as client:
        attempts = await asyncio.gather(*(_send(client, settings, item) for item in claimed))
    for item, attempt in zip(claimed, attempts, strict=True):
        if attempt["error"]:
            logger.info(
                "webhook attempt failed",
                extra={"delivery_id": str(item.id), "host": urlsplit(item.url).hostname, "error": attempt["error"]},
            )
    # Retries count from when the attempt ended, not from when the pass began.
    await _record(sessionmaker, list(zip(claimed, attempts, strict=True)), max(now, datetime.now(UTC)))
    return len(claimed)


# The webhook sender of this process (on with the notification workers).
webhook_workers = periodic_service(
    "webhook", batch=BATCH, interval=lambda settings: settings.webhook_poll_seconds, run_pass=deliver_once
)
