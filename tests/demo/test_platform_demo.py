"""`seed-demo` gives each demo organization an API key, printed once."""

import re

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tests.demo.test_seed_demo import cli_env, run_seed

__all__ = ["cli_env"]


async def test_demo_organizations_get_an_api_key_printed_once(
    cli_env: None, client: httpx.AsyncClient, session: AsyncSession, capsys: pytest.CaptureFixture[str]
) -> None:
    await run_seed("--appointments", "50", "--citizens", "5")
    keys = re.findall(r"API key of (.+?) \(shown once, every scope\): (qlk_\w+)", capsys.readouterr().err)
    assert len(keys) == 3
    organization_id = await session.scalar(
        text("SELECT id FROM organizations WHERE name = :name"), {"name": keys[0][0]}
    )
    members = await client.get(f"/organizations/{organization_id}/members", headers={"X-API-Key": keys[0][1]})
    assert members.status_code == 200
    assert members.json()["total"] >= 1
    queue = await client.get(f"/organizations/{organization_id}/appointments", headers={"X-API-Key": keys[0][1]})
    assert queue.status_code == 200

    await run_seed("--appointments", "50", "--citizens", "5")
    assert "API key of" not in capsys.readouterr().err  # shown once: a second run finds them
    created = await session.scalar(text("SELECT count(*) FROM audit_entries WHERE action = 'api_key.created'"))
    assert created == 3
