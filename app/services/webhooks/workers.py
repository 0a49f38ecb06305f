"""The webhook sender: claims due deliveries, POSTs them with `aiohttp`, records each attempt.

aiohttp rather than the httpx the tests use: a delivery cost ~1.1-1.4 ms of CPU through httpx and
~0.3 ms through aiohttp on the bench machine (bench/WEBHOOKS.md), and the sender shares the
API's process.

A pass is three steps whatever its size: one statement claims up to `BATCH` due deliveries and
reads their targets and events, the sends run concurrently (at most `PER_TARGET` connections per
target, over one HTTP client per process whose connections stay open between passes), and one
statement records every attempt.

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
import contextlib
import hashlib
import hmac
import json
import logging
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from sqlalchemy import DateTime, String, Uuid, bindparam, column, func, select, update
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
# Deliveries per pass, and connections at once to one target (host and port), MAX_CONNECTIONS in
# all. The sender shares the API's event loop, where under load every await waits its turn behind
# the requests in flight: a pass costs a few round trips and one HTTP exchange per delivery, and
# takes about (deliveries / PER_TARGET) exchanges one after the other, so a wide pass over enough
# kept-alive connections keeps up with 200 events a second beside a saturated API
# (bench/WEBHOOKS.md). A hanging target holds up only its own deliveries.
BATCH = 200
PER_TARGET = 32
MAX_CONNECTIONS = 100
RESPONSE_READ_BYTES = 64 * 1024
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
    """Take the due deliveries (moving each one's `next_attempt_at` forward by the lease) and
    read what sending them needs, in one statement."""
    due = (
        select(WebhookDelivery.id)
        .where(WebhookDelivery.status == DeliveryStatus.pending, WebhookDelivery.next_attempt_at <= bindparam("now"))
        .order_by(WebhookDelivery.next_attempt_at)
        .limit(bindparam("limit"))
        .with_for_update(skip_locked=True)
        .cte("due")
    )
    claimed = (
        update(WebhookDelivery)
        .where(WebhookDelivery.id == due.c.id)
        .values(attempt_count=WebhookDelivery.attempt_count + 1, next_attempt_at=bindparam("lease_until"))
        .returning(
            WebhookDelivery.id, WebhookDelivery.attempt_count, WebhookDelivery.webhook_id, WebhookDelivery.event_id
        )
        .cte("claimed")
    )
    return (
        select(
            claimed.c.id,
            claimed.c.attempt_count,
            Webhook.url,
            Webhook.secret,
            WebhookEvent.id.label("event_id"),
            WebhookEvent.type,
            WebhookEvent.created_at,
            WebhookEvent.organization_id,
            WebhookEvent.data,
        )
        .join_from(claimed, Webhook, Webhook.id == claimed.c.webhook_id)
        .join(WebhookEvent, WebhookEvent.id == claimed.c.event_id)
    )


def _record_statement() -> Any:
    """Append each attempt to its delivery and set its status (and, for a retry, when), for the
    whole pass in one statement: `results` is a JSON array of `{id, attempt, status, retry_at}`."""
    results = (
        func.jsonb_to_recordset(bindparam("results", type_=JSONB))
        .table_valued(
            column("id", Uuid),
            column("attempt", JSONB),
            column("status", String),
            column("retry_at", DateTime(timezone=True)),
        )
        .render_derived("result", with_types=True)
    )
    return (
        update(WebhookDelivery)
        .where(WebhookDelivery.id == results.c.id)
        .values(
            attempts=WebhookDelivery.attempts.op("||")(func.jsonb_build_array(results.c.attempt)),
            status=results.c.status,
            next_attempt_at=func.coalesce(results.c.retry_at, WebhookDelivery.next_attempt_at),
        )
        .execution_options(synchronize_session=False)
    )


_CLAIM = _claim_statement()
_RECORD = _record_statement()


def _body(row: Any) -> bytes:
    """What every attempt of the event sends: `{"id", "type", "created_at", "organization_id", "data"}`."""
    body = {
        "id": str(row.event_id),
        "type": row.type,
        "created_at": row.created_at.isoformat(),
        "organization_id": str(row.organization_id),
        "data": row.data,
    }
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


async def _claim(
    sessionmaker: async_sessionmaker[AsyncSession], *, settings: Settings, now: datetime, limit: int
) -> list[_Claimed]:
    lease = timedelta(seconds=settings.webhook_timeout_seconds * 3 + 30)
    async with unit_of_work(sessionmaker) as session:
        rows = (await session.execute(_CLAIM, {"now": now, "limit": limit, "lease_until": now + lease})).all()
    return [_Claimed(row.id, row.attempt_count, row.url, row.secret, _body(row)) for row in rows]


async def _send(client: aiohttp.ClientSession, settings: Settings, item: _Claimed) -> dict[str, Any]:
    """One attempt: `{"at", "status_code", "error"}`. The timeout covers the whole attempt, the
    wait for a connection to the target included."""
    at = datetime.now(UTC)
    try:
        if settings.is_production:  # the name may point elsewhere since the subscription
            await webhooks_service.check_url(item.url, settings=settings)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Queueless-Webhooks/1",
            SIGNATURE_HEADER: sign(item.secret, item.body, timestamp=int(at.timestamp())),
        }
        async with client.post(item.url, data=item.body, headers=headers, allow_redirects=False) as response:
            status = response.status
            # A small answer is read so that the connection can serve the next attempt; a large
            # one is left, and the connection closed.
            await response.content.read(RESPONSE_READ_BYTES)
    except TimeoutError:
        return {
            "at": at.isoformat(),
            "status_code": None,
            "error": f"timeout after {settings.webhook_timeout_seconds:g} s",
        }
    except UrlNotAllowed as exc:
        return {"at": at.isoformat(), "status_code": None, "error": exc.detail}
    except (aiohttp.ClientError, ValueError) as exc:
        return {"at": at.isoformat(), "status_code": None, "error": f"{type(exc).__name__}: {exc}"[:500]}
    error = None if 200 <= status < 300 else f"HTTP {status}"
    return {"at": at.isoformat(), "status_code": status, "error": error}


async def _record(
    sessionmaker: async_sessionmaker[AsyncSession], results: Sequence[tuple[_Claimed, dict[str, Any]]], now: datetime
) -> None:
    rows = []
    for item, attempt in results:
        status, retry_at = DeliveryStatus.pending, None
        if attempt["error"] is None:
            status = DeliveryStatus.succeeded
        elif item.attempt > len(RETRY_AFTER):
            status = DeliveryStatus.failed
        else:
            retry_at = (now + RETRY_AFTER[item.attempt - 1]).isoformat()
        rows.append({"id": str(item.id), "attempt": attempt, "status": status, "retry_at": retry_at})
    async with unit_of_work(sessionmaker) as session:
        await session.execute(_RECORD, {"results": rows})


def new_client(settings: Settings) -> aiohttp.ClientSession:
    """The sender's HTTP client (open it on the loop that uses it): `PER_TARGET` connections at
    most per target, kept open for the next pass; no redirects followed; names resolved at each
    connection (no DNS cache, as `check_url` resolves them again before each send)."""
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=settings.webhook_timeout_seconds),
        connector=aiohttp.TCPConnector(limit=MAX_CONNECTIONS, limit_per_host=PER_TARGET, use_dns_cache=False),
        auto_decompress=False,
    )


async def deliver_once(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    settings: Settings,
    now: datetime | None = None,
    limit: int = BATCH,
    client: aiohttp.ClientSession | None = None,
) -> int:
    """Send the deliveries due at `now`, concurrently, with `client` (else a client of this pass
    alone); returns how many were attempted."""
    now = now or datetime.now(UTC)
    claimed = await _claim(sessionmaker, settings=settings, now=now, limit=limit)
    if not claimed:
        return 0
    async with contextlib.AsyncExitStack() as stack:
        if client is None:
            client = await stack.enter_async_context(new_client(settings))
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


@contextlib.asynccontextmanager
async def _client(settings: Settings) -> AsyncIterator[dict[str, Any]]:
    async with new_client(settings) as client:
        yield {"client": client}


# The webhook sender of this process (on with the notification workers), with one HTTP client for
# its whole life.
webhook_workers = periodic_service(
    "webhook",
    batch=BATCH,
    interval=lambda settings: settings.webhook_poll_seconds,
    run_pass=deliver_once,
    resources=_client,
)
