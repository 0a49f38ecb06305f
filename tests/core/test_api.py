import httpx
import pytest
from fastapi import FastAPI

from tests.helpers import assert_problem


@pytest.fixture
async def root_client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_health_live_and_ready(root_client: httpx.AsyncClient) -> None:
    assert (await root_client.get("/health/live")).json() == {"status": "ok"}
    ready = await root_client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok"}


async def test_ready_is_503_when_migrations_are_behind(root_client: httpx.AsyncClient, app: FastAPI) -> None:
    heads = app.state.migration_heads
    app.state.migration_heads = {"a-newer-revision"}
    try:
        assert (await root_client.get("/health/ready")).status_code == 503
    finally:
        app.state.migration_heads = heads


async def test_docs_and_openapi_are_served(root_client: httpx.AsyncClient) -> None:
    assert (await root_client.get("/docs")).status_code == 200
    assert (await root_client.get("/redoc")).status_code == 200
    schema = (await root_client.get("/api/openapi.json")).json()
    assert "/api/v1/auth/register" in schema["paths"]


async def test_request_id_is_echoed_when_valid_and_replaced_otherwise(root_client: httpx.AsyncClient) -> None:
    echoed = await root_client.get("/health/live", headers={"X-Request-ID": "abc.DEF_123-x"})
    assert echoed.headers["x-request-id"] == "abc.DEF_123-x"
    replaced = await root_client.get("/health/live", headers={"X-Request-ID": "bad id with spaces"})
    assert replaced.headers["x-request-id"] != "bad id with spaces"
    assert len(replaced.headers["x-request-id"]) == 32
    another = await root_client.get("/health/live")
    assert another.headers["x-request-id"] != replaced.headers["x-request-id"]
    assert int(another.headers["x-request-id"], 16) >= 0  # hex, like the ids callers send
    too_long = await root_client.get("/health/live", headers={"X-Request-ID": "a" * 129})
    assert too_long.headers["x-request-id"] != "a" * 129


async def test_unknown_route_is_a_problem(root_client: httpx.AsyncClient) -> None:
    assert_problem(await root_client.get("/api/v1/nothing-here"), 404, "not_found")


async def test_malformed_json_is_a_validation_problem(client: httpx.AsyncClient) -> None:
    response = await client.post("/auth/login", content=b"{not json", headers={"Content-Type": "application/json"})
    assert_problem(response, 422, "validation_error")


async def test_unexpected_error_is_a_500_problem_with_request_id_and_no_trace(app: FastAPI) -> None:
    @app.get("/api/v1/_boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        response = await c.get("/api/v1/_boom", headers={"X-Request-ID": "trace-me"})
    app.router.routes.pop()
    body = assert_problem(response, 500, "internal_error")
    assert body["request_id"] == "trace-me"
    assert response.headers["x-request-id"] == "trace-me"
    assert "secret internals" not in response.text


async def test_nul_character_is_a_validation_problem_not_a_500(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/organizations", params={"q": "a\x00b"}), 422, "validation_error")
    response = await client.post(
        "/auth/register", json={"email": "nul@example.org", "password": "long enough pass", "full_name": "A\x00"}
    )
    assert_problem(response, 422, "validation_error")


async def test_dates_at_the_end_of_the_calendar_are_422(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/services/00000000-0000-0000-0000-000000000000/slots", params={"from": "9999-12-30", "to": "9999-12-31"}
    )
    assert response.status_code in (404, 422)


def test_tokens_in_query_strings_are_redacted_from_logs() -> None:
    import logging

    from app.core.logging import redact_tokens

    record = logging.makeLogRecord(
        {"msg": '%s - "WebSocket %s" [accepted]', "args": ("127.0.0.1", "/api/v1/ws/chat?token=eyJabc.def&x=1")}
    )
    redact_tokens(record)
    assert "eyJabc" not in record.getMessage()
    assert "token=[redacted]&x=1" in record.getMessage()
