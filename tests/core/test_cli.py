from typing import Any

import pytest

from app import cli


@pytest.mark.parametrize(("argv", "loop"), [([], "asyncio"), (["--loop", "uvloop"], "uvloop")])
def test_serve_runs_uvicorn_on_the_chosen_event_loop(
    monkeypatch: pytest.MonkeyPatch, argv: list[str], loop: str
) -> None:
    import uvicorn

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(cli, "upgrade_head", lambda url: None)
    monkeypatch.setattr(cli, "resolve_database_url", lambda settings: "postgresql://unused")
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: calls.append({"app": app, **options}))
    cli.main(["serve", "--port", "8123", *argv])
    assert [(call["app"], call["port"], call["loop"]) for call in calls] == [("app.main:app", 8123, loop)]
