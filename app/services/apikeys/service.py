"""Organization API keys: create (shown once), list, revoke, and authenticate a request's key.

A key is `qlk_<prefix>_<secret>`: the prefix finds the row, the SHA-256 digest of the whole key
proves it (the secret has 256 random bits, so a plain digest is as good as a slow hash and costs
nothing per request).
"""

import re
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, case, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import paging, security
from app.core.errors import InvalidInput
from app.services.apikeys.errors import ApiKeyNotFound, InvalidApiKey, TooManyApiKeys
from app.services.apikeys.models import ApiKey
from app.services.apikeys.schemas import ApiKeyCreate
from app.services.apikeys.scopes import grants
from app.services.audit import service as audit_service

MAX_LIVE_KEYS = 50
RATE_WINDOW = timedelta(minutes=1)
_KEY_PATTERN = re.compile(r"^qlk_([0-9a-f]{12})_([0-9a-f]{64})$")


@dataclass(frozen=True, slots=True)
class ApiKeyPrincipal:
    """A request made with an API key: it acts as its organization, with exactly its scopes."""

    id: uuid.UUID
    organization_id: uuid.UUID
    scopes: frozenset[str]

    def allows(self, scope: str) -> bool:
        return grants(self.scopes, scope)

    @property
    def actor(self) -> audit_service.Actor:
        return audit_service.Actor.api_key(self.id)


def _live(now: datetime) -> list[ColumnElement[bool]]:
    return [ApiKey.revoked_at.is_(None), or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > now)]


async def authenticate(
    session: AsyncSession, *, key: str, requests_per_minute: int
) -> tuple[ApiKeyPrincipal, int | None]:
    """The key's principal and, over the limit, the seconds to wait. Counts this request in the
    key's minute (one UPDATE: every process shares the count). Run it in a short transaction of
    its own: the key's row is locked until it commits, and a request's own may last long."""
    match = _KEY_PATTERN.match(key.strip())
    if match is None:
        raise InvalidApiKey("The API key is malformed; it looks like qlk_<prefix>_<secret>.")
    now = datetime.now(UTC)
    in_window = ApiKey.window_start > now - RATE_WINDOW
    row = (
        await session.execute(
            update(ApiKey)
            .where(ApiKey.prefix == match[1], ApiKey.key_digest == security.token_digest(key.strip()), *_live(now))
            .values(
                last_used_at=now,
                window_start=case((in_window, ApiKey.window_start), else_=now),
                window_count=case((in_window, ApiKey.window_count + 1), else_=1),
            )
            .returning(ApiKey.id, ApiKey.organization_id, ApiKey.scopes, ApiKey.window_count, ApiKey.window_start)
        )
    ).first()
    if row is None:
        raise InvalidApiKey()
    principal = ApiKeyPrincipal(id=row.id, organization_id=row.organization_id, scopes=frozenset(row.scopes))
    if row.window_count > requests_per_minute:
        return principal, int((row.window_start + RATE_WINDOW - now).total_seconds()) + 1
    return principal, None


def new_key() -> tuple[str, str]:
    """A new key and its prefix."""
    prefix = secrets.token_hex(6)
    return f"qlk_{prefix}_{secrets.token_hex(32)}", prefix


async def create(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID,
    actor: audit_service.Actor,
    created_by: uuid.UUID | None,
    data: ApiKeyCreate,
) -> tuple[ApiKey, str]:
    """A new key and its text (shown once). At most MAX_LIVE_KEYS live keys per organization:
    a transaction lock per organization is held while they are counted, so concurrent creations
    queue and cannot both take the last place."""
    now = datetime.now(UTC)
    if data.expires_at is not None and data.expires_at <= now:
        raise InvalidInput("`expires_at` must be in the future.")
    await session.execute(select(func.pg_advisory_xact_lock(_lock_id(organization_id))))
    live = await session.scalar(
        select(func.count()).select_from(ApiKey).where(ApiKey.organization_id == organization_id, *_live(now))
    )
    if (live or 0) >= MAX_LIVE_KEYS:
        raise TooManyApiKeys(f"An organization has at most {MAX_LIVE_KEYS} live API keys; revoke one first.")
    key, prefix = new_key()
    api_key = ApiKey(
        organization_id=organization_id,
        name=data.name,
        prefix=prefix,
        key_digest=security.token_digest(key),
        scopes=sorted(set(data.scopes)),
        created_by=created_by,
        expires_at=data.expires_at,
    )
    session.add(api_key)
    await session.flush()
    await session.refresh(api_key)
    await audit_service.record(
        session,
        action="api_key.created",
        actor=actor,
        organization_id=organization_id,
        target_type="api_key",
        target_id=api_key.id,
        data={"name": api_key.name, "prefix": prefix, "scopes": api_key.scopes, "expires_at": _iso(data.expires_at)},
    )
    return api_key, key


def _lock_id(organization_id: uuid.UUID) -> int:
    return int.from_bytes(b"apik" + organization_id.bytes[:4], "big", signed=True)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


async def get_all(
    session: AsyncSession, *, organization_id: uuid.UUID, offset: int, limit: int
) -> tuple[Sequence[ApiKey], int]:
    query = select(ApiKey).where(ApiKey.organization_id == organization_id)
    order = [ApiKey.created_at.desc(), ApiKey.id]
    return await paging.page_of(session, query, order_by=order, offset=offset, limit=limit)


async def revoke(
    session: AsyncSession, *, organization_id: uuid.UUID, actor: audit_service.Actor, key_id: uuid.UUID
) -> None:
    """Revoke at once (idempotent: a revoked key stays revoked at its first time)."""
    api_key = await session.scalar(
        select(ApiKey).where(ApiKey.id == key_id, ApiKey.organization_id == organization_id).with_for_update()
    )
    if api_key is None:
        raise ApiKeyNotFound()
    if api_key.revoked_at is not None:
        return
    api_key.revoked_at = datetime.now(UTC)
    await session.flush()
    await audit_service.record(
        session,
        action="api_key.revoked",
        actor=actor,
        organization_id=organization_id,
        target_type="api_key",
        target_id=api_key.id,
        data={"name": api_key.name, "prefix": api_key.prefix},
    )
