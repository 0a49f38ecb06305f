"""The `queueless` command: serve, migrate, create-admin, db-url, seed-demo, backup, restore."""

import argparse
import asyncio
import getpass
import os
import shutil
import signal
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from app.core import embedded
from app.core.database import resolve_database_url
from app.core.metrics_dir import MULTIPROC_ENV, prepare_multiprocess_dir
from app.core.migrations import upgrade_head
from app.core.settings import ConfigurationError, Settings, get_settings

# Event loops `serve --loop` offers; the first is the default. The standard loop by default: under
# saturation uvloop answered some connections a second late (p99 1.2-1.4 s at a p50 of 100 ms) where
# asyncio's loop kept p99 near 150 ms at the same throughput (bench/README.md, "Event loop").
EVENT_LOOPS = ("asyncio", "uvloop")


def _settings() -> Settings:
    try:
        settings = get_settings()
        settings.check_production_ready()
    except ConfigurationError as exc:
        raise SystemExit(f"queueless: {exc}") from None
    return settings


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    """End `serve` on SIGTERM (`kill`, a process manager) as on Ctrl-C: with a normal exit, so that
    the exit hooks run, among them the one that stops the embedded PostgreSQL. uvicorn shuts down
    gracefully on SIGTERM, then raises it again for the handler it found; Python's default one
    would end the process on the spot and leave the database server running.

    Installed only around `uvicorn.run`: during start-up an exception would also stop a running
    `initdb` half-way (`subprocess.run` kills its child), leaving a data directory that never
    starts again, where the default handler leaves `initdb` to finish."""
    raise SystemExit(0)


def serve(args: argparse.Namespace) -> None:
    import uvicorn

    from app.core.http_protocol import BoundedProtocol

    settings = _settings()
    # Before any worker imports prometheus-client: the workers share this directory (app/core/metrics.py).
    metrics_dir = settings.data_dir.resolve() / "metrics" / str(os.getpid())
    prepare_multiprocess_dir(metrics_dir)
    url = resolve_database_url(settings)
    settings.resolved_secret_key()  # create the development key once, before the workers start
    upgrade_head(url)
    previous_handler = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        uvicorn.run(
            "app.main:app",
            host=args.host,
            port=args.port,
            workers=None if args.reload else args.workers,
            reload=args.reload,
            loop=args.loop,
            http=BoundedProtocol,
            log_config=None,
            proxy_headers=True,
            # WebSocket keep-alive: a protocol ping every 20 s, and a peer silent for 20 s more is
            # dropped. Frames are bounded before they are buffered (the chat closes larger ones).
            ws_ping_interval=20,
            ws_ping_timeout=20,
            ws_max_size=65536,
        )
    finally:
        signal.signal(signal.SIGTERM, previous_handler)
        shutil.rmtree(metrics_dir, ignore_errors=True)
        os.environ.pop(MULTIPROC_ENV, None)


def migrate(args: argparse.Namespace) -> None:
    upgrade_head(resolve_database_url(_settings()))
    print("database is at the latest migration")


def create_admin(args: argparse.Namespace) -> None:
    from app.services.auth import admin_setup

    email = args.email or input("E-mail: ").strip()
    password = args.password or getpass.getpass("Password: ")
    full_name = args.full_name or "Administrator"
    settings = _settings()
    url = resolve_database_url(settings)
    try:
        outcome = asyncio.run(
            admin_setup.ensure_admin(url, settings, email=email, password=password, full_name=full_name)
        )
    except ValueError as exc:
        raise SystemExit(f"queueless: {exc}") from None
    print(outcome)


def db_url(args: argparse.Namespace) -> None:
    settings = _settings()
    started_here = not settings.database_url and not embedded.is_running(settings.data_dir)
    print(resolve_database_url(settings).replace("postgresql+asyncpg://", "postgresql://"))
    if started_here:
        print(
            "note: the embedded server stops when this command exits; start `queueless serve` first.", file=sys.stderr
        )


def seed_demo(args: argparse.Namespace) -> None:
    from app.demo import seed as demo_seed

    settings = _settings()
    url = resolve_database_url(settings)
    upgrade_head(url)
    try:
        report = asyncio.run(
            demo_seed.seed_database(
                url,
                appointments=args.appointments,
                citizens=args.citizens,
                services=args.services,
                bcrypt_rounds=settings.bcrypt_rounds,
                reminder_minutes_before=settings.reminder_minutes_before,
            )
        )
    except ValueError as exc:
        raise SystemExit(f"queueless: {exc}") from None
    print(report)
    print(f"demo accounts: {demo_seed.ADMIN_EMAIL} and the others in README.md, password {demo_seed.PASSWORD!r}")


def _uploads_dir(settings: Settings) -> Path:
    """The documents feature's local storage (STORAGE_URL file://..., by default DATA_DIR/uploads;
    see app/services/documents/dependencies.py). An object store is not copied: refused."""
    from app.core import backup as backups

    url = settings.resolved_storage_url
    if not url.startswith("file://"):
        raise backups.BackupError(
            f"STORAGE_URL is {url.split('://', 1)[0]}://: backup and restore copy local uploads only. Back up "
            "the bucket with its own tools (versioning or replication) and the database with pg_dump."
        )
    return Path(url.removeprefix("file://"))


def backup(args: argparse.Namespace) -> None:
    from app.core import backup as backups

    settings = _settings()
    output = Path(args.output or f"queueless-backup-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.tar")
    try:
        uploads_dir = _uploads_dir(settings)
        manifest = backups.backup(database_url=resolve_database_url(settings), uploads_dir=uploads_dir, output=output)
    except backups.BackupError as exc:
        print(f"queueless: {exc}", file=sys.stderr)
        raise SystemExit(exc.exit_code) from None
    files = len(manifest["files"]) - 1
    print(f"backup written to {output} (revision {', '.join(manifest['alembic_revisions'])}, {files} files)")


def restore(args: argparse.Namespace) -> None:
    from app.core import backup as backups

    settings = _settings()
    try:
        uploads_dir = _uploads_dir(settings)
        manifest = backups.restore(
            database_url=resolve_database_url(settings),
            uploads_dir=uploads_dir,
            archive=Path(args.file),
            migrate=upgrade_head,
        )
    except backups.BackupError as exc:
        print(f"queueless: {exc}", file=sys.stderr)
        raise SystemExit(exc.exit_code) from None
    print(f"restored the backup of {manifest['created_at']} and migrated to the latest revision")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="queueless", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser(
        "serve", help="apply migrations and serve the API (embedded PostgreSQL unless DATABASE_URL)"
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--loop", choices=EVENT_LOOPS, default=EVENT_LOOPS[0], help="event loop (default asyncio)")
    p.add_argument("--reload", action="store_true", help="restart on code changes (development)")
    p.set_defaults(handler=serve)

    p = commands.add_parser("migrate", help="apply every migration")
    p.set_defaults(handler=migrate)

    p = commands.add_parser("create-admin", help="create a platform administrator (or promote an existing account)")
    p.add_argument("--email")
    p.add_argument("--password")
    p.add_argument("--full-name")
    p.set_defaults(handler=create_admin)

    p = commands.add_parser("seed-demo", help="fill the database with demo data (idempotent; tops up)")
    p.add_argument("--appointments", type=int, default=4000, help="total demo appointments (default 4000)")
    p.add_argument("--citizens", type=int, default=300, help="total demo citizens (default 300)")
    p.add_argument("--services", type=int, default=13, help="total demo services; above 13 adds service points")
    p.set_defaults(handler=seed_demo)

    p = commands.add_parser("db-url", help="print the URL of the database (for psql and other tools)")
    p.set_defaults(handler=db_url)

    p = commands.add_parser("backup", help="write the database and the uploaded files to one tar archive")
    p.add_argument("--output", help="the archive to write (default queueless-backup-<UTC time>.tar)")
    p.set_defaults(handler=backup)

    p = commands.add_parser(
        "restore", help="restore an archive of `backup` into an empty database (exit 2 if it is not empty)"
    )
    p.add_argument("file", help="the archive written by `queueless backup`")
    p.set_defaults(handler=restore)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    args.handler(args)
