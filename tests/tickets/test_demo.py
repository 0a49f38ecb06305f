"""The helpdesk's part of `seed-demo`: a desk for every demo organization, idempotent."""

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.demo import helpdesk as helpdesk_demo
from tests.demo.test_seed_demo import cli_env, run_seed, scalar

__all__ = ["cli_env"]


async def test_seed_demo_gives_every_demo_organization_a_desk(
    cli_env: None, session: AsyncSession, capsys: pytest.CaptureFixture[str]
) -> None:
    await run_seed("--appointments", "200", "--citizens", "50")
    assert "helpdesk: 300 tickets" in capsys.readouterr().err
    total = 3 * helpdesk_demo.TICKETS_PER_ORG
    assert await scalar(session, "SELECT count(*) FROM tickets") == total
    statuses = (await session.execute(text("SELECT DISTINCT status FROM tickets"))).scalars()
    assert set(statuses) == {"new", "open", "pending", "on_hold", "solved", "closed"}
    assert await scalar(session, "SELECT count(DISTINCT organization_id) FROM ticket_categories") == 3
    assert await scalar(session, "SELECT count(DISTINCT organization_id) FROM sla_calendars") == 3
    assert await scalar(session, "SELECT count(*) FROM sla_policies") == 3 * 4
    assert await scalar(session, "SELECT count(*) FROM chat_messages WHERE internal") > 0
    assert await scalar(session, "SELECT count(*) FROM tickets WHERE first_response_breached") > 0
    assert await scalar(session, "SELECT count(*) FROM ticket_events WHERE type = 'sla_breached'") > 0
    # Stored due times only where the clock runs and a target is open.
    assert (
        await scalar(
            session,
            "SELECT count(*) FROM tickets WHERE status IN ('solved', 'closed') AND resolution_due_at IS NOT NULL",
        )
        == 0
    )
    # The requester's side: a note is never a conversation's last message.
    assert (
        await scalar(
            session,
            "SELECT count(*) FROM conversations c JOIN chat_messages m ON m.id = c.last_message_id WHERE m.internal",
        )
        == 0
    )
    await run_seed("--appointments", "200", "--citizens", "50")
    assert "helpdesk" not in capsys.readouterr().err
    assert await scalar(session, "SELECT count(*) FROM tickets") == total
