"""The audit log: entries written with their action (a refused sign-in included), read by exactly
the people allowed to, and impossible to change or delete even in SQL."""

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import create_org
from tests.helpers import PASSWORD, assert_problem, register, register_admin


async def _actions(client: httpx.AsyncClient, path: str, headers: dict[str, str], **params: str) -> list[str]:
    response = await client.get(path, headers=headers, params=params)
    assert response.status_code == 200, response.text
    return [entry["action"] for entry in response.json()["items"]]


async def test_a_refused_sign_in_is_recorded_although_the_request_fails(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    citizen = await register(client)
    wrong = await client.post("/auth/login", json={"email": citizen.email, "password": "not the password"})
    assert_problem(wrong, 401, "invalid_credentials")
    nobody = await client.post("/auth/login", json={"email": "ghost@example.org", "password": "whatever1"})
    assert_problem(nobody, 401, "invalid_credentials")
    assert (await client.post("/auth/login", json={"email": citizen.email, "password": PASSWORD})).status_code == 200

    mine = (await client.get("/users/me/audit", headers=citizen.headers)).json()["items"]
    assert [e["action"] for e in mine] == ["auth.login", "auth.login_failed"]  # newest first
    failed = mine[1]
    assert failed["actor_type"] == "anonymous"
    assert failed["target_type"] == "user"
    assert failed["target_id"] == str(citizen.id)
    assert failed["data"] == {"reason": "invalid_credentials"}
    assert failed["request_id"]
    assert mine[0]["actor_type"] == "user"
    assert mine[0]["actor_id"] == str(citizen.id)

    admin = await register_admin(client, session)
    ghost = (await client.get("/admin/audit", headers=admin.headers, params={"action": "auth.login_failed"})).json()
    without_account = [e for e in ghost["items"] if e["target_id"] is None]
    assert [e["data"] for e in without_account] == [{"reason": "invalid_credentials", "email": "ghost@example.org"}]


async def test_password_change_refresh_reuse_and_admin_changes_are_recorded(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    citizen = await register(client)
    admin = await register_admin(client, session)
    changed = await client.post(
        "/users/me/password",
        headers=citizen.headers,
        json={"current_password": PASSWORD, "new_password": "a much better secret"},
    )
    assert changed.status_code == 204
    rotated = await client.post("/auth/refresh", json={"refresh_token": citizen.refresh_token})
    assert rotated.status_code == 200
    reused = await client.post("/auth/refresh", json={"refresh_token": citizen.refresh_token})
    assert_problem(reused, 401, "invalid_refresh_token")
    for change in ({"role": "admin"}, {"is_active": False}, {"is_active": True}):
        assert (await client.patch(f"/users/{citizen.id}", headers=admin.headers, json=change)).status_code == 200

    actions = await _actions(client, "/admin/audit", admin.headers, target_id=str(citizen.id))
    assert actions == [
        "user.reactivated",
        "user.deactivated",
        "user.role_changed",
        "auth.refresh_reuse",
        "auth.password_changed",
    ]
    entries = (await client.get("/admin/audit", headers=admin.headers, params={"action": "user.role_changed"})).json()
    assert entries["items"][0]["data"] == {"from": "citizen", "to": "admin"}
    assert entries["items"][0]["actor_id"] == str(admin.id)
    mailed = await session.scalar(
        text("SELECT count(*) FROM email_outbox WHERE to_address = :email AND subject = 'Your password was changed'"),
        {"email": citizen.email},
    )
    assert mailed == 1


async def test_organization_entries_are_read_by_its_owners_and_managers_only(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    org = await create_org(client, session)
    other = await create_org(client, session, name="Elsewhere")
    manager = await register(client)
    added = await client.post(
        f"/organizations/{org.id}/members", headers=org.owner.headers, json={"email": manager.email, "role": "manager"}
    )
    assert added.status_code == 201
    changed = await client.post(
        f"/organizations/{org.id}/members",
        headers=org.owner.headers,
        json={"email": manager.email, "role": "staff", "title": "Clerk"},
    )
    assert changed.status_code == 200
    removed = await client.delete(f"/organizations/{org.id}/members/{manager.id}", headers=org.owner.headers)
    assert removed.status_code == 204

    path = f"/organizations/{org.id}/audit"
    actions = await _actions(client, path, org.owner.headers)
    assert actions == ["member.removed", "member.changed", "member.added", "member.added", "member.added"]
    entries = (await client.get(path, headers=org.owner.headers, params={"target_id": str(manager.id)})).json()
    assert [e["data"] for e in entries["items"]] == [
        {"role": "staff"},
        {"role": "staff", "title": "Clerk"},
        {"role": "manager", "title": None, "department_id": None},
    ]
    assert all(e["organization_id"] == str(org.id) for e in entries["items"])
    assert entries["items"][0]["actor_id"] == str(org.owner.id)

    # Staff, citizens and the other organization's owner see nothing of it.
    assert_problem(await client.get(path, headers=org.staff.headers), 403, "forbidden")
    assert_problem(await client.get(path, headers=manager.headers), 403, "forbidden")
    assert_problem(await client.get(path, headers=other.owner.headers), 403, "forbidden")
    assert_problem(await client.get("/admin/audit", headers=org.owner.headers), 403, "forbidden")
    # The other organization's log holds only its own members.
    other_entries = (await client.get(f"/organizations/{other.id}/audit", headers=other.owner.headers)).json()
    assert {e["organization_id"] for e in other_entries["items"]} == {str(other.id)}
    # The member sees the entries about them, and only those.
    mine = (await client.get("/users/me/audit", headers=manager.headers)).json()["items"]
    assert {e["target_id"] for e in mine} == {str(manager.id)}
    assert "member.removed" in [e["action"] for e in mine]


async def test_time_filters_paging_and_bad_filters(client: httpx.AsyncClient, session: AsyncSession) -> None:
    admin = await register_admin(client, session)
    for _ in range(3):
        await client.post("/auth/login", json={"email": admin.email, "password": "wrong password"})
    now = datetime.now(UTC)
    page = (await client.get("/admin/audit", headers=admin.headers, params={"size": 2})).json()
    assert page["total"] == 3
    assert page["pages"] == 2
    assert len(page["items"]) == 2
    ids = [e["id"] for e in page["items"]]
    assert ids == sorted(ids, reverse=True)
    future = (now + timedelta(minutes=1)).isoformat()
    assert (await client.get("/admin/audit", headers=admin.headers, params={"since": future})).json()["total"] == 0
    until_past = (now - timedelta(hours=1)).isoformat()
    assert (await client.get("/admin/audit", headers=admin.headers, params={"until": until_past})).json()["total"] == 0
    naive = await client.get("/admin/audit", headers=admin.headers, params={"since": "2026-01-01T00:00:00"})
    assert_problem(naive, 422, "validation_error")
    assert_problem(
        await client.get("/admin/audit", headers=admin.headers, params={"actor_id": "x"}), 422, "validation_error"
    )


@pytest.mark.parametrize("statement", ["UPDATE audit_entries SET action = 'x'", "DELETE FROM audit_entries"])
async def test_audit_rows_cannot_be_updated_or_deleted_in_sql(
    client: httpx.AsyncClient, session: AsyncSession, statement: str
) -> None:
    await client.post("/auth/login", json={"email": "ghost@example.org", "password": "whatever1"})
    with pytest.raises(DBAPIError, match="append-only"):
        await session.execute(text(statement))
    await session.rollback()
    assert await session.scalar(text("SELECT count(*) FROM audit_entries WHERE action = 'auth.login_failed'")) == 1
