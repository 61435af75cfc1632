"""The synchronous write path spends one transaction per follower of the log."""

from __future__ import annotations

from contextlib import contextmanager

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
