"""The synchronous write path spends one transaction per follower of the log."""

from __future__ import annotations

from contextlib import contextmanager

import pytest

from tests.factories import licence, random_uscc


def test_catching_up_to_a_write_takes_one_transaction_per_follower(services, monkeypatch):
    services.ledger.after_write = None
    written = services.ledger.license(**licence(random_uscc()))
    opened = []
    real = services.db.transaction

    @contextmanager
    def counting(write=False, **options):
        opened.append(write)
        with real(write=write, **options) as tx:
            yield tx

    monkeypatch.setattr(services.db, "transaction", counting)
    services.projections.catch_up(upto=written.position)
    followers = 1 + len(services.projections.followers)  # the live set and the others
    assert opened.count(True) == followers


def test_projection_commits_do_not_wait_for_the_disk_on_postgresql(services, monkeypatch):
    """Read models are derived: their commits may be lost in a crash (rows and position
    together) and are redone from the log, so they need not wait for the WAL flush."""
    services.ledger.after_write = None
    written = services.ledger.license(**licence(random_uscc()))
    executed = []
    real = services.db.transaction

    @contextmanager
    def recording(write=False, **options):
        with real(write=write, **options) as tx:
            execute = tx.execute

            def spy(sql, params=()):
                executed.append(sql)
                return execute(sql, params)

            tx.execute = spy
            yield tx

    monkeypatch.setattr(services.db, "transaction", recording)
    monkeypatch.setattr(services.projections, "followers", [])  # the read models alone
    services.projections.catch_up(upto=written.position)
    relaxed = "SET LOCAL synchronous_commit TO OFF" in executed
    assert relaxed == services.db.postgres


def test_a_writer_hands_its_own_events_to_the_catch_up_instead_of_reading_them_back(
    services, monkeypatch
):
    reads = []
    real_read = services.log.read
    monkeypatch.setattr(services.log, "read", lambda *a, **k: reads.append(a) or real_read(*a, **k))
    uscc = random_uscc()
    written = services.ledger.license(**licence(uscc))
    assert reads == []  # the projection and the tree took the written events as they are
    live = services.projections.live()
    assert live is not None and live.position == written.position
    with services.db.transaction() as tx:
        assert services.audit.tree.size(tx) == written.position


def test_known_events_are_used_only_when_they_are_exactly_what_comes_next():
    from ledger.storage.eventlog import next_known
    from ledger.storage.events import LoggedEvent

    def at(position):
        return LoggedEvent(position, "id", "U", "Committed", position, "t", "t", {})

    mine = [at(5), at(6)]
    assert next_known(mine, 4, 6) == mine
    assert next_known(mine, 3, 6) == []  # position 4 is someone else's: read the log
    assert next_known(mine, 4, None) == []
    assert next_known(mine, 4, 7) == []
    assert next_known([], 4, 6) == []


def test_a_stored_write_is_reported_as_stored_even_when_the_catch_up_fails(services):
    """A client told "failed" would retry and store the fact twice; the follower
    catches the read models up later."""

    def broken(written):
        raise RuntimeError("read model store hiccup")

    services.ledger.after_write = broken
    uscc = random_uscc()
    written = services.ledger.license(**licence(uscc))
    assert written.version == 1
    with services.db.transaction() as tx:
        assert [e.version for e in services.log.of_enterprise(tx, uscc)] == [1]
    services.projections.catch_up()
    live = services.projections.live()
    assert live is not None and live.position == written.position


def test_on_postgresql_the_read_models_and_tree_commit_with_the_events(services):
    if not services.db.postgres:
        pytest.skip("SQLite catches up after the save (two connections)")
    derived = services.ledger.recorder.after_insert
    assert derived is not None
    written = services.ledger.license(**licence(random_uscc()))
    assert derived.included_upto == written.position
    live = services.projections.live()
    assert live is not None and live.position == written.position
    with services.db.transaction() as tx:
        assert services.audit.tree.size(tx) == written.position


def test_on_postgresql_a_failure_of_the_derived_rows_stores_no_event(services, monkeypatch):
    if not services.db.postgres:
        pytest.skip("PostgreSQL only")
    with services.db.transaction() as tx:
        head = services.log.head(tx)

    def broken(tx, events):
        raise RuntimeError("read model write failed")

    monkeypatch.setattr(services.projections, "apply_stored", broken)
    with pytest.raises(RuntimeError):
        services.ledger.license(**licence(random_uscc()))
    with services.db.transaction() as tx:
        assert services.log.head(tx) == head


def test_events_written_elsewhere_without_projections_are_caught_up_by_the_next_write(
    services, store_settings
):
    from ledger.bootstrap import bootstrap

    other = bootstrap(store_settings, sync_projections=False)  # another process, say
    try:
        elsewhere = other.ledger.license(**licence(random_uscc()))
    finally:
        other.close()
    written = services.ledger.license(**licence(random_uscc()))
    assert written.position == elsewhere.position + 1
    live = services.projections.live()
    assert live is not None and live.position == written.position
    with services.db.transaction() as tx:
        assert services.audit.tree.size(tx) == written.position
        found = {u for (u,) in tx.all("SELECT uscc FROM enterprise_facts")}
    assert {elsewhere.uscc, written.uscc} <= found
