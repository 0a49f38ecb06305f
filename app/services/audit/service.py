"""Write audit entries inside the action's own transaction, and read them back with filters.

`record` adds its row to the caller's session: the entry commits with the action or not at
all. A refused sign-in is no exception: its error commits the request's writes
(`commit_changes`), the entry among them.
"""

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import paging
from app.core.logging import client_address_var, request_id_var
from app.services.audit.models import ActorType, AuditEntry


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acted: a user, an API key (by id), nobody signed in, or the system itself."""

    type: ActorType
    id: uuid.UUID | None = None

    @classmethod
    def user(cls, user_id: uuid.UUID) -> "Actor":
        return cls(ActorType.user, user_id)

    @classmethod
    def api_key(cls, key_id: uuid.UUID) -> "Actor":
        return cls(ActorType.api_key, key_id)


ANONYMOUS = Actor(ActorType.anonymous)
SYSTEM = Actor(ActorType.system)


@dataclass(frozen=True, slots=True)
class AuditFilters:
    action: str | None = None
    actor_id: uuid.UUID | None = None
    target_id: uuid.UUID | None = None
    since: datetime | None = None
    until: datetime | None = None


async def record(
    session: AsyncSession,
    *,
    action: str,
    actor: Actor,
    organization_id: uuid.UUID | None = None,
    target_type: str | None = None,
    target_id: uuid.UUID | None = None,
    data: Mapping[str, Any] | None = None,
    client_address: str | None = None,
) -> None:
    """Append one entry. `data` holds changed values only: never a secret, code or hash.

    The request id and the client's address come from the request being served (none in
    background work) unless given.
    """
    await session.execute(
        insert(AuditEntry).values(
            action=action,
            actor_type=actor.type,
            actor_id=actor.id,
            organization_id=organization_id,
            target_type=target_type,
            target_id=target_id,
            request_id=request_id_var.get(),
            client_address=(client_address or client_address_var.get() or "")[:64] or None,
            data=dict(data or {}),
        )
    )


async def record_about_user(
    session: AsyncSession,
    *,
    action: str,
    user_id: uuid.UUID,
    actor: Actor | None = None,
    data: Mapping[str, Any] | None = None,
    client_address: str | None = None,
) -> None:
    """An entry whose target is the account `user_id` (`auth.*`, `mfa.*`, `user.*`); unless
    `actor` says otherwise, the user acted themselves."""
    await record(
        session,
        action=action,
        actor=actor or Actor.user(user_id),
        target_type="user",
        target_id=user_id,
        data=data,
        client_address=client_address,
    )


def _conditions(filters: AuditFilters) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if filters.action is not None:
        conditions.append(AuditEntry.action == filters.action)
    if filters.actor_id is not None:
        conditions.append(AuditEntry.actor_id == filters.actor_id)
    if filters.target_id is not None:
        conditions.append(AuditEntry.target_id == filters.target_id)
    if filters.since is not None:
        conditions.append(AuditEntry.at >= filters.since)
    if filters.until is not None:
        conditions.append(AuditEntry.at < filters.until)
    return conditions


async def get_all(
    session: AsyncSession,
    *,
    filters: AuditFilters,
    organization_id: uuid.UUID | None = None,
    target_id: uuid.UUID | None = None,
    offset: int,
    limit: int,
) -> tuple[Sequence[AuditEntry], int]:
    """Entries matching `filters`, newest first. `organization_id` and `target_id` confine the
    reader to what they may see (an organization's entries, the entries about oneself)."""
    query = select(AuditEntry).where(*_conditions(filters))
    if organization_id is not None:
        query = query.where(AuditEntry.organization_id == organization_id)
    if target_id is not None:
        query = query.where(AuditEntry.target_id == target_id)
    order = [AuditEntry.at.desc(), AuditEntry.id.desc()]
    return await paging.page_of(session, query, order_by=order, offset=offset, limit=limit)
