"""A database outage under load: every request answers (503 `database_unavailable` while the
database is away; an error frame on a chat socket), no connection is dropped, nothing is
half-written, and the first request after the database is back succeeds.

The server is uvicorn with the app, in this process, against a PostgreSQL of the test's own that
it stops (`pg_ctl stop -m fast`) and starts again while clients keep sending requests.
"""

import asyncio
import socket
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio.to_thread
import httpx
import pytest
import uvicorn
from sqlalchemy import text

from app.core import realtime
from app.core.api import create_app
from app.core.http_protocol import OneWritePerResponse
from app.core.migrations import upgrade_head
from app.core.settings import Environment, Settings
from app.main import BACKGROUND, ROUTERS
from tests.chat.helpers import close_code, connect, receive_until, settle, start_chat
from tests.chat.helpers import socket as chat_socket
from tests.core.postgres_process import PostgresProcess
from tests.factories import ROUND_THE_CLOCK, create_org
from tests.helpers import Account, register

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


class Served:
    def __init__(self, postgres: PostgresProcess, base_url: str, app: Any) -> None:
        self.postgres = postgres
        self.base_url = base_url
        self.app = app


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    postgres = PostgresProcess()
    await anyio.to_thread.run_sync(postgres.init)
    await anyio.to_thread.run_sync(postgres.start)
    try:
        await anyio.to_thread.run_sync(upgrade_head, postgres.url)
        settings = Settings(
            environment=Environment.test,
            database_url=postgres.url,
            data_dir=tmp_path / "app",
            secret_key="outage-secret-" + "x" * 40,
            bcrypt_rounds=4,
            log_level="ERROR",
            db_pool_size=8,
        )
        app = create_app(settings, ROUTERS, BACKGROUND)
        listening = socket.create_server(("127.0.0.1", 0))
        server = uvicorn.Server(uvicorn.Config(app, http=OneWritePerResponse, log_config=None, lifespan="on"))
        task = asyncio.create_task(server.serve(sockets=[listening]))
        base_url = f"http://127.0.0.1:{listening.getsockname()[1]}"
        try:
            async with httpx.AsyncClient() as client:  # waits in the socket's backlog until started
                assert (await client.get(f"{base_url}/health/live", timeout=60)).status_code == 200
            yield Served(postgres, base_url, app)
        finally:
            server.should_exit = True
            await task
            listening.close()
    finally:
        await anyio.to_thread.run_sync(postgres.remove)


def _local_port(response: httpx.Response) -> int:
    """The client's port of the connection that carried `response` (read before the next request:
    a connection the server closed has no port any more)."""
    port: int = response.extensions["network_stream"].get_extra_info("client_addr")[1]
    return port


async def test_outage_answers_503_on_kept_alive_connections_and_recovers(served: Served) -> None:
    api = f"{served.base_url}/api/v1"
    async with httpx.AsyncClient(base_url=api, timeout=30) as setup:
        async with served.app.state.sessionmaker() as session:
            org = await create_org(setup, session)
        created = await setup.post(
            f"/organizations/{org.id}/services",
            headers=org.owner.headers,
            json={"name": "Permits", "duration_minutes": 15, "capacity": 1000, "requirements": []},
        )
        service_id = created.json()["id"]
        schedule = await setup.put(
            f"/services/{service_id}/schedule",
            headers=org.owner.headers,
            json={"slot_minutes": 15, "weekly": ROUND_THE_CLOCK, "min_notice_minutes": 0, "max_days_ahead": 60},
        )
        assert schedule.status_code == 200, schedule.text
        citizens = [await register(setup) for _ in range(6)]

    first_slot = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=2)
    outcomes: Counter[tuple[str, int]] = Counter()
    unavailable: list[httpx.Response] = []
    failures: list[str] = []
    stop = asyncio.Event()

    def record(kind: str, response: httpx.Response, ok: set[int], ports: set[int]) -> None:
        try:
            ports.add(_local_port(response))
        except OSError:
            failures.append(f"{kind}: the connection closed after {response.status_code} {response.text[:300]}")
        outcomes[(kind, response.status_code)] += 1
        if response.status_code == 503:
            unavailable.append(response)
        elif response.status_code not in ok:
            failures.append(f"{kind}: {response.status_code} {response.text[:200]}")

    async def citizen_load(number: int, citizen: Account) -> None:
        """One keep-alive connection per citizen: reads and writes through the ORM and the hot paths."""
        ports: set[int] = set()
        async with httpx.AsyncClient(base_url=api, timeout=30, limits=httpx.Limits(max_connections=1)) as client:
            step = 0
            while not stop.is_set():
                step += 1
                try:
                    listed = await client.get("/appointments", params={"size": 1}, headers=citizen.headers)
                    record("list", listed, {200}, ports)
                    me = await client.get("/users/me", headers=citizen.headers)
                    record("me", me, {200}, ports)
                    renamed = await client.patch(
                        "/users/me", headers=citizen.headers, json={"full_name": f"Citizen {number} {step}"}
                    )
                    record("rename", renamed, {200}, ports)
                    starts_at = first_slot + timedelta(hours=number * 100 + step)
                    booked = await client.post(
                        "/appointments",
                        headers=citizen.headers,
                        json={"service_id": service_id, "starts_at": starts_at.isoformat()},
                    )
                    record("book", booked, {201}, ports)
                except httpx.HTTPError as exc:
                    failures.append(f"citizen {number}: {type(exc).__name__} {exc}")
                    return
        if len(ports) != 1:
            failures.append(f"citizen {number}'s connection was dropped: {sorted(ports)}")

    loads = [asyncio.create_task(citizen_load(n, c)) for n, c in enumerate(citizens)]
    async with httpx.AsyncClient(base_url=served.base_url, timeout=30) as probe:
        await asyncio.sleep(1)
        await anyio.to_thread.run_sync(served.postgres.stop)
        await asyncio.sleep(0.5)
        ready = await probe.get("/health/ready")
        assert ready.status_code == 503
        await asyncio.sleep(1.5)
        await anyio.to_thread.run_sync(served.postgres.start)
        started = time.monotonic()
        first = await probe.get("/api/v1/users/me", headers=citizens[0].headers)
        recovered_in = time.monotonic() - started
        assert first.status_code == 200, first.text
        first_hot = await probe.get("/api/v1/appointments", params={"size": 1}, headers=citizens[0].headers)
        assert first_hot.status_code == 200, first_hot.text
        await asyncio.sleep(1)
        stop.set()
        await asyncio.gather(*loads)
        assert (await probe.get("/health/ready")).status_code == 200

    assert not failures, (failures[:8], outcomes)
    assert unavailable, f"no request met the outage: {outcomes}"
    for response in unavailable:
        body = response.json()
        assert body["code"] == "database_unavailable", body
        assert response.headers["content-type"].startswith("application/problem+json")
        assert int(response.headers["retry-after"]) >= 1
    assert any(kind == "book" and status == 201 for kind, status in outcomes), outcomes
    assert recovered_in < 2, recovered_in

    # Nothing half-written: every appointment has its booking event and is counted in its slot.
    async with served.app.state.engine.connect() as conn:
        orphans = await conn.scalar(
            text(
                "SELECT count(*) FROM appointments a WHERE NOT EXISTS"
                " (SELECT 1 FROM appointment_events e WHERE e.appointment_id = a.id AND e.from_status IS NULL)"
            )
        )
        miscounted = await conn.scalar(
            text(
                "SELECT count(*) FROM slot_loads l WHERE l.service_id = :service AND l.booked <>"
                " (SELECT count(*) FROM appointments a WHERE a.service_id = l.service_id"
                " AND a.starts_at = l.starts_at AND a.status IN ('booked', 'checked_in'))"
            ),
            {"service": uuid.UUID(service_id)},
        )
    assert orphans == 0
    assert miscounted == 0


async def test_chat_socket_frames_answer_database_unavailable_and_the_socket_stays_open(served: Served) -> None:
    async with httpx.AsyncClient(base_url=f"{served.base_url}/api/v1", timeout=30) as client:
        async with served.app.state.sessionmaker() as session:
            chat = await start_chat(client, session)
    token = chat.citizen.access_token
    send = {"type": "send", "conversation_id": chat.id, "body": "Are you still there?"}
    async with chat_socket(served.app, token) as ws:
        await anyio.to_thread.run_sync(served.postgres.stop)
        try:
            await ws.send_json({**send, "client_id": "during"})
            error = await receive_until(ws, "error", wait=15)
            assert error["code"] == "database_unavailable"
            assert error["client_id"] == "during"
            await settle(ws)  # the socket is still open and answering
            async with connect(served.app, f"?token={token}") as refused:
                assert await close_code(refused, wait=15) == realtime.CLOSE_TRY_AGAIN_LATER
        finally:
            await anyio.to_thread.run_sync(served.postgres.start)
    async with chat_socket(served.app, token) as ws:
        await ws.send_json({**send, "client_id": "after"})
        ack = await receive_until(ws, "ack", wait=15)
        assert ack["message"]["body"] == "Are you still there?"
    async with served.app.state.engine.connect() as conn:
        bodies = (await conn.execute(text("SELECT body FROM chat_messages ORDER BY id"))).scalars().all()
    assert bodies == ["Hello, is my passport ready?", "Are you still there?"]  # the failed send left nothing


async def test_first_requests_after_a_restart_nobody_saw_succeed(served: Served) -> None:
    """The pool's idle connections died with the server while no request ran: each path's first
    request after the restart gets a fresh connection rather than a dead one (no 503, no retry)."""
    async with httpx.AsyncClient(base_url=f"{served.base_url}/api/v1", timeout=30) as client:
        citizen = await register(client)
        paths = ["/users/me", "/appointments?size=1"]
        for path in paths * 3:  # a few pooled connections, used by the ORM and the hot paths
            assert (await client.get(path, headers=citizen.headers)).status_code == 200
        await anyio.to_thread.run_sync(served.postgres.stop)
        await anyio.to_thread.run_sync(served.postgres.start)
        for path in paths * 3:
            response = await client.get(path, headers=citizen.headers)
            assert response.status_code == 200, (path, response.text)
