"""Every setting of the service, read from the environment (and `.env`) by pydantic-settings.

Each field is documented in README.md under "Configuration".
"""

import secrets
import time
from datetime import timedelta
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Environment(StrEnum):
    development = "development"
    production = "production"
    test = "test"


class ConfigurationError(RuntimeError):
    """A setting makes it unsafe or impossible to start; the message is one line for the operator."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    environment: Environment = Environment.development
    database_url: str | None = None
    data_dir: Path = Path(".data")
    secret_key: str | None = Field(default=None, min_length=32)

    db_pool_size: int = Field(default=40, ge=1, le=500)
    db_max_overflow: int = Field(default=0, ge=0, le=500)

    jwt_issuer: str = "queueless"
    jwt_audience: str = "queueless-api"
    access_token_minutes: int = Field(default=15, ge=1, le=24 * 60)
    refresh_token_days: int = Field(default=30, ge=1, le=365)
    bcrypt_rounds: int = Field(default=12, ge=4, le=16)

    login_failures_per_account: int = Field(default=5, ge=1)
    login_failures_per_address: int = Field(default=50, ge=1)
    login_failure_window_seconds: int = Field(default=900, ge=1)
    registrations_per_address_per_hour: int = Field(default=1000, ge=1)
    api_key_requests_per_minute: int = Field(default=300, ge=1)
    # Password-reset requests and verification re-sends, per e-mail and per client address.
    account_mails_per_email_per_hour: int = Field(default=3, ge=1)
    account_mails_per_address_per_hour: int = Field(default=20, ge=1)
    # Where the web front end lives: e-mailed links point at FRONTEND_URL/reset-password?token=...
    frontend_url: str = "http://localhost:8000"
    # GET /metrics answers only `Authorization: Bearer <METRICS_TOKEN>`; unset, it is 404.
    metrics_token: str | None = Field(default=None, min_length=16)

    # Appointments: check-in opens this many minutes before the start and closes at the end.
    checkin_opens_minutes_before: int = Field(default=120, ge=0, le=24 * 60)

    # Documents, QR codes and check-in (see README "Configuration").
    max_upload_bytes: int = Field(default=10 * 1024 * 1024, ge=1024, le=1024 * 1024 * 1024)
    document_quota_bytes: int = Field(default=100 * 1024 * 1024, ge=0)
    image_max_pixels: int = Field(default=40_000_000, ge=10_000, le=200_000_000)
    qr_key_id: str = Field(default="1", pattern=r"^[0-9A-Z]$")
    qr_retired_keys: dict[str, str] = {}
    # Where document bytes live (README "Running on several machines"): file://PATH or s3://BUCKET/PREFIX.
    storage_url: str | None = None  # unset: file://DATA_DIR/uploads
    storage_s3_endpoint: str | None = None  # unset: AWS S3 of the region (or AWS_ENDPOINT)
    storage_s3_region: str | None = None  # unset: AWS_REGION / AWS_DEFAULT_REGION, else us-east-1
    storage_s3_access_key_id: str | None = None  # unset: the AWS credential chain (AWS_* variables, ...)
    storage_s3_secret_access_key: str | None = None

    # Limits on what a client may send (README "Production").
    max_json_body_bytes: int = Field(default=1024 * 1024, ge=1024, le=256 * 1024 * 1024)
    max_header_bytes: int = Field(default=32 * 1024, ge=1024, le=1024 * 1024)
    max_header_count: int = Field(default=100, ge=10, le=1000)
    header_timeout_seconds: float = Field(default=10, gt=0, le=300)
    max_connections: int | None = Field(default=None, ge=1)  # unset: 3/4 of the open-file limit
    accept_error_log_seconds: float = Field(default=10, gt=0, le=3600)

    cors_origins: list[str] = []
    log_level: str = "INFO"
    log_json: bool | None = None

    # Notifications: reminders and the e-mail outbox (app/services/notifications; README "Notifications").
    reminder_minutes_before: list[int] = [24 * 60, 60]
    reminder_poll_seconds: float = Field(default=60, gt=0, le=3600)
    notification_workers: bool | None = None  # unset: on, except with ENVIRONMENT=test
    smtp_host: str | None = None  # unset: e-mails are written to the log instead
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_security: str = Field(default="starttls", pattern="^(starttls|ssl|none)$")
    smtp_timeout_seconds: float = Field(default=10, gt=0, le=300)
    mail_from: str = "Queueless <no-reply@queueless.invalid>"
    outbox_poll_seconds: float = Field(default=5, gt=0, le=3600)
    outbox_max_attempts: int = Field(default=6, ge=1, le=50)
    outbox_retry_base_seconds: float = Field(default=30, ge=0, le=86400)

    # Helpdesk (app/services/tickets; README "Helpdesk").
    ticket_reopen_days: int = Field(default=7, ge=0, le=365)
    sla_breach_poll_seconds: float = Field(default=10, gt=0, le=15)
    # Helpdesk part 2 (README "Knowledge base and assistant", "Webhooks").
    assistant_asks_per_window: int = Field(default=30, ge=1)
    assistant_window_seconds: int = Field(default=60, ge=1, le=86400)
    webhook_timeout_seconds: float = Field(default=10, gt=0, le=60)
    webhook_poll_seconds: float = Field(default=2, gt=0, le=3600)
    inbound_max_bytes: int = Field(default=25 * 1024 * 1024, ge=1024, le=200 * 1024 * 1024)

    @field_validator("database_url")
    @classmethod
    def _normalise_database_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        return to_asyncpg_url(value)

    @field_validator("storage_url")
    @classmethod
    def _check_storage_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        if value.startswith("file://") and len(value) > len("file://"):
            return value
        if value.startswith("s3://") and value.removeprefix("s3://").partition("/")[0]:
            return value
        raise ValueError("STORAGE_URL must be file://PATH or s3://BUCKET[/PREFIX]")

    @field_validator("reminder_minutes_before")
    @classmethod
    def _check_reminders(cls, value: list[int]) -> list[int]:
        if len(value) > 10 or any(not 1 <= minutes <= 30 * 24 * 60 for minutes in value):
            raise ValueError("at most 10 reminders, each 1 minute to 30 days before")
        return sorted(set(value), reverse=True)

    @property
    def notification_workers_enabled(self) -> bool:
        if self.notification_workers is None:
            return self.environment is not Environment.test
        return self.notification_workers

    @property
    def resolved_storage_url(self) -> str:
        return self.storage_url or f"file://{self.data_dir / 'uploads'}"

    @property
    def checkin_opens_before(self) -> timedelta:
        return timedelta(minutes=self.checkin_opens_minutes_before)

    @property
    def is_production(self) -> bool:
        return self.environment is Environment.production

    @property
    def json_logs(self) -> bool:
        return self.is_production if self.log_json is None else self.log_json

    def check_production_ready(self) -> None:
        if not self.is_production:
            return
        missing = [name for name in ("SECRET_KEY", "DATABASE_URL") if not getattr(self, name.lower())]
        if missing:
            raise ConfigurationError(
                f"ENVIRONMENT=production needs {' and '.join(missing)} set explicitly; refusing to start."
            )

    def resolved_secret_key(self) -> str:
        """The signing key: the configured one, or in development one generated once under DATA_DIR."""
        if self.secret_key:
            return self.secret_key
        self.check_production_ready()
        return _development_secret(self.data_dir)


def to_asyncpg_url(url: str) -> str:
    """Accept `postgresql://` and `postgres://` as well as `postgresql+asyncpg://`."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise ValueError("DATABASE_URL must be a postgresql:// URL")


def _development_secret(data_dir: Path) -> str:
    path = data_dir / "secret_key"
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: when several processes start at once exactly one writes the key, the others read it.
        with path.open("x", encoding="utf-8") as handle:
            path.chmod(0o600)
            handle.write(secrets.token_urlsafe(48))
    except FileExistsError:
        pass
    for _ in range(50):
        key = path.read_text(encoding="utf-8").strip()
        if key:
            return key
        time.sleep(0.02)
    raise ConfigurationError(f"{path} is empty; delete it to generate a new development key.")


@lru_cache
def get_settings() -> Settings:
    return Settings()
