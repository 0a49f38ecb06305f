"""The routing guard (`app/core/route_index.py`) changes how fast a route is found, never which."""

import re

import httpx
from fastapi import FastAPI
from starlette.routing import Match

from app.core import route_index


def _scope(path: str, method: str) -> dict[str, object]:
    return {"type": "http", "path": path, "root_path": "", "method": method, "headers": [], "query_string": b""}


def _first_full_match(app: FastAPI, path: str, method: str, *, guarded: bool) -> object | None:
    scope = _scope(path, method)
    for route in app.router.routes:
        matches = route.matches if guarded else type(route).matches.__get__(route)
        if matches(scope)[0] == Match.FULL:
            return route
    return None


def _concrete(path_format: str) -> str:
    return re.sub(r"{[^}]+}", "x1", path_format)


def test_every_route_is_found_through_its_own_router(app: FastAPI) -> None:
    """For each path template of the app, a concrete path reaches the router that holds it, as it
    does without the guard (the guard only skips routers that cannot match)."""
    checked = 0
    for route in app.router.routes:
        for context in getattr(route, "effective_route_contexts", list)():
            if not context.path_format.startswith("/"):
                continue  # no request path is empty
            method = sorted(getattr(context, "methods", None) or {"GET"})[0]
            path = _concrete(context.path_format)
            found = _first_full_match(app, path, method, guarded=True)
            assert found is not None, path
            assert found is _first_full_match(app, path, method, guarded=False), path
            checked += 1
    assert checked > 150


def test_the_index_fits_by_segment_count_and_literals() -> None:
    index = route_index.RouteIndex()
    index.add(1, "/api/v1/tickets/{ticket_id}")
    index.add(2, "/api/v1/organizations/{organization_id}/tickets")
    index.add(3, "/api/v1/{anything}/tickets")
    assert index.fitting("/api/v1/tickets/abc") == {1}
    assert index.fitting("/api/v1/organizations/abc/tickets") == {2}
    assert index.fitting("/api/v1/tickets/tickets") == {1, 3}
    assert index.fitting("/api/v1/tickets/") == set()  # an empty segment is no parameter
    assert index.fitting("/api/v1/tickets/abc/more") == set()
    assert index.fitting("/api/v2/tickets/abc") == set()


async def test_answers_are_unchanged_for_unknown_paths_and_other_methods(client: httpx.AsyncClient) -> None:
    assert (await client.get("/nothing/here")).status_code == 404
    assert (await client.delete("/users/me/nothing")).status_code == 404
    assert (await client.put("/auth/login", json={})).status_code == 405
