"""An organization that requires MFA: members without it are refused (403 `mfa_required`) on
what they do through the membership, its conversations are withheld from their sockets, and
nothing changes for them as citizens or for the organization's API keys."""

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from tests.apikeys.test_routes import create_key, key_headers
from tests.chat.helpers import assert_nothing_more, post, receive_until, socket, start_chat
from tests.factories import Org, book_soon, create_org, create_service
from tests.helpers import Account, assert_problem, register
from tests.mfa.helpers import STEP, enable_mfa, frozen_clock, login

__all__ = ["frozen_clock"]

pytestmark = pytest.mark.usefixtures("frozen_clock")

ROUND_THE_CLOCK = [{"weekday": d, "opens": "00:00", "closes": "23:59"} for d in range(7)]


async def _require_mfa(client: httpx.AsyncClient, org: Org) -> None:
    """The owner turns MFA on for themselves (signing in again with it), then requires it."""
    mfa = await enable_mfa(client, org.owner)
    signed_in = await login(client, org.owner.email, mfa.code(STEP))
    org.owner.access_token = signed_in.json()["access_token"]
    response = await client.patch(
        f"/organizations/{org.id}/security", headers=org.owner.headers, json={"require_mfa": True}
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"require_mfa": True}


async def test_only_owners_with_mfa_turn_the_policy_on(client: httpx.AsyncClient, session: AsyncSession) -> None:
    org = await create_org(client, session)
    manager = await register(client)
    await client.post(
        f"/organizations/{org.id}/members", headers=org.owner.headers, json={"email": manager.email, "role": "manager"}
    )
    path = f"/organizations/{org.id}/security"
    assert (await client.get(path, headers=manager.headers)).json() == {"require_mfa": False}
    assert_problem(await client.get(path, headers=org.staff.headers), 403, "forbidden")
    assert_problem(await client.patch(path, headers=manager.headers, json={"require_mfa": True}), 403, "forbidden")
    without = await client.patch(path, headers=org.owner.headers, json={"require_mfa": True})
    assert_problem(without, 403, "mfa_required")
    assert_problem(
        await client.patch(path, headers=org.owner.headers, json={"require_mfa": "maybe"}), 422, "validation_error"
    )

    await _require_mfa(client, org)
    audit = (await client.get(f"/organizations/{org.id}/audit", headers=org.owner.headers)).json()["items"]
    assert audit[0]["action"] == "organization.security_changed"
    assert audit[0]["data"] == {"require_mfa": {"from": False, "to": True}}
    # The administrator may change it without MFA of their own.
    off = await client.patch(path, headers=org.admin.headers, json={"require_mfa": False})
    assert off.json() == {"require_mfa": False}


async def test_a_member_without_mfa_is_refused_but_not_as_a_citizen(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    org = await create_org(client, session)
    service = await create_service(client, org, capacity=3, weekly=ROUND_THE_CLOCK)
    citizen = await register(client)
    booked = await book_soon(client, org, service["id"], citizen)
    key = await create_key(client, org.owner, org.id, ["members:read"])
    await _require_mfa(client, org)
    staff = org.staff

    for method, path, body in [
        ("GET", f"/organizations/{org.id}/members", None),
        ("GET", f"/organizations/{org.id}/appointments", None),
        ("GET", f"/organizations/{org.id}/documents", None),
        ("GET", f"/organizations/{org.id}/insights/summary", None),
        ("POST", f"/appointments/{booked['id']}/status", {"status": "no_show"}),
    ]:
        response = await client.request(method, path, json=body, headers=staff.headers)
        assert_problem(response, 403, "mfa_required")
    # Reads by id withhold the organization's appointments (404, as for any outsider).
    assert_problem(await client.get(f"/appointments/{booked['id']}", headers=staff.headers), 404, "not_found")

    # As a citizen nothing changes: the staff member books, reads and cancels their own appointment.
    own = await book_soon(client, org, service["id"], staff)
    assert (await client.get(f"/appointments/{own['id']}", headers=staff.headers)).status_code == 200
    cancelled = await client.post(f"/appointments/{own['id']}/cancel", headers=staff.headers, json={})
    assert cancelled.json()["status"] == "cancelled"
    assert (await client.get("/users/me", headers=staff.headers)).status_code == 200

    # The organization's API keys are not members: the policy skips them.
    assert (await client.get(f"/organizations/{org.id}/members", headers=key_headers(key))).status_code == 200

    members = (await client.get(f"/organizations/{org.id}/members", headers=org.owner.headers)).json()["items"]
    assert {m["user_id"]: m["mfa_enabled"] for m in members} == {str(org.owner.id): True, str(staff.id): False}

    # With MFA on, the member works again.
    mfa = await enable_mfa(client, staff)
    staff.access_token = (await login(client, staff.email, mfa.code(STEP))).json()["access_token"]
    assert (await client.get(f"/organizations/{org.id}/members", headers=staff.headers)).status_code == 200
    assert (await client.get(f"/appointments/{booked['id']}", headers=staff.headers)).status_code == 200


async def test_the_socket_withholds_the_organizations_conversations(
    client: httpx.AsyncClient, app: FastAPI, session: AsyncSession
) -> None:
    chat = await start_chat(client, session)
    other = await start_chat(client, session)  # another organization, no policy
    staff: Account = chat.org.staff
    # The staff member also works for the other organization.
    added = await client.post(
        f"/organizations/{other.org.id}/members",
        headers=other.org.owner.headers,
        json={"email": staff.email, "role": "staff"},
    )
    assert added.status_code == 201
    await _require_mfa(client, chat.org)

    async with socket(app, staff.access_token) as staff_ws, socket(app, chat.org.owner.access_token) as owner_ws:
        assert (await post(client, chat.id, chat.citizen, "Anyone there?")).status_code == 201
        assert (await receive_until(owner_ws, "message"))["message"]["body"] == "Anyone there?"
        await assert_nothing_more(staff_ws)
        # The other organization's conversation still reaches the same socket.
        assert (await post(client, other.id, other.citizen, "Hello other")).status_code == 201
        assert (await receive_until(staff_ws, "message"))["message"]["body"] == "Hello other"
        # Sending into the withheld conversation over the socket is refused.
        await staff_ws.send_json({"type": "send", "conversation_id": chat.id, "body": "Hi", "client_id": "c1"})
        refused = await receive_until(staff_ws, "error")
        assert refused["code"] == "not_found"

    assert_problem(await client.get(f"/conversations/{chat.id}", headers=staff.headers), 403, "mfa_required")
    listed = (await client.get("/conversations", headers=staff.headers)).json()["items"]
    assert [c["id"] for c in listed] == [other.id]
