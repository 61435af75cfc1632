"""Fixtures shared by every layer of tests.

``services`` runs each test on SQLite and on PostgreSQL (its own schema, dropped
after). Under ``CI=true`` an unreachable PostgreSQL fails the test; elsewhere it skips.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from ledger.bootstrap import Services, bootstrap
from ledger.settings import Settings
from tests.support.pgcluster import PgCluster, PgUnavailable

POSTGRES_URL = os.environ.get(
    "LEDGER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
STORES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


class FixedClock:
    """The ledger's clock for tests: ``recorded_at`` moves only when told to."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def postgres_available() -> str | None:
    import psycopg

    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3):
            return None
    except Exception as e:  # noqa: BLE001
        return str(e).splitlines()[0]


def need_postgres() -> None:
    problem = postgres_available()
    if problem is not None:
        message = f"PostgreSQL at {POSTGRES_URL} is unreachable: {problem}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(autouse=True, scope="session")
def _session_signing_key_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Fixtures wider than a test (module-scoped apps) keep their key file here."""
    with pytest.MonkeyPatch.context() as patch:
        path = tmp_path_factory.mktemp("signing-session") / "ledger-signing.key"
        patch.setenv("LEDGER_SIGNING_KEY_FILE", str(path))
        yield


@pytest.fixture(autouse=True)
def _signing_key_file(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each test's signing key file lives in a temporary directory (subprocesses inherit
    it), never in the working tree."""
    path = tmp_path_factory.mktemp("signing") / "ledger-signing.key"
    monkeypatch.setenv("LEDGER_SIGNING_KEY_FILE", str(path))


@pytest.fixture
def store_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """Settings for a fresh, empty store of the kind the test is parametrised with."""
    kind = getattr(request, "param", "sqlite")
    if kind == "sqlite":
        yield Settings(database_url=f"sqlite:///{tmp_path / 'ledger.db'}")
        return
    need_postgres()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    yield Settings(database_url=POSTGRES_URL, database_schema=schema, pool_size=4)
    import psycopg

    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 1, 1, 4, 0, tzinfo=timezone.utc))


@pytest.fixture
def services(store_settings: Settings, clock: FixedClock) -> Iterator[Services]:
    s = bootstrap(store_settings, clock=clock)
    yield s
    s.close()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test that uses a store runs on both SQLite and PostgreSQL."""
    if "store_settings" in metafunc.fixturenames and not any(
        m.name == "sqlite_only" for m in metafunc.definition.iter_markers()
    ):
        metafunc.parametrize("store_settings", STORES, indirect=True)


@pytest.fixture
def pg_cluster() -> Iterator[PgCluster]:
    """A PostgreSQL cluster of the test's own (free port, temp dir), started; tests may
    stop, restart or fail it over. Missing server binaries fail under CI, else skip."""
    try:
        cluster = PgCluster()
    except PgUnavailable as e:
        if IN_CI:
            pytest.fail(str(e))
        pytest.skip(str(e))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.cleanup()
