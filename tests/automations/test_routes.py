"""Automation rules: each trigger and action, creation order, history with `rule_id`, rules never
triggering rules, and a failing rule skipped and logged (the event succeeds)."""

from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.database import unit_of_work
from app.services.tickets import service as tickets_service
from tests.helpers import assert_problem, mails_to
from tests.tickets.helpers import Clock, Desk, create_desk, move, open_ticket


async def rule(client: httpx.AsyncClient, desk: Desk, **body: Any) -> dict[str, Any]:
    body.setdefault("name", "rule")
    response = await client.post(f"/organizations/{desk.org.id}/automations", headers=desk.org.owner.headers, json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def history(client: httpx.AsyncClient, desk: Desk, ticket_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/tickets/{ticket_id}/history", headers=desk.org.staff.headers, params={"size": 100})
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def test_ticket_created_rules_run_in_creation_order_and_show_in_the_answer(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    desk = await create_desk(client, session)
    first = await rule(
        client,
        desk,
        trigger="ticket_created",
        conditions={"priority": ["normal"]},
        actions=[
            {"type": "set_priority", "priority": "high"},
            {"type": "assign", "assignee_id": str(desk.org.staff.id)},
            {"type": "send_email", "template": "ticket_created", "to": "requester"},
        ],
    )
    # Runs after the first and sees its change (priority is now high).
    second = await rule(
        client,
        desk,
        trigger="ticket_created",
        conditions={"priority": ["high"]},
        actions=[{"type": "add_tag", "tag": "VIP"}],
    )
    # Would run if a rule's assignment triggered rules: it must not.
    await rule(client, desk, trigger="ticket_assigned", actions=[{"type": "add_tag", "tag": "assigned-by-rule"}])
    # Inactive rules never run.
    await rule(client, desk, trigger="ticket_created", active=False, actions=[{"type": "add_tag", "tag": "off"}])

    ticket = await open_ticket(client, desk, by=desk.org.staff, requester_email=desk.requester.email)
    assert ticket["priority"] == "high"
    assert ticket["assignee_id"] == str(desk.org.staff.id)
    assert ticket["status"] == "open"
    assert ticket["tags"] == ["vip"]

    events = [(e["type"], e["rule_id"]) for e in await history(client, desk, ticket["id"])]
    assert events == [
        ("created", None),
        ("priority_changed", first["id"]),
        ("assigned", first["id"]),
        ("status_changed", first["id"]),
        ("email_queued", first["id"]),
        ("tags_changed", second["id"]),
    ]
    [mail] = await mails_to(session, desk.requester.email)
    assert mail.subject == f"My passport [#{ticket['reference']}]"
    assert f'We received your request [#{ticket["reference"]}] "My passport"' in mail.body
    assert "Hello Rita Requester" in mail.body

    # A ticket that meets no condition is left alone.
    low = await open_ticket(client, desk, by=desk.org.staff, priority="low")
    assert (low["priority"], low["assignee_id"], low["tags"]) == ("low", None, [])


async def test_status_changed_and_ticket_assigned_triggers(client: httpx.AsyncClient, session: AsyncSession) -> None:
    desk = await create_desk(client, session)
    solved = await rule(
        client,
        desk,
        trigger="status_changed",
        conditions={"status": ["solved"]},
        actions=[{"type": "add_tag", "tag": "done"}],
    )
    assigned = await rule(
        client, desk, trigger="ticket_assigned", actions=[{"type": "set_priority", "priority": "urgent"}]
    )
    ticket = await open_ticket(client, desk)

    response = await client.post(
        f"/tickets/{ticket['id']}/assign", headers=desk.org.staff.headers, json={"assignee_id": str(desk.org.staff.id)}
    )
    assert response.json()["priority"] == "urgent"
    pending = await move(client, ticket["id"], desk.org.staff, "pending")
    assert pending.json()["tags"] == []
    done = await move(client, ticket["id"], desk.org.staff, "solved")
    assert done.json()["tags"] == ["done"]
    by_rule = [(e["type"], e["rule_id"]) for e in await history(client, desk, ticket["id"]) if e["rule_id"]]
    assert by_rule == [("priority_changed", assigned["id"]), ("tags_changed", solved["id"])]


async def test_sla_breached_trigger_runs_in_the_breach_pass(
    client: httpx.AsyncClient, session: AsyncSession, app: FastAPI, clock: Clock
) -> None:
    desk = await create_desk(client, session)
    sla = await client.put(
        f"/organizations/{desk.org.id}/sla",
        headers=desk.org.owner.headers,
        json={"policies": [{"priority": "normal", "first_response_minutes": 5, "resolution_minutes": 60}]},
    )
    assert sla.status_code == 200, sla.text
    breach = await rule(
        client, desk, trigger="sla_breached", actions=[{"type": "assign", "assignee_id": str(desk.org.owner.id)}]
    )
    ticket = await open_ticket(client, desk)
    sessionmaker: async_sessionmaker[AsyncSession] = app.state.sessionmaker
    async with unit_of_work(sessionmaker) as pass_session:
        assert await tickets_service.mark_breaches(pass_session, now=clock.now + timedelta(minutes=10)) == 1
    read = await client.get(f"/tickets/{ticket['id']}", headers=desk.org.staff.headers)
    assert read.json()["assignee_id"] == str(desk.org.owner.id)
    types = [(e["type"], e["rule_id"]) for e in await history(client, desk, ticket["id"])]
    assert ("sla_breached", None) in types
    assert ("assigned", breach["id"]) in types


async def test_a_failing_rule_is_skipped_and_logged_and_the_event_succeeds(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    desk = await create_desk(client, session)
    broken = await rule(
        client,
        desk,
        trigger="ticket_created",
        actions=[{"type": "add_tag", "tag": "half"}, {"type": "assign", "assignee_id": str(desk.org.staff.id)}],
    )
    after = await rule(client, desk, trigger="ticket_created", actions=[{"type": "add_tag", "tag": "later"}])
    # The assignee leaves the organization after the rule was written.
    left = await client.delete(
        f"/organizations/{desk.org.id}/members/{desk.org.staff.id}", headers=desk.org.owner.headers
    )
    assert left.status_code == 204

    ticket = await open_ticket(client, desk)
    read = await client.get(f"/tickets/{ticket['id']}", headers=desk.org.owner.headers)
    # None of the broken rule's actions stayed (not even its first); the next rule ran.
    assert read.json()["assignee_id"] is None
    assert read.json()["tags"] == ["later"]
    response = await client.get(f"/tickets/{ticket['id']}/history", headers=desk.org.owner.headers)
    events = response.json()["items"]
    failed = [e for e in events if e["type"] == "automation_failed"]
    assert len(failed) == 1
    assert failed[0]["rule_id"] == broken["id"]
    assert failed[0]["data"]["code"] == "invalid_assignee"
    assert [(e["type"], e["rule_id"]) for e in events if e["type"] == "tags_changed"] == [("tags_changed", after["id"])]


async def test_rules_are_checked_and_kept_to_their_organization(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    desk = await create_desk(client, session)
    other = await create_desk(client, session, name="Other")
    url = f"/organizations/{desk.org.id}/automations"
    base = {"name": "r", "trigger": "ticket_created"}
    cases = [
        ({"actions": [{"type": "send_email", "template": "nope_template", "to": "requester"}]}, "unknown_template"),
        ({"actions": [{"type": "assign", "assignee_id": str(other.org.staff.id)}]}, "invalid_assignee"),
        (
            {"actions": [{"type": "add_tag", "tag": "x"}], "conditions": {"category_id": [str(other.org.id)]}},
            "invalid_category",
        ),
        ({"actions": [{"type": "explode"}]}, "validation_error"),
        ({"actions": []}, "validation_error"),
        ({"trigger": "message", "actions": [{"type": "add_tag", "tag": "x"}]}, "validation_error"),
    ]
    for extra, code in cases:
        assert_problem(await client.post(url, headers=desk.org.owner.headers, json={**base, **extra}), 422, code)
    assert_problem(
        await client.post(
            url, headers=desk.org.staff.headers, json={**base, "actions": [{"type": "add_tag", "tag": "x"}]}
        ),
        403,
        "forbidden",
    )
    created = await rule(client, desk, trigger="ticket_created", actions=[{"type": "add_tag", "tag": "x"}])
    listed = await client.get(url, headers=desk.org.owner.headers)
    assert [item["id"] for item in listed.json()["items"]] == [created["id"]]
    for outsider in (other.org.owner, desk.org.staff, desk.requester):
        assert_problem(
            await client.patch(f"/automations/{created['id']}", headers=outsider.headers, json={"active": False}),
            404,
            "not_found",
        )
        assert_problem(await client.delete(f"/automations/{created['id']}", headers=outsider.headers), 404, "not_found")
    patched = await client.patch(
        f"/automations/{created['id']}", headers=desk.org.owner.headers, json={"active": False}
    )
    assert patched.json()["active"] is False
    assert (await client.delete(f"/automations/{created['id']}", headers=desk.org.owner.headers)).status_code == 204
