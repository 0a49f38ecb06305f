"""Outbound webhooks end to end: a receiver started by the test checks the signature; retries on
the contract's schedule; concurrent passes never send one attempt twice; a hanging target is cut
at the timeout and retried; private targets refused; deliveries listed and redelivered."""

import asyncio
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.settings import Environment, Settings
from app.services.webhooks import service as webhooks_service
from app.services.webhooks import workers as webhooks_workers
from app.services.webhooks.errors import UrlNotAllowed
from app.services.webhooks.models import WebhookDelivery
from tests.helpers import assert_problem
from tests.tickets.helpers import Desk, create_desk, open_ticket
from tests.webhooks.receiver import HANG, receiving


def verify(secret: str, header: str, body: bytes, *, tolerance: int = 300) -> bool:
    """What a receiver does (README "Webhooks")."""
    parts = dict(item.split("=", 1) for item in header.split(","))
    timestamp = int(parts["t"])
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    fresh = abs(datetime.now(UTC).timestamp() - timestamp) <= tolerance
    return fresh and hmac.compare_digest(expected, parts["v1"])


async def subscribe(client: httpx.AsyncClient, desk: Desk, url: str, events: list[str] | None = None) -> dict[str, Any]:
    response = await client.post(
        f"/organizations/{desk.org.id}/webhooks",
        headers=desk.org.owner.headers,
        json={"url": url, "events": events or ["ticket.created", "ticket.message", "ticket.status_changed"]},
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def sessionmaker_of(app: FastAPI) -> async_sessionmaker[AsyncSession]:
    maker: async_sessionmaker[AsyncSession] = app.state.sessionmaker
    return maker


async def deliveries(client: httpx.AsyncClient, desk: Desk, webhook_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/webhooks/{webhook_id}/deliveries", headers=desk.org.owner.headers)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def test_a_signed_delivery_reaches_the_receiver(
    client: httpx.AsyncClient, session: AsyncSession, app: FastAPI
) -> None:
    desk = await create_desk(client, session)
    async with receiving() as receiver:
        webhook = await subscribe(client, desk, receiver.url)
        assert webhook["secret"].startswith("whsec_")
        listed = await client.get(f"/organizations/{desk.org.id}/webhooks", headers=desk.org.owner.headers)
        assert "secret" not in listed.json()["items"][0]
        ticket = await open_ticket(client, desk)
        # An internal note is never sent; a public reply is.
        await client.post(
            f"/tickets/{ticket['id']}/messages", headers=desk.org.staff.headers, json={"body": "psst", "internal": True}
        )
        await client.post(f"/tickets/{ticket['id']}/messages", headers=desk.org.staff.headers, json={"body": "Hello"})
        settings: Settings = app.state.settings
        assert await webhooks_workers.deliver_once(sessionmaker_of(app), settings=settings) == 3

    bodies = [json.loads(item.body) for item in receiver.received]
    assert sorted(body["type"] for body in bodies) == ["ticket.created", "ticket.message", "ticket.status_changed"]
    for item in receiver.received:
        assert verify(webhook["secret"], item.headers["x-queueless-signature"], item.body)
        assert not verify("whsec_wrong", item.headers["x-queueless-signature"], item.body)
        assert not verify(webhook["secret"], item.headers["x-queueless-signature"], item.body + b" ")
    created = next(body for body in bodies if body["type"] == "ticket.created")
    assert set(created) == {"id", "type", "created_at", "organization_id", "data"}
    assert created["organization_id"] == str(desk.org.id)
    assert created["data"]["ticket"]["id"] == ticket["id"]
    message = next(body for body in bodies if body["type"] == "ticket.message")
    assert message["data"]["body"] == "Hello"
    assert "psst" not in json.dumps(bodies)
    listed_deliveries = await deliveries(client, desk, webhook["id"])
    assert {d["status"] for d in listed_deliveries} == {"succeeded"}
    assert all(len(d["attempts"]) == 1 and d["attempts"][0]["status_code"] == 200 for d in listed_deliveries)


async def test_500_then_200_gives_two_attempts_and_one_success(
    client: httpx.AsyncClient, session: AsyncSession, app: FastAPI
) -> None:
    desk = await create_desk(client, session)
    settings: Settings = app.state.settings
    async with receiving([500, 200]) as receiver:
        webhook = await subscribe(client, desk, receiver.url, ["ticket.created"])
        await open_ticket(client, desk)
        now = datetime.now(UTC)
        assert await webhooks_workers.deliver_once(sessionmaker_of(app), settings=settings, now=now) == 1
        [delivery] = await deliveries(client, desk, webhook["id"])
        assert delivery["status"] == "pending"
        assert [a["status_code"] for a in delivery["attempts"]] == [500]
        assert delivery["attempts"][0]["error"] == "HTTP 500"
        # Not due before 10 s; due after.
        retry_at = datetime.fromisoformat(delivery["next_attempt_at"])
        assert timedelta(seconds=9) <= retry_at - now <= timedelta(seconds=15)
        assert await webhooks_workers.deliver_once(sessionmaker_of(app), settings=settings, now=now) == 0
        assert await webhooks_workers.deliver_once(sessionmaker_of(app), settings=settings, now=retry_at) == 1
    [delivery] = await deliveries(client, desk, webhook["id"])
    assert delivery["status"] == "succeeded"
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 200]
    assert len(receiver.received) == 2
    # Both attempts carry the same event id (receivers dedupe on it).
    assert len({json.loads(item.body)["id"] for item in receiver.received}) == 1


async def test_the_retry_schedule_ends_in_failed(
    client: httpx.AsyncClient, session: AsyncSession, app: FastAPI
) -> None:
    desk = await create_desk(client, session)
    settings: Settings = app.state.settings
    async with receiving([503] * 7) as receiver:
        webhook = await subscribe(client, desk, receiver.url, ["ticket.created"])
        await open_ticket(client, desk)
        moment = datetime.now(UTC)
        waits = []
        for _ in range(7):
            assert await webhooks_workers.deliver_once(sessionmaker_of(app), settings=settings, now=moment) == 1
            row = await session.scalar(select(WebhookDelivery).execution_options(populate_existing=True))
            assert row is not None
            waits.append(row.next_attempt_at - moment)
            moment = row.next_attempt_at
            await session.commit()
    [delivery] = await deliveries(client, desk, webhook["id"])
    assert delivery["status"] == "failed"
    assert len(delivery["attempts"]) == 7
    expected = [timedelta(seconds=10), timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30)]
    expected += [timedelta(hours=2), timedelta(hours=6)]
    assert [round(wait.total_seconds() / 10) * 10 for wait in waits[:6]] == [e.total_seconds() for e in expected]


async def test_two_concurrent_passes_never_send_one_attempt_twice(
    client: httpx.AsyncClient, session: AsyncSession, app: FastAPI
) -> None:
    desk = await create_desk(client, session)
    settings: Settings = app.state.settings
    async with receiving(delay=0.05) as receiver:
        await subscribe(client, desk, receiver.url, ["ticket.created"])
        for _ in range(12):
            await open_ticket(client, desk)
        maker = sessionmaker_of(app)
        counts = await asyncio.gather(
            *(webhooks_workers.deliver_once(maker, settings=settings, limit=4) for _ in range(4))
        )
        while await webhooks_workers.deliver_once(maker, settings=settings):
            pass
    assert sum(counts) <= 12
    ids = [json.loads(item.body)["id"] for item in receiver.received]
    assert len(ids) == 12
    assert len(set(ids)) == 12


async def test_a_hanging_target_is_cut_at_the_timeout_and_retried(
    client: httpx.AsyncClient, session: AsyncSession, app: FastAPI
) -> None:
    desk = await create_desk(client, session)
    settings = app.state.settings.model_copy(update={"webhook_timeout_seconds": 0.5})
    async with receiving([HANG, 200]) as receiver:
        webhook = await subscribe(client, desk, receiver.url, ["ticket.created"])
        await open_ticket(client, desk)
        started = asyncio.get_running_loop().time()
        assert await webhooks_workers.deliver_once(sessionmaker_of(app), settings=settings) == 1
        assert asyncio.get_running_loop().time() - started < 5
        [delivery] = await deliveries(client, desk, webhook["id"])
        assert delivery["status"] == "pending"
        assert delivery["attempts"][0]["status_code"] is None
        assert delivery["attempts"][0]["error"] == "timeout after 0.5 s"
        later = datetime.fromisoformat(delivery["next_attempt_at"])
        assert await webhooks_workers.deliver_once(sessionmaker_of(app), settings=settings, now=later) == 1
    [delivery] = await deliveries(client, desk, webhook["id"])
    assert delivery["status"] == "succeeded"
    assert len(receiver.received) == 2


async def test_redeliver_sends_the_same_event_again(
    client: httpx.AsyncClient, session: AsyncSession, app: FastAPI
) -> None:
    desk = await create_desk(client, session)
    other = await create_desk(client, session, name="Other")
    async with receiving() as receiver:
        webhook = await subscribe(client, desk, receiver.url, ["ticket.created"])
        await open_ticket(client, desk)
        await webhooks_workers.deliver_once(sessionmaker_of(app), settings=app.state.settings)
        [first] = await deliveries(client, desk, webhook["id"])
        url = f"/webhooks/{webhook['id']}/deliveries/{first['id']}/redeliver"
        for outsider in (other.org.owner, desk.org.staff):
            assert_problem(await client.post(url, headers=outsider.headers), 404, "not_found")
            assert_problem(await client.get(f"/webhooks/{webhook['id']}", headers=outsider.headers), 404, "not_found")
        again = await client.post(url, headers=desk.org.owner.headers)
        assert again.status_code == 201
        assert again.json()["event_id"] == first["event_id"]
        assert again.json()["id"] != first["id"]
        assert again.json()["status"] == "pending"
        await webhooks_workers.deliver_once(sessionmaker_of(app), settings=app.state.settings)
    assert [json.loads(item.body)["id"] for item in receiver.received] == [first["event_id"]] * 2
    assert len(await deliveries(client, desk, webhook["id"])) == 2


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.5/hook",
        "http://169.254.169.254/latest",
        "http://192.168.1.1/",
        "http://[fd00::1]/",
        "ftp://x.org/",
    ],
)
async def test_private_and_link_local_targets_are_refused(
    client: httpx.AsyncClient, session: AsyncSession, url: str
) -> None:
    desk = await create_desk(client, session)
    response = await client.post(
        f"/organizations/{desk.org.id}/webhooks",
        headers=desk.org.owner.headers,
        json={"url": url, "events": ["ticket.created"]},
    )
    assert response.status_code == 422
    assert response.json()["code"] in ("url_not_allowed", "validation_error")


async def test_production_refuses_loopback_by_its_resolved_address(monkeypatch: pytest.MonkeyPatch) -> None:
    production = Settings(environment=Environment.production, secret_key="x" * 40, database_url="postgresql://x/y")
    with pytest.raises(UrlNotAllowed):
        await webhooks_service.check_url("http://127.0.0.1:8000/hook", settings=production)

    async def rebound(host: str) -> list[str]:
        return ["93.184.216.34", "10.1.2.3"]  # one public, one private: refused

    monkeypatch.setattr(webhooks_service, "resolve", rebound)
    with pytest.raises(UrlNotAllowed):
        await webhooks_service.check_url("https://hooks.example.com/x", settings=production)

    async def public(host: str) -> list[str]:
        return ["93.184.216.34"]

    monkeypatch.setattr(webhooks_service, "resolve", public)
    await webhooks_service.check_url("https://hooks.example.com/x", settings=production)


async def test_the_senders_client_keeps_its_connection_between_passes(
    client: httpx.AsyncClient, session: AsyncSession, app: FastAPI
) -> None:
    desk = await create_desk(client, session)
    settings: Settings = app.state.settings
    async with receiving(keep_alive=True) as receiver:
        await subscribe(client, desk, receiver.url, ["ticket.created"])
        async with webhooks_workers.new_client(settings) as sender:
            for _ in range(3):
                await open_ticket(client, desk)
                assert await webhooks_workers.deliver_once(sessionmaker_of(app), settings=settings, client=sender) == 1
    assert len(receiver.received) == 3
    assert receiver.connections == 1


async def test_a_hanging_target_holds_up_only_its_own_deliveries(
    client: httpx.AsyncClient, session: AsyncSession, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    desk = await create_desk(client, session)
    settings = app.state.settings.model_copy(update={"webhook_timeout_seconds": 3.0})
    tickets = 6
    monkeypatch.setattr(webhooks_workers, "PER_TARGET", 4)
    async with receiving([HANG] * tickets) as stuck, receiving() as healthy:
        stuck_hook = await subscribe(client, desk, stuck.url, ["ticket.created"])
        healthy_hook = await subscribe(client, desk, healthy.url, ["ticket.created"])
        for _ in range(tickets):
            await open_ticket(client, desk)
        started = asyncio.get_running_loop().time()
        sending = asyncio.create_task(webhooks_workers.deliver_once(sessionmaker_of(app), settings=settings))
        await asyncio.sleep(1.0)
        # While the first four hang (well inside their 3 s), the healthy target has had its six and
        # the hanging one no more than PER_TARGET: the other two wait for a connection.
        assert len(healthy.received) == tickets
        assert len(stuck.received) == 4
        assert await sending == 2 * tickets
        assert asyncio.get_running_loop().time() - started < 9
    assert {d["status"] for d in await deliveries(client, desk, healthy_hook["id"])} == {"succeeded"}
    stuck_deliveries = await deliveries(client, desk, stuck_hook["id"])
    assert {d["status"] for d in stuck_deliveries} == {"pending"}
    assert {d["attempts"][0]["error"] for d in stuck_deliveries} == {"timeout after 3 s"}


async def test_the_sender_service_keeps_one_client_for_its_life(
    client: httpx.AsyncClient, session: AsyncSession, app: FastAPI
) -> None:
    desk = await create_desk(client, session)
    settings = app.state.settings.model_copy(update={"notification_workers": True, "webhook_poll_seconds": 0.05})
    host = SimpleNamespace(state=SimpleNamespace(settings=settings, sessionmaker=sessionmaker_of(app)))
    async with receiving(keep_alive=True) as receiver:
        webhook = await subscribe(client, desk, receiver.url, ["ticket.created"])
        async with webhooks_workers.webhook_workers(host):  # type: ignore[arg-type]
            for sent in (1, 2):  # two tickets, two passes
                await open_ticket(client, desk)
                for _ in range(200):
                    if len(receiver.received) == sent:
                        break
                    await asyncio.sleep(0.05)
            # The pass records a delivery after its answer arrives: stay until it has, or leaving
            # the workers would cancel the pass between the two.
            for _ in range(200):
                statuses = {d["status"] for d in await deliveries(client, desk, webhook["id"])}
                if statuses == {"succeeded"}:
                    break
                await asyncio.sleep(0.05)
    assert len(receiver.received) == 2
    assert receiver.connections == 1
    assert statuses == {"succeeded"}
