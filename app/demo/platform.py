"""The platform's demo: an API key for each hand-written demo organization, printed once.

A key is shown when it is created and never again (only its digest is stored), so a second run
finds the keys and prints nothing; revoke one and run `seed-demo` again for a new one.
"""

import uuid
from typing import TYPE_CHECKING

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.core import security
from app.demo import catalog
from app.services.apikeys import service as apikeys_service
from app.services.apikeys.models import ApiKey
from app.services.apikeys.scopes import Scope
from app.services.audit.models import ActorType, AuditEntry
from app.services.organizations.models import Organization

if TYPE_CHECKING:
    from app.demo.seed import Progress

KEY_NAME = "Demo integration"


async def seed(conn: AsyncConnection, *, password_hash: str, progress: "Progress") -> None:
    for spec in catalog.ORGANIZATIONS:
        organization_id = await conn.scalar(select(Organization.id).where(Organization.email.like(f"{spec.key}@%")))
        if organization_id is None:
            continue
        live = await conn.scalar(
            select(ApiKey.id).where(
                ApiKey.organization_id == organization_id, ApiKey.name == KEY_NAME, ApiKey.revoked_at.is_(None)
            )
        )
        if live is not None:
            continue
        key, prefix = apikeys_service.new_key()
        key_id = uuid.uuid4()
        scopes = sorted(scope.value for scope in Scope)
        await conn.execute(
            insert(ApiKey).values(
                id=key_id,
                organization_id=organization_id,
                name=KEY_NAME,
                prefix=prefix,
                key_digest=security.token_digest(key),
                scopes=scopes,
            )
        )
        await conn.execute(
            insert(AuditEntry).values(
                action="api_key.created",
                actor_type=ActorType.system,
                organization_id=organization_id,
                target_type="api_key",
                target_id=key_id,
                data={"name": KEY_NAME, "prefix": prefix, "scopes": scopes, "source": "seed-demo"},
            )
        )
        progress.step(f"API key of {spec.name} (shown once, every scope): {key}")
