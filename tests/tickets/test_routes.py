"""Tickets through HTTP: creation, views, the status machine, assignment, changes, history, access."""

import itertools

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.services.organizations.models import Organization
from tests.apikeys.test_routes import create_key, key_headers
from tests.helpers import assert_problem, register
from tests.tickets.helpers import Clock, create_desk, move, open_ticket, random_id, ticket_in

STATUSES = ["new", "open", "pending", "on_hold", "solved", "closed"]
ALLOWED = {
    "new": {"open", "pending", "on_hold", "solved"},
    "open": {"pending", "on_hold", "solved"},
    "pending": {"open", "on_hold", "solved"},
    "on_hold": {"open", "pending", "solved"},
    "solved": {"open", "closed"},
    "closed": set(),
}
REQUESTER_HIDDEN = {
    "tags",
    "first_response_due_at",
    "resolution_due_at",
    "first_response_breached",
    "resolution_breached",
    "sla_paused",
}


async def test_requester_opens_a_new_ticket_and_sees_the_requester_view(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    desk = await create_desk(client, session)
    ticket = await open_ticket(client, desk)
    assert ticket["status"] == "new"
    assert ticket["priority"] == "normal"
    assert ticket["requester_id"] == str(desk.requester.id)
    assert ticket["channel"] == "web"
    assert len(ticket["reference"]) == 8
    assert not REQUESTER_HIDDEN & ticket.keys()
    # The read (JSON written by PostgreSQL) is the same body as the create's (written by pydantic).
    assert (await client.get(f"/tickets/{ticket['id']}", headers=desk.requester.headers)).json() == ticket
    member_view = (await client.get(f"/tickets/{ticket['id']}", headers=desk.org.staff.headers)).json()
    assert REQUESTER_HIDDEN <= member_view.keys()
    assert {k: v for k, v in member_view.items() if k not in REQUESTER_HIDDEN} == ticket
    staff_created = await open_ticket(client, desk, by=desk.org.staff, tags=["x"])
    assert (await client.get(f"/tickets/{staff_created['id']}", headers=desk.org.owner.headers)).json() == staff_created
    own = (await client.get("/tickets", headers=desk.requester.headers)).json()
    assert [item["id"] for item in own["items"]] == [ticket["id"]]
    # The description is the thread's first message, in the requester's name.
    history = await client.get(f"/conversations/{ticket['conversation_id']}/messages", headers=desk.requester.headers)
    assert [(m["sender_id"], m["body"]) for m in history.json()["items"]] == [(str(desk.requester.id), "Where is it?")]


async def test_members_only_fields_are_forbidden_to_the_requester(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    desk = await create_desk(client, session)
    for extra in ({"priority": "high"}, {"tags": ["x"]}, {"assignee_id": str(desk.org.staff.id)}):
        response = await client.post(
            "/tickets",
            headers=desk.requester.headers,
            json={"organization_id": str(desk.org.id), "subject": "s", "description": "d", **extra},
        )
        assert_problem(response, 403, "forbidden")


async def test_member_opens_with_an_assignee_starts_open_and_notifies_the_assignee(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    desk = await create_desk(client, session)
    ticket = await open_ticket(
        client,
        desk,
        by=desk.org.owner,
        assignee_id=str(desk.org.staff.id),
        priority="high",
        tags=["Passport", "passport", "urgent"],
        requester_email=desk.requester.email.upper(),
    )
    assert ticket["status"] == "open"
    assert ticket["tags"] == ["passport", "urgent"]
    assert ticket["requester_id"] == str(desk.requester.id)
    notes = (await client.get("/notifications", headers=desk.org.staff.headers)).json()["items"]
    assigned = [n for n in notes if n["kind"] == "ticket_assigned"]
    assert assigned[0]["data"]["ticket_id"] == ticket["id"]
    mine = (await client.get("/tickets", headers=desk.requester.headers)).json()
    assert mine["total"] == 1


@pytest.mark.parametrize(("start", "target"), list(itertools.product(STATUSES, STATUSES)))
async def test_every_allowed_status_move_succeeds_and_every_other_is_409(
    client: httpx.AsyncClient, session: AsyncSession, start: str, target: str
) -> None:
    desk = await create_desk(client, session)
    ticket = await ticket_in(client, desk, start)
    assert ticket["status"] == start
    response = await move(client, ticket["id"], desk.org.staff, target, note="moving")
    if target in ALLOWED[start]:
        assert response.status_code == 200, response.text
        assert response.json()["status"] == target
    else:
        assert_problem(response, 409, "invalid_transition")


async def test_requester_may_only_solve(client: httpx.AsyncClient, session: AsyncSession) -> None:
    desk = await create_desk(client, session)
    ticket = await open_ticket(client, desk)
    assert_problem(await move(client, ticket["id"], desk.requester, "pending"), 403, "forbidden")
    solved = await move(client, ticket["id"], desk.requester, "solved")
    assert solved.status_code == 200
    assert solved.json()["solved_at"] is not None
    assert "tags" not in solved.json()


async def test_closed_ticket_refuses_patch_and_assign(client: httpx.AsyncClient, session: AsyncSession) -> None:
    desk = await create_desk(client, session)
    ticket = await ticket_in(client, desk, "closed")
    assert ticket["closed_at"] is not None
    staff = desk.org.staff.headers
    assert_problem(
        await client.patch(f"/tickets/{ticket['id']}", headers=staff, json={"subject": "x"}), 409, "ticket_closed"
    )
    response = await client.post(f"/tickets/{ticket['id']}/assign", headers=staff, json={"assignee_id": None})
    assert_problem(response, 409, "ticket_closed")
    # Its conversation is closed too.
    post = await client.post(f"/conversations/{ticket['conversation_id']}/messages", headers=staff, json={"body": "hi"})
    assert_problem(post, 409, "conversation_closed")


async def test_assignment_moves_new_to_open_and_history_records_every_change(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    desk = await create_desk(client, session)
    ticket = await open_ticket(client, desk)
    staff = desk.org.staff.headers
    assigned = await client.post(
        f"/tickets/{ticket['id']}/assign", headers=staff, json={"assignee_id": str(desk.org.owner.id)}
    )
    assert assigned.status_code == 200, assigned.text
    assert assigned.json()["status"] == "open"
    patched = await client.patch(f"/tickets/{ticket['id']}", headers=staff, json={"priority": "urgent", "tags": ["a"]})
    assert patched.status_code == 200, patched.text
    unassigned = await client.post(f"/tickets/{ticket['id']}/assign", headers=staff, json={"assignee_id": None})
    assert unassigned.json()["assignee_id"] is None
    await move(client, ticket["id"], desk.org.staff, "pending", note="waiting for the form")
    history = (await client.get(f"/tickets/{ticket['id']}/history", headers=staff)).json()
    events = [(e["type"], e["data"]) for e in history["items"]]
    assert events == [
        ("created", {"status": "new", "priority": "normal"}),
        ("assigned", {"from": None, "to": str(desk.org.owner.id)}),
        ("status_changed", {"from": "new", "to": "open"}),
        ("priority_changed", {"from": "normal", "to": "urgent"}),
        ("tags_changed", {"from": [], "to": ["a"]}),
        ("assigned", {"from": str(desk.org.owner.id), "to": None}),
        ("status_changed", {"from": "open", "to": "pending", "note": "waiting for the form"}),
    ]
    assert history["items"][0]["actor_id"] == str(desk.requester.id)
    assert all(e["actor_id"] == str(desk.org.staff.id) for e in history["items"][1:])
    assert_problem(
        await client.get(f"/tickets/{ticket['id']}/history", headers=desk.requester.headers), 403, "forbidden"
    )


async def test_other_organizations_categories_assignees_and_departments_are_422(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    desk = await create_desk(client, session)
    other = await create_desk(client, session, name="Clinic")
    category = await client.post(
        f"/organizations/{other.org.id}/ticket-categories", headers=other.org.owner.headers, json={"name": "Billing"}
    )
    department = await client.post(
        f"/organizations/{other.org.id}/departments", headers=other.org.admin.headers, json={"name": "Front"}
    )
    assert department.status_code == 201, department.text
    category_id, department_id = category.json()["id"], department.json()["id"]
    staff = desk.org.staff.headers
    base = {"organization_id": str(desk.org.id), "subject": "s", "description": "d"}
    for extra, code in (
        ({"category_id": category_id}, "invalid_category"),
        ({"department_id": department_id}, "invalid_department"),
        ({"assignee_id": str(other.org.staff.id)}, "invalid_assignee"),
        ({"category_id": random_id()}, "invalid_category"),
    ):
        assert_problem(await client.post("/tickets", headers=staff, json={**base, **extra}), 422, code)
    ticket = await open_ticket(client, desk)
    url = f"/tickets/{ticket['id']}"
    assert_problem(await client.patch(url, headers=staff, json={"category_id": category_id}), 422, "invalid_category")
    assert_problem(
        await client.patch(url, headers=staff, json={"department_id": department_id}), 422, "invalid_department"
    )
    response = await client.post(f"{url}/assign", headers=staff, json={"assignee_id": str(other.org.staff.id)})
    assert_problem(response, 422, "invalid_assignee")
    response = await client.post(
        f"/organizations/{desk.org.id}/ticket-categories",
        headers=desk.org.owner.headers,
        json={"name": "X", "department_id": department_id},
    )
    assert_problem(response, 422, "invalid_department")


async def test_every_ticket_route_is_404_to_other_organizations_and_other_citizens(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    desk = await create_desk(client, session)
    other = await create_desk(client, session, name="Clinic")
    stranger = await register(client)
    ticket = await open_ticket(client, desk)
    url = f"/tickets/{ticket['id']}"
    calls = [
        ("GET", url, None),
        ("PATCH", url, {"subject": "x"}),
        ("POST", f"{url}/assign", {"assignee_id": None}),
        ("POST", f"{url}/status", {"status": "open"}),
        ("GET", f"{url}/history", None),
        ("GET", f"{url}/sla", None),
        ("GET", f"{url}/messages", None),
        ("POST", f"{url}/messages", {"body": "hi"}),
    ]
    for account in (other.org.staff, other.org.owner, other.requester, stranger):
        for method, path, body in calls:
            response = await client.request(method, path, headers=account.headers, json=body)
            assert_problem(response, 404, "not_found")
    for method, path, body in calls:
        response = await client.request(
            method, path.replace(ticket["id"], random_id()), headers=desk.org.staff.headers, json=body
        )
        assert_problem(response, 404, "not_found")


async def test_queue_filters(client: httpx.AsyncClient, session: AsyncSession, clock: Clock) -> None:
    desk = await create_desk(client, session)
    staff, owner = desk.org.staff, desk.org.owner
    mine = await open_ticket(client, desk, by=owner, assignee_id=str(staff.id), tags=["vip"], priority="high")
    clock.advance(seconds=1)
    unassigned = await open_ticket(client, desk, subject="Lost wallet")
    url = f"/organizations/{desk.org.id}/tickets"

    async def ids(**params: str) -> list[str]:
        response = await client.get(url, headers=staff.headers, params=params)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert await ids() == [unassigned["id"], mine["id"]]
    # The queue's bodies (written by PostgreSQL) are the ticket's member view, field for field.
    page = (await client.get(url, headers=staff.headers, params={"size": 1, "page": 2})).json()
    assert (page["total"], page["pages"], page["size"]) == (2, 2, 1)
    assert page["items"] == [(await client.get(f"/tickets/{mine['id']}", headers=staff.headers)).json()]
    assert (await client.get(url, headers=staff.headers, params={"page": 3, "size": 1})).json()["items"] == []
    assert await ids(status="open", assignee_id=str(staff.id)) == [mine["id"]]
    assert await ids(assignee_id="none") == [unassigned["id"]]
    assert await ids(tag="VIP") == [mine["id"]]
    assert await ids(priority="high") == [mine["id"]]
    assert await ids(q="wallet") == [unassigned["id"]]
    assert await ids(q=mine["reference"].lower()) == [mine["id"]]
    assert await ids(breached="true") == []
    assert await ids(breached="false", status="open") == [mine["id"]]
    assert_problem(await client.get(url, headers=staff.headers, params={"assignee_id": "bob"}), 422, "validation_error")
    assert_problem(await client.get(url, headers=desk.requester.headers), 403, "forbidden")


async def test_categories(client: httpx.AsyncClient, session: AsyncSession) -> None:
    desk = await create_desk(client, session)
    url = f"/organizations/{desk.org.id}/ticket-categories"
    owner = desk.org.owner.headers
    created = await client.post(url, headers=owner, json={"name": "Billing"})
    assert created.status_code == 201, created.text
    assert_problem(await client.post(url, headers=owner, json={"name": "BILLING"}), 409, "category_exists")
    assert_problem(await client.post(url, headers=desk.org.staff.headers, json={"name": "Other"}), 403, "forbidden")
    second = (await client.post(url, headers=owner, json={"name": "Access"})).json()
    listed = await client.get(url)  # public
    assert [c["name"] for c in listed.json()] == ["Access", "Billing"]
    assert_problem(await client.get(f"/organizations/{random_id()}/ticket-categories"), 404, "not_found")
    renamed = await client.patch(f"/ticket-categories/{second['id']}", headers=owner, json={"name": "billing"})
    assert_problem(renamed, 409, "category_exists")
    renamed = await client.patch(f"/ticket-categories/{second['id']}", headers=owner, json={"name": "Accounts"})
    assert renamed.json()["name"] == "Accounts"
    await open_ticket(client, desk, category_id=created.json()["id"])
    assert_problem(
        await client.delete(f"/ticket-categories/{created.json()['id']}", headers=owner), 409, "category_in_use"
    )
    assert (await client.delete(f"/ticket-categories/{second['id']}", headers=owner)).status_code == 204
    other = await create_desk(client, session, name="Clinic")
    category_url = f"/ticket-categories/{created.json()['id']}"
    for account in (other.org.owner, desk.requester):
        assert_problem(await client.delete(category_url, headers=account.headers), 404, "not_found")
        assert_problem(await client.patch(category_url, headers=account.headers, json={"name": "x"}), 404, "not_found")
    staff_patch = await client.patch(category_url, headers=desk.org.staff.headers, json={"name": "x"})
    assert_problem(staff_patch, 403, "forbidden")


async def test_queue_gate_runs_in_the_page_statement(client: httpx.AsyncClient, session: AsyncSession) -> None:
    """The queue checks the login and the membership inside its one statement: each answer of the
    organization gate (`require_org_role`) holds there, and a key takes its own path."""
    desk = await create_desk(client, session)
    other = await create_desk(client, session, name="Clinic")
    await open_ticket(client, desk)
    url = f"/organizations/{desk.org.id}/tickets"
    for account in (desk.org.staff, desk.org.owner, desk.org.admin):
        response = await client.get(url, headers=account.headers)
        assert response.status_code == 200, response.text
        assert response.json()["total"] == 1
    assert_problem(await client.get(url, headers=other.org.staff.headers), 403, "forbidden")
    assert_problem(
        await client.get(f"/organizations/{random_id()}/tickets", headers=desk.org.staff.headers), 404, "not_found"
    )
    assert_problem(await client.get(url), 401, "not_authenticated")

    reader = await create_key(client, desk.org.owner, desk.org.id, ["tickets:read"])
    assert (await client.get(url, headers=key_headers(reader))).json()["total"] == 1
    writer_only = await create_key(client, desk.org.owner, desk.org.id, ["appointments:read"])
    assert_problem(await client.get(url, headers=key_headers(writer_only)), 403, "insufficient_scope")
    foreign = await create_key(client, other.org.owner, other.org.id, ["tickets:read"])
    assert_problem(await client.get(url, headers=key_headers(foreign)), 404, "not_found")

    # The organization's MFA policy holds back a member without MFA (admins act as admins).
    await session.execute(update(Organization).where(Organization.id == desk.org.id).values(require_mfa=True))
    await session.commit()
    assert_problem(await client.get(url, headers=desk.org.staff.headers), 403, "mfa_required")
    assert (await client.get(url, headers=desk.org.admin.headers)).status_code == 200

    logout = await client.post("/auth/logout", json={"refresh_token": desk.org.admin.refresh_token})
    assert logout.status_code == 204
    assert_problem(await client.get(url, headers=desk.org.admin.headers), 401, "not_authenticated")


async def test_ticket_read_in_one_statement_for_people_and_keys(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    desk = await create_desk(client, session)
    other = await create_desk(client, session, name="Clinic")
    ticket = await open_ticket(client, desk)
    url = f"/tickets/{ticket['id']}"
    member_view = (await client.get(url, headers=desk.org.staff.headers)).json()
    assert set(REQUESTER_HIDDEN) <= set(member_view)
    assert (await client.get(url, headers=desk.org.admin.headers)).json() == member_view
    requester_view = (await client.get(url, headers=desk.requester.headers)).json()
    assert not set(REQUESTER_HIDDEN) & set(requester_view)

    reader = await create_key(client, desk.org.owner, desk.org.id, ["tickets:read"])
    assert (await client.get(url, headers=key_headers(reader))).json() == member_view
    assert_problem(await client.get(f"/tickets/{random_id()}", headers=key_headers(reader)), 404, "not_found")
    foreign = await create_key(client, other.org.owner, other.org.id, ["tickets:read"])
    assert_problem(await client.get(url, headers=key_headers(foreign)), 404, "not_found")
    no_scope = await create_key(client, desk.org.owner, desk.org.id, ["appointments:read"])
    assert_problem(await client.get(url, headers=key_headers(no_scope)), 403, "insufficient_scope")

    logout = await client.post("/auth/logout", json={"refresh_token": desk.requester.refresh_token})
    assert logout.status_code == 204
    assert_problem(await client.get(url, headers=desk.requester.headers), 401, "not_authenticated")


async def test_the_mfa_policy_holds_back_members_on_tickets_reached_by_id(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """While the organization requires MFA, a member without it gets 403 `mfa_required` on its
    tickets (the hot read and the ORM routes alike) and keeps the requester's view of a ticket
    they filed themselves; admins act as admins."""
    desk = await create_desk(client, session)
    theirs = await open_ticket(client, desk)
    own = await open_ticket(client, desk, by=desk.org.staff)
    await session.execute(update(Organization).where(Organization.id == desk.org.id).values(require_mfa=True))
    await session.commit()
    staff = desk.org.staff.headers

    url = f"/tickets/{theirs['id']}"
    assert_problem(await client.get(url, headers=staff), 403, "mfa_required")
    assert_problem(await client.get(f"{url}/history", headers=staff), 403, "mfa_required")
    assert_problem(await client.patch(url, headers=staff, json={"priority": "high"}), 403, "mfa_required")
    assert_problem(await move(client, theirs["id"], desk.org.staff, "solved"), 403, "mfa_required")
    as_requester = await client.get(f"/tickets/{own['id']}", headers=staff)
    assert as_requester.status_code == 200, as_requester.text
    assert not set(REQUESTER_HIDDEN) & set(as_requester.json())
    assert_problem(
        await client.patch(f"/tickets/{own['id']}", headers=staff, json={"priority": "high"}), 403, "mfa_required"
    )
    assert set(REQUESTER_HIDDEN) <= set((await client.get(url, headers=desk.org.admin.headers)).json())
    assert (await client.get(url, headers=desk.requester.headers)).status_code == 200
