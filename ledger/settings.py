"""Configuration: one `Settings` class read from `LEDGER_*` variables, validated at start-up."""

from __future__ import annotations

from functools import cached_property
from urllib.parse import unquote, urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEDGER_", frozen=True, extra="ignore")

    database_url: str = Field(
        "sqlite:///ledger.db",
        description="sqlite:///path.db or postgresql://user[:password]@host[:port]/dbname",
    )
    database_schema: str | None = Field(
        None, pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        description="PostgreSQL schema for all tables (default: public)",
    )
    pool_size: int = Field(10, gt=0, description="PostgreSQL connections per process")
    group_commit: bool = Field(
        True, description="write saves that arrive together in one transaction (group commit)"
    )
    rate_limit: float = Field(1000.0, gt=0, description="default requests/second per API key")
    verification_days: int = Field(60, gt=0, description="days from commitment to first check")
    queue_horizon_days: int = Field(14, ge=0, description="supervision queue: due within N days")
    policy: str = Field("v1", description="credit policy of the live read models at first start")
    poll_interval: float = Field(0.05, gt=0, description="projection runner poll interval (s)")
    checkpoint_interval: float = Field(60.0, gt=0, description="seconds between auto checkpoints")
    signing_key: str | None = Field(
        None, description="Ed25519 private key, base64 of 32 raw bytes (default: generated)"
    )
    letter_token_days: int = Field(30, gt=0, description="validity of a QR commitment link")
    secret_key: str | None = Field(None, description="HMAC secret for links and sessions")
    public_url: str = Field("http://127.0.0.1:8000", description="base URL printed in QR codes")
    letter_conditions: str | None = Field(
        None, description="JSON file with the commitment letter's conditions per place type"
    )

    @field_validator("database_url")
    @classmethod
    def _known_scheme(cls, v: str) -> str:
        if not (v.startswith("sqlite:///") or v.startswith(("postgresql://", "postgres://"))):
            raise ValueError("must start with sqlite:/// or postgresql://")
        return v

    @cached_property
    def is_postgres(self) -> bool:
        return not self.database_url.startswith("sqlite:")

    @cached_property
    def sqlite_path(self) -> str:
        return self.database_url.removeprefix("sqlite:///")

    @cached_property
    def postgres_conninfo(self) -> str:
        return self.database_url.replace("postgres://", "postgresql://", 1)

    def eventsourcing_env(self) -> dict[str, str]:
        """The event store's own environment variables, mapped in this one place."""
        if not self.is_postgres:
            env = {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": self.sqlite_path,
                "SQLITE_LOCK_TIMEOUT": "30",
                "CREATE_TABLE": "true",
            }
            env["APPLICATION_RECORDER_TOPIC"] = (
                "ledger.storage.groupcommit:GroupCommitSQLiteRecorder" if self.group_commit
                else "ledger.storage.hooked:HookedSQLiteApplicationRecorder"
            )
            return env
        url = urlsplit(self.postgres_conninfo)
        env = {
            "PERSISTENCE_MODULE": "ledger.storage.gapless:GaplessPostgresFactory",
            "POSTGRES_DBNAME": url.path.lstrip("/"),
            "POSTGRES_HOST": url.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(url.port or 5432),
            "POSTGRES_USER": unquote(url.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(url.password or ""),
            "POSTGRES_POOL_SIZE": str(self.pool_size),
            "POSTGRES_MAX_OVERFLOW": str(self.pool_size * 2),
            "POSTGRES_LOCK_TIMEOUT": "10",
            "CREATE_TABLE": "true",
        }
        if self.database_schema:
            env["POSTGRES_SCHEMA"] = self.database_schema
        if self.group_commit:
            env["APPLICATION_RECORDER_TOPIC"] = (
                "ledger.storage.groupcommit:GroupCommitPostgresRecorder"
            )
        return env
