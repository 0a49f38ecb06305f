"""Every setting of the service, read from the environment (and `.env`) by pydantic-settings.

Each field is documented in README.md under "Configuration".
"""

import secrets
import time
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

    db_pool_size: int = Field(default=20, ge=1, le=500)
    db_max_overflow: int = Field(default=20, ge=0, le=500)

    jwt_issuer: str = "queueless"
    jwt_audience: str = "queueless-api"
    access_token_minutes: int = Field(default=15, ge=1, le=24 * 60)
    refresh_token_days: int = Field(default=30, ge=1, le=365)
    bcrypt_rounds: int = Field(default=12, ge=4, le=16)

    login_failures_per_account: int = Field(default=5, ge=1)
    login_failures_per_address: int = Field(default=50, ge=1)
    login_failure_window_seconds: int = Field(default=900, ge=1)
    registrations_per_address_per_hour: int = Field(default=1000, ge=1)

    cors_origins: list[str] = []
    log_level: str = "INFO"
    log_json: bool | None = None

    @field_validator("database_url")
    @classmethod
    def _normalise_database_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        return to_asyncpg_url(value)

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
