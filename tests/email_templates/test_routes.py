"""E-mail templates per organization: placeholders checked, the next e-mail in the custom words,
deletion back to the default, custom keys and previews."""

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.services.notifications.models import OutboxEmail
from tests.helpers import assert_problem, mails_to
from tests.tickets.helpers import Desk, create_desk, open_ticket


def url(desk: Desk, key: str = "") -> str:
    return f"/organizations/{desk.org.id}/email-templates" + (f"/{key}" if key else "")


async def reply_mails(client: httpx.AsyncClient, session: AsyncSession, desk: Desk, body: str) -> list[OutboxEmail]:
    ticket = await open_ticket(client, desk)
    response = await client.post(
        f"/tickets/{ticket['id']}/messages", headers=desk.org.staff.headers, json={"body": body}
    )
    assert response.status_code == 201, response.text
    return await mails_to(session, desk.requester.email)


async def test_list_shows_built_in_kinds_with_their_placeholders(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    desk = await create_desk(client, session)
    response = await client.get(url(desk), headers=desk.org.owner.headers)
    assert response.status_code == 200
    by_key = {item["key"]: item for item in response.json()}
    assert {"ticket_created", "ticket_reply", "ticket_solved", "ticket_assigned", "sla_breached"} <= set(by_key)
    reply = by_key["ticket_reply"]
    assert reply["customized"] is False
    assert "$message_body" in reply["body"]
    assert {"ticket_reference", "requester_name", "message_body", "full_name"} <= set(reply["placeholders"])
    # Staff may not manage templates; other organizations' members neither.
    assert_problem(await client.get(url(desk), headers=desk.org.staff.headers), 403, "forbidden")
    assert_problem(await client.get(url(desk), headers=desk.requester.headers), 403, "forbidden")


async def test_unknown_placeholders_are_refused_and_named(client: httpx.AsyncClient, session: AsyncSession) -> None:
    desk = await create_desk(client, session)
    response = await client.put(
        url(desk, "ticket_reply"),
        headers=desk.org.owner.headers,
        json={"subject": "Re: ${ticket_subjekt}", "body": "Hi $full_name, $$5 fee, $password and ${full_name}"},
    )
    body = assert_problem(response, 422, "unknown_placeholder")
    assert [(error["loc"], error["msg"]) for error in body["errors"]] == [
        (["body", "subject"], "unknown placeholder $ticket_subjekt"),
        (["body", "body"], "unknown placeholder $password"),
    ]
    lone = await client.put(
        url(desk, "ticket_reply"), headers=desk.org.owner.headers, json={"subject": "Costs 5 $", "body": "x"}
    )
    assert_problem(lone, 422, "unknown_placeholder")
    assert_problem(
        await client.put(url(desk, "Bad-Key"), headers=desk.org.owner.headers, json={"subject": "s", "body": "b"}),
        422,
        "invalid_template_key",
    )


async def test_a_customized_template_is_used_by_the_next_email_and_deleting_restores_the_default(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    desk = await create_desk(client, session)
    custom = {
        "subject": "Answer from $organization_name",
        "body": "Dear $full_name,\n$assignee_name wrote on $ticket_subject ($ticket_status): $message_body\nCost: $$0",
    }
    response = await client.put(url(desk, "ticket_reply"), headers=desk.org.owner.headers, json=custom)
    assert response.status_code == 200, response.text
    assert response.json()["customized"] is True

    [mail] = await reply_mails(client, session, desk, "It is ready.")
    assert mail.subject.startswith("Answer from City Hall [#")  # the reference is always in the subject
    assert mail.body == "Dear Rita Requester,\nnobody yet wrote on My passport (open): It is ready.\nCost: $0"

    assert (await client.delete(url(desk, "ticket_reply"), headers=desk.org.owner.headers)).status_code == 204
    listed = {item["key"]: item for item in (await client.get(url(desk), headers=desk.org.owner.headers)).json()}
    assert listed["ticket_reply"]["customized"] is False
    await session.execute(OutboxEmail.__table__.delete())
    await session.commit()
    [mail] = await reply_mails(client, session, desk, "Second answer.")
    assert mail.subject.startswith("New reply: [#")
    assert "There is a new reply on your request" in mail.body
    assert "Second answer." in mail.body


async def test_another_organizations_template_is_its_own(client: httpx.AsyncClient, session: AsyncSession) -> None:
    desk = await create_desk(client, session)
    other = await create_desk(client, session, name="Other")
    await client.put(
        url(other, "ticket_reply"), headers=other.org.owner.headers, json={"subject": "Other words", "body": "x"}
    )
    [mail] = await reply_mails(client, session, desk, "Hello.")
    assert "Other words" not in mail.subject
    assert_problem(await client.get(url(other), headers=desk.org.owner.headers), 403, "forbidden")


async def test_custom_templates_are_created_previewed_and_deleted(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    desk = await create_desk(client, session)
    template = {"subject": "Survey for $ticket_reference", "body": "Hi $requester_name, rate $ticket_subject."}
    created = await client.put(url(desk, "satisfaction_survey"), headers=desk.org.owner.headers, json=template)
    assert created.status_code == 201, created.text
    assert created.json()["customized"] is True
    again = await client.put(url(desk, "satisfaction_survey"), headers=desk.org.owner.headers, json=template)
    assert again.status_code == 200
    # Custom templates only have ticket placeholders.
    assert_problem(
        await client.put(
            url(desk, "satisfaction_survey"), headers=desk.org.owner.headers, json={"subject": "$title", "body": "b"}
        ),
        422,
        "unknown_placeholder",
    )

    sample = await client.post(url(desk, "satisfaction_survey") + "/preview", headers=desk.org.owner.headers, json={})
    assert sample.status_code == 200
    assert sample.json() == {"subject": "Survey for K7P2QX [#K7P2QX]", "body": "Hi Ada Lovelace, rate My passport."}

    ticket = await open_ticket(client, desk, subject="Broken lamp")
    real = await client.post(
        url(desk, "satisfaction_survey") + "/preview",
        headers=desk.org.owner.headers,
        json={"ticket_id": ticket["id"], "body": "$ticket_subject from $requester_name"},
    )
    assert real.json() == {
        "subject": f"Survey for {ticket['reference']} [#{ticket['reference']}]",
        "body": "Broken lamp from Rita Requester",
    }
    other = await create_desk(client, session, name="Other")
    foreign = await open_ticket(client, other)
    assert_problem(
        await client.post(
            url(desk, "satisfaction_survey") + "/preview",
            headers=desk.org.owner.headers,
            json={"ticket_id": foreign["id"]},
        ),
        422,
        "invalid_ticket",
    )

    assert (await client.delete(url(desk, "satisfaction_survey"), headers=desk.org.owner.headers)).status_code == 204
    assert_problem(
        await client.delete(url(desk, "satisfaction_survey"), headers=desk.org.owner.headers), 404, "not_found"
    )
    assert_problem(
        await client.post(url(desk, "satisfaction_survey") + "/preview", headers=desk.org.owner.headers, json={}),
        404,
        "not_found",
    )
