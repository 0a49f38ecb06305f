"""Organization API keys: shown once, acting as their organization with exactly their scopes,
never reaching another organization's data, revocable, expiring and rate limited in PostgreSQL."""

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.services.apikeys.models import ApiKey
from app.services.organizations.models import MemberRole
from tests.documents.factories import World, add_member, create_world
from tests.documents.files import PDF
from tests.helpers import Account, assert_problem, register

ALL_SCOPES = [
    "appointments:read",
    "appointments:write",
    "documents:read",
    "documents:write",
    "catalog:write",
    "members:read",
    "insights:read",
    "tickets:read",
    "tickets:write",
]


async def create_key(
    client: httpx.AsyncClient, owner: Account, organization_id: uuid.UUID, scopes: list[str], **extra: Any
) -> dict[str, Any]:
    response = await client.post(
        f"/organizations/{organization_id}/api-keys",
        headers=owner.headers,
        json={"name": "Front desk kiosk", "scopes": scopes, **extra},
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def key_headers(key: dict[str, Any]) -> dict[str, str]:
    return {"X-API-Key": key["key"]}


@dataclass
class Setup:
    world: World
    owner: Account
    other_owner: Account
    document_id: str


async def _setup(client: httpx.AsyncClient, session: AsyncSession) -> Setup:
    world = await create_world(client, session)
    owner = await register(client, full_name="Olga Owner")
    await add_member(session, organization=world.organization, user_id=owner.id, role=MemberRole.owner)
    uploaded = await client.post(
        "/documents",
        files={"file": ("passport.pdf", PDF, "application/pdf")},
        data={"appointment_id": str(world.appointment.id)},
        headers=world.citizen.headers,
    )
    assert uploaded.status_code == 201, uploaded.text
    return Setup(world=world, owner=owner, other_owner=world.other_staff, document_id=uploaded.json()["id"])


async def test_a_key_is_shown_once_stored_hashed_and_listed_without_secret(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    setup = await _setup(client, session)
    org_id = setup.world.organization.id
    response = await client.post(
        f"/organizations/{org_id}/api-keys",
        headers=setup.owner.headers,
        json={"name": "Kiosk", "scopes": ["appointments:read", "appointments:read"]},
    )
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    prefix, secret = body["key"].removeprefix("qlk_").split("_")
    assert body["prefix"] == prefix
    assert len(secret) == 64
    assert body["scopes"] == ["appointments:read"]
    assert body["created_by"] == str(setup.owner.id)
    assert set(body) == {
        "id", "name", "prefix", "scopes", "created_by", "created_at", "expires_at", "last_used_at", "revoked_at", "key",
    }  # fmt: skip
    stored = await session.get(ApiKey, uuid.UUID(body["id"]))
    assert stored is not None
    assert secret.encode() not in stored.key_digest
    listed = (await client.get(f"/organizations/{org_id}/api-keys", headers=setup.owner.headers)).json()
    assert [k["id"] for k in listed["items"]] == [body["id"]]
    assert "key" not in listed["items"][0]
    assert secret not in str(listed)
    # The audit entry names the key, never its secret.
    audit = (await client.get(f"/organizations/{org_id}/audit", headers=setup.owner.headers)).json()["items"]
    created = next(e for e in audit if e["action"] == "api_key.created")
    assert created["target_id"] == body["id"]
    assert secret not in str(created)
    # Staff cannot manage keys; neither can a key.
    staff = await client.get(f"/organizations/{org_id}/api-keys", headers=setup.world.staff.headers)
    assert_problem(staff, 403, "forbidden")
    as_key = await client.get(f"/organizations/{org_id}/api-keys", headers=key_headers(body))
    assert_problem(as_key, 403, "insufficient_scope")


# (scope, an operation it allows, an operation it refuses); {org}, {appointment}, {document},
# {service} are filled in per test.
SCOPE_CASES = [
    (
        "appointments:read",
        ("GET", "/organizations/{org}/appointments", None),
        ("POST", "/appointments/{appointment}/cancel", {}),
    ),
    (
        "appointments:write",
        ("POST", "/appointments/{appointment}/cancel", {"reason": "closed"}),
        ("GET", "/organizations/{org}/documents", None),
    ),
    (
        "documents:read",
        ("GET", "/documents/{document}", None),
        ("POST", "/documents/{document}/review", {"decision": "approved"}),
    ),
    (
        "documents:write",
        ("POST", "/documents/{document}/review", {"decision": "approved"}),
        ("GET", "/organizations/{org}/members", None),
    ),
    (
        "catalog:write",
        ("PATCH", "/services/{service}", {"capacity": 5}),
        ("GET", "/organizations/{org}/appointments", None),
    ),
    (
        "members:read",
        ("GET", "/organizations/{org}/members", None),
        ("PATCH", "/organizations/{org}", {"phone": "+49 30 1234"}),
    ),
    (
        "insights:read",
        ("GET", "/organizations/{org}/insights/summary", None),
        ("GET", "/appointments/{appointment}", None),
    ),
]


@pytest.mark.parametrize(("scope", "allowed", "refused"), SCOPE_CASES, ids=[c[0] for c in SCOPE_CASES])
async def test_each_scope_allows_its_operations_and_refuses_others(
    client: httpx.AsyncClient,
    session: AsyncSession,
    scope: str,
    allowed: tuple[str, str, Any],
    refused: tuple[str, str, Any],
) -> None:
    setup = await _setup(client, session)
    key = await create_key(client, setup.owner, setup.world.organization.id, [scope])
    values = {
        "org": setup.world.organization.id,
        "appointment": setup.world.appointment.id,
        "document": setup.document_id,
        "service": setup.world.service.id,
    }
    method, path, body = allowed
    response = await client.request(method, path.format(**values), json=body, headers=key_headers(key))
    assert response.status_code in (200, 201), response.text
    method, path, body = refused
    response = await client.request(method, path.format(**values), json=body, headers=key_headers(key))
    assert_problem(response, 403, "insufficient_scope")


async def test_write_includes_read_and_a_keys_changes_name_the_key(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    setup = await _setup(client, session)
    key = await create_key(client, setup.owner, setup.world.organization.id, ["appointments:write", "documents:write"])
    appointment = f"/appointments/{setup.world.appointment.id}"
    assert (await client.get(appointment, headers=key_headers(key))).json()["id"] == str(setup.world.appointment.id)
    cancelled = await client.post(f"{appointment}/cancel", headers=key_headers(key), json={"reason": "closed"})
    assert cancelled.json()["status"] == "cancelled"
    history = (await client.get(f"{appointment}/history", headers=key_headers(key))).json()
    assert history[-1]["to_status"] == "cancelled"
    assert history[-1]["actor_id"] is None
    assert history[-1]["api_key_id"] == key["id"]
    reviewed = await client.post(
        f"/documents/{setup.document_id}/review", headers=key_headers(key), json={"decision": "approved"}
    )
    assert reviewed.json()["status"] == "approved"
    listed = await client.get(f"/organizations/{setup.world.organization.id}/api-keys", headers=setup.owner.headers)
    assert listed.json()["items"][0]["last_used_at"] is not None


async def test_a_key_never_reaches_another_organization(client: httpx.AsyncClient, session: AsyncSession) -> None:
    setup = await _setup(client, session)
    other_org = setup.world.other_service.organization_id
    key = await create_key(client, setup.other_owner, other_org, ALL_SCOPES)
    world = setup.world
    for method, path, body in [
        ("GET", f"/organizations/{world.organization.id}/appointments", None),
        ("GET", f"/organizations/{world.organization.id}/members", None),
        ("GET", f"/organizations/{world.organization.id}/insights/summary", None),
        ("PATCH", f"/organizations/{world.organization.id}", {"phone": "+49 30 1234"}),
        ("GET", f"/appointments/{world.appointment.id}", None),
        ("GET", f"/appointments/{world.appointment.id}/history", None),
        ("POST", f"/appointments/{world.appointment.id}/status", {"status": "no_show"}),
        ("POST", f"/appointments/{world.appointment.id}/cancel", {}),
        ("GET", f"/documents/{setup.document_id}", None),
        ("GET", f"/documents/{setup.document_id}/content", None),
        ("POST", f"/documents/{setup.document_id}/review", {"decision": "approved"}),
        ("PATCH", f"/services/{world.service.id}", {"capacity": 9}),
    ]:
        response = await client.request(method, path, json=body, headers=key_headers(key))
        assert_problem(response, 404, "not_found")
    # Its own organization's data it reaches.
    own = await client.get(f"/organizations/{other_org}/members", headers=key_headers(key))
    assert own.status_code == 200


async def test_keys_cannot_do_what_only_people_do(client: httpx.AsyncClient, session: AsyncSession) -> None:
    setup = await _setup(client, session)
    org_id = setup.world.organization.id
    key = key_headers(await create_key(client, setup.owner, org_id, ALL_SCOPES))
    for method, path, body in [
        ("GET", "/users/me", None),
        ("GET", "/appointments", None),
        ("POST", f"/organizations/{org_id}/members", {"email": setup.owner.email, "role": "staff"}),
        ("GET", f"/organizations/{org_id}/audit", None),
        ("POST", f"/organizations/{org_id}/api-keys", {"name": "x", "scopes": ["members:read"]}),
        ("GET", "/notifications", None),
        ("GET", "/admin/audit", None),
    ]:
        response = await client.request(method, path, json=body, headers=key)
        assert_problem(response, 403, "insufficient_scope")


async def test_bad_keys_and_bad_requests_are_clear_problems(client: httpx.AsyncClient, session: AsyncSession) -> None:
    setup = await _setup(client, session)
    org_id = setup.world.organization.id
    queue = f"/organizations/{org_id}/appointments"
    key = await create_key(client, setup.owner, org_id, ["appointments:read"])
    assert (await client.get(queue, headers=key_headers(key))).status_code == 200

    assert_problem(await client.get(queue, headers={"X-API-Key": "hello"}), 401, "invalid_api_key")
    forged = key["key"][:-4] + ("0000" if not key["key"].endswith("0000") else "1111")
    assert_problem(await client.get(queue, headers={"X-API-Key": forged}), 401, "invalid_api_key")
    both = {**key_headers(key), **setup.owner.headers}
    assert_problem(await client.get(queue, headers=both), 401, "ambiguous_credentials")
    assert_problem(await client.get("/users/me", headers=both), 401, "ambiguous_credentials")

    path = f"/organizations/{org_id}/api-keys"
    unknown = await client.post(path, headers=setup.owner.headers, json={"name": "x", "scopes": ["tickets:fly"]})
    assert_problem(unknown, 422, "validation_error")
    none = await client.post(path, headers=setup.owner.headers, json={"name": "x", "scopes": []})
    assert_problem(none, 422, "validation_error")
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    expired_at = await client.post(
        path, headers=setup.owner.headers, json={"name": "x", "scopes": ["members:read"], "expires_at": past}
    )
    assert_problem(expired_at, 422, "validation_error")

    # Expired: refused as soon as its time passes.
    soon = await create_key(
        client,
        setup.owner,
        org_id,
        ["appointments:read"],
        expires_at=(datetime.now(UTC) + timedelta(hours=1)).isoformat(),
    )
    assert (await client.get(queue, headers=key_headers(soon))).status_code == 200
    await session.execute(
        update(ApiKey).where(ApiKey.id == uuid.UUID(soon["id"])).values(expires_at=datetime.now(UTC) - timedelta(1))
    )
    await session.commit()
    assert_problem(await client.get(queue, headers=key_headers(soon)), 401, "invalid_api_key")

    # Revoked: refused at once, still listed, revoking again is harmless.
    revoked = await client.delete(f"{path}/{key['id']}", headers=setup.owner.headers)
    assert revoked.status_code == 204
    assert_problem(await client.get(queue, headers=key_headers(key)), 401, "invalid_api_key")
    assert (await client.delete(f"{path}/{key['id']}", headers=setup.owner.headers)).status_code == 204
    listed = {k["id"]: k for k in (await client.get(path, headers=setup.owner.headers)).json()["items"]}
    assert listed[key["id"]]["revoked_at"] is not None
    audit = (await client.get(f"/organizations/{org_id}/audit", headers=setup.owner.headers)).json()["items"]
    assert [e["target_id"] for e in audit if e["action"] == "api_key.revoked"] == [key["id"]]  # once
    # Another organization's owner cannot revoke it: 403 (not their organization), unknown id 404.
    assert_problem(await client.delete(f"{path}/{soon['id']}", headers=setup.other_owner.headers), 403, "forbidden")
    assert_problem(await client.delete(f"{path}/{uuid.uuid4()}", headers=setup.owner.headers), 404, "not_found")


async def test_at_most_fifty_live_keys_even_when_created_concurrently(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    setup = await _setup(client, session)
    org_id = setup.world.organization.id
    path = f"/organizations/{org_id}/api-keys"
    first = await create_key(client, setup.owner, org_id, ["members:read"])
    for _ in range(45):
        await create_key(client, setup.owner, org_id, ["members:read"])
    # 46 live: of ten concurrent creations exactly four succeed.
    responses = await asyncio.gather(
        *[
            client.post(path, headers=setup.owner.headers, json={"name": "x", "scopes": ["members:read"]})
            for _ in range(10)
        ]
    )
    assert sorted(r.status_code for r in responses) == [201] * 4 + [409] * 6
    assert_problem(next(r for r in responses if r.status_code == 409), 409, "too_many_api_keys")
    # A revoked key frees its place.
    assert (await client.delete(f"{path}/{first['id']}", headers=setup.owner.headers)).status_code == 204
    await create_key(client, setup.owner, org_id, ["members:read"])


async def test_the_rate_limit_is_counted_in_postgresql_across_concurrent_requests(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    setup = await _setup(client, session)
    org_id = setup.world.organization.id
    key = await create_key(client, setup.owner, org_id, ["members:read"])
    members = f"/organizations/{org_id}/members"
    assert (await client.get(members, headers=key_headers(key))).status_code == 200
    # Another process has used 295 of the key's 300 requests this minute.
    await session.execute(update(ApiKey).where(ApiKey.id == uuid.UUID(key["id"])).values(window_count=295))
    await session.commit()
    responses = await asyncio.gather(*[client.get(members, headers=key_headers(key)) for _ in range(10)])
    assert sorted(r.status_code for r in responses) == [200] * 5 + [429] * 5
    limited = next(r for r in responses if r.status_code == 429)
    assert_problem(limited, 429, "rate_limited")
    assert 1 <= int(limited.headers["retry-after"]) <= 61
    # The next minute starts afresh.
    await session.execute(
        update(ApiKey)
        .where(ApiKey.id == uuid.UUID(key["id"]))
        .values(window_start=datetime.now(UTC) - timedelta(minutes=2))
    )
    await session.commit()
    assert (await client.get(members, headers=key_headers(key))).status_code == 200
