"""Configuration: one `Settings` class read from `LEDGER_*` variables, validated at start-up."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_KEY_FILE = "ledger-signing.key"


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
    pool_size: int = Field(
        10, gt=0, le=1000, description="PostgreSQL connections per process"
    )
    group_commit: bool = Field(
        True, description="write saves that arrive together in one transaction (group commit)"
    )
    rate_limit: float = Field(
        1000.0, gt=0, le=1_000_000_000, description="default requests/second per API key"
    )
    public_rate_limit: float = Field(
        10.0, gt=0, le=1_000_000,
        description="requests/second per client address on the public pages",
    )
    public_burst: int | None = Field(
        None, ge=1, le=1_000_000,
        description="requests a client address may send at once (default: twice the rate)",
    )
    trusted_proxies: str = Field(
        "", description="comma-separated addresses or networks of reverse proxies whose "
        "X-Forwarded-For is believed",
    )
    verification_days: int = Field(
        60, gt=0, le=3650, description="days from commitment to first check"
    )
    queue_horizon_days: int = Field(
        14, ge=0, le=3660, description="supervision queue: due within N days"
    )
    policy: str = Field("v1", description="credit policy of the live read models at first start")
    poll_interval: float = Field(
        0.05, gt=0, le=60, description="projection runner poll interval (s)"
    )
    lease_seconds: float = Field(
        30.0, gt=0, le=3600, description="a rebuild worker's lease on a segment (s): a worker "
        "silent for longer loses it and another redoes the segment",
    )
    checkpoint_interval: float = Field(
        60.0, gt=0, le=86400, description="seconds between auto checkpoints"
    )
    signing_key: str | None = Field(
        None, description="Ed25519 private key, base64 of 32 raw bytes (default: the key file)"
    )
    signing_key_file: str | None = Field(
        None,
        description="file holding the signing key when LEDGER_SIGNING_KEY is unset (default "
        "ledger-signing.key beside the SQLite file, or in the working directory for "
        "PostgreSQL); created with mode 0600 at first start when missing",
    )
    letter_token_days: int = Field(
        30, gt=0, le=3650, description="validity of a QR commitment link (at most 10 years)"
    )
    secret_key: str | None = Field(None, description="HMAC secret for links and sessions")
    public_url: str = Field(
        "http://127.0.0.1:8000", pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$",
        description="base URL printed in QR codes",
    )
    letter_conditions: str | None = Field(
        None, description="JSON file with the commitment letter's conditions per place type"
    )

    replica_url: str | None = Field(
        None,
        description="postgresql://... of a hot standby of database_url: reads are served "
        "from it (writes, keys, idempotency and the access log stay on the primary)",
    )
    replica_wait: float = Field(
        2.0, ge=0, le=60,
        description="seconds a read with min_position waits for the replica before the "
        "primary answers",
    )

    @field_validator("database_url")
    @classmethod
    def _known_scheme(cls, v: str) -> str:
        if not (v.startswith("sqlite:///") or v.startswith(("postgresql://", "postgres://"))):
            raise ValueError("must start with sqlite:/// or postgresql://")
        return v

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, v: str) -> str:
        import ipaddress

        for part in filter(None, (p.strip() for p in v.split(","))):
            try:
                ipaddress.ip_network(part, strict=False)
            except ValueError:
                raise ValueError(f"{part!r} is not an IP address or network") from None
        return v

    @cached_property
    def proxy_networks(self) -> tuple[Any, ...]:
        import ipaddress

        return tuple(
            ipaddress.ip_network(p.strip(), strict=False)
            for p in self.trusted_proxies.split(",") if p.strip()
        )

    @cached_property
    def public_capacity(self) -> float:
        return float(self.public_burst or max(1.0, 2 * self.public_rate_limit))

    @field_validator("replica_url")
    @classmethod
    def _postgres_replica(cls, v: str | None) -> str | None:
        if v in (None, ""):
            return None
        if not v.startswith(("postgresql://", "postgres://")):
            raise ValueError("must start with postgresql:// (a hot standby of the primary)")
        return v

    @model_validator(mode="after")
    def _replica_of_postgres(self) -> Settings:
        if self.replica_url is not None and not self.is_postgres:
            raise ValueError("LEDGER_REPLICA_URL needs a PostgreSQL LEDGER_DATABASE_URL")
        return self

    def replica(self) -> Settings | None:
        """The settings of the replica's database (same schema), when one is set."""
        if self.replica_url is None:
            return None
        # built anew, not model_copy: the cached properties (conninfo) must not carry over
        return type(self)(**{**self.model_dump(), "database_url": self.replica_url,
                             "replica_url": None})

    @cached_property
    def is_postgres(self) -> bool:
        return not self.database_url.startswith("sqlite:")

    @cached_property
    def sqlite_path(self) -> str:
        return self.database_url.removeprefix("sqlite:///")

    @cached_property
    def signing_key_path(self) -> Path:
        if self.signing_key_file:
            return Path(self.signing_key_file)
        if self.is_postgres:
            return Path.cwd() / DEFAULT_KEY_FILE
        return Path(self.sqlite_path).resolve().parent / DEFAULT_KEY_FILE

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
        from psycopg.conninfo import conninfo_to_dict

        # libpq's parser: several hosts (``postgresql://u@h1:p1,h2:p2/db``) for failover
        url = conninfo_to_dict(self.postgres_conninfo)
        env = {
            "PERSISTENCE_MODULE": "ledger.storage.gapless:GaplessPostgresFactory",
            "POSTGRES_DBNAME": str(url.get("dbname") or "postgres"),
            "POSTGRES_HOST": str(url.get("host") or "127.0.0.1"),
            "POSTGRES_PORT": str(url.get("port") or 5432),
            "POSTGRES_USER": str(url.get("user") or "postgres"),
            "POSTGRES_PASSWORD": str(url.get("password") or ""),
            "POSTGRES_POOL_SIZE": str(self.pool_size),
            "POSTGRES_MAX_OVERFLOW": str(self.pool_size * 2),
            "POSTGRES_LOCK_TIMEOUT": "10",
            "POSTGRES_PRE_PING": "y",  # broken pooled connections are replaced at checkout
            "POSTGRES_CONNECT_TIMEOUT": "5",
            "CREATE_TABLE": "true",
        }
        if self.database_schema:
            env["POSTGRES_SCHEMA"] = self.database_schema
        if url.get("target_session_attrs"):
            env["POSTGRES_TARGET_SESSION_ATTRS"] = str(url["target_session_attrs"])
        if self.group_commit:
            env["APPLICATION_RECORDER_TOPIC"] = (
                "ledger.storage.groupcommit:GroupCommitPostgresRecorder"
            )
        return env
