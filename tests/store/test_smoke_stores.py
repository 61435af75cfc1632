"""Both stores: SQLite by default, PostgreSQL by LEDGER_DATABASE_URL (in its own schema),
migrations idempotent, events kept across restarts in the library's `stored_events`."""

from __future__ import annotations

import pytest

from ledger.bootstrap import bootstrap
from ledger.settings import Settings
from ledger.storage.db import Database
from ledger.storage.migrations import migrate, pending_files
from tests.factories import licence, random_uscc


def test_a_licence_is_projected_on_both_stores(services):
    uscc = random_uscc()
    written = services.ledger.license(**licence(uscc))
    assert (written.version, written.position) == (1, 1)
    live = services.projections.live()
    assert live is not None and live.position == 1


def test_migrations_are_idempotent(store_settings):
    db = Database(store_settings)
    try:
        db.create_schema()
        first = migrate(db)
        assert first == [p.stem for p in pending_files(db.dialect)]
        assert migrate(db) == []
        with db.transaction() as tx:
            assert tx.value("SELECT COUNT(*) FROM schema_migrations") == len(first)
    finally:
        db.close()


def test_events_outlive_a_restart(store_settings, clock):
    uscc = random_uscc()
    s = bootstrap(store_settings, clock=clock)
    s.ledger.license(**licence(uscc))
    s.ledger.commit(uscc, committed_at="2025-01-03T09:00:00+08:00", signatory="Wang Li")
    s.close()
    again = bootstrap(store_settings, clock=clock)  # migrates again: a no-op
    try:
        assert again.ledger.enterprise(uscc).version == 2
        with again.db.transaction() as tx:
            assert [e.type for e in again.log.of_enterprise(tx, uscc)] == ["Licensed",
                                                                          "Committed"]
        assert again.ledger.commit(uscc, committed_at="2025-01-04T09:00:00+08:00",
                                   signatory="W").position == 3
    finally:
        again.close()


def test_the_events_live_in_stored_events(services):
    services.ledger.license(**licence(random_uscc()))
    with services.db.transaction() as tx:
        assert tx.value("SELECT COUNT(*) FROM stored_events") == 1


def test_the_postgres_store_uses_its_schema_and_the_gapless_recorder(services):
    if not services.db.postgres:
        from eventsourcing.sqlite import SQLiteApplicationRecorder

        assert isinstance(services.ledger.recorder, SQLiteApplicationRecorder)
        return
    from ledger.storage.gapless import GaplessPostgresApplicationRecorder

    assert isinstance(services.ledger.recorder, GaplessPostgresApplicationRecorder)
    schema = services.settings.database_schema
    with services.db.transaction() as tx:
        tables = {r[0] for r in tx.all(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ?", (schema,)
        )}
    assert {"stored_events", "schema_migrations", "projection_sets"} <= tables


@pytest.mark.sqlite_only
def test_the_default_store_is_sqlite_ledger_db_in_the_working_directory(
    tmp_path, monkeypatch, clock
):
    for name in ("LEDGER_DATABASE_URL", "LEDGER_DATABASE_SCHEMA"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    settings = Settings()
    assert settings.database_url == "sqlite:///ledger.db" and not settings.is_postgres
    s = bootstrap(settings, clock=clock)
    try:
        s.ledger.license(**licence(random_uscc()))
    finally:
        s.close()
    assert (tmp_path / "ledger.db").exists()


@pytest.mark.sqlite_only
def test_a_postgresql_url_selects_postgresql():
    settings = Settings(database_url="postgresql://u:p%40ss@db.local:6543/credit",
                        database_schema="ledger")
    env = settings.eventsourcing_env()
    assert settings.is_postgres
    assert (env["POSTGRES_HOST"], env["POSTGRES_PORT"], env["POSTGRES_DBNAME"]) == (
        "db.local", "6543", "credit"
    )
    assert (env["POSTGRES_USER"], env["POSTGRES_PASSWORD"], env["POSTGRES_SCHEMA"]) == (
        "u", "p@ss", "ledger"
    )
    assert env["PERSISTENCE_MODULE"] == "ledger.storage.gapless:GaplessPostgresFactory"
