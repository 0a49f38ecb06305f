"""Running Alembic from code (the CLI, the tests) with the same configuration as `alembic`."""

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def alembic_config(database_url: str | None = None) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    if database_url:
        # env.py reads this instead of resolving the settings again.
        config.attributes["database_url"] = database_url
    return config


def upgrade_head(database_url: str) -> None:
    """Apply every migration. Must run outside an event loop (env.py runs its own)."""
    command.upgrade(alembic_config(database_url), "head")


def head_revisions() -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config()).get_heads())
