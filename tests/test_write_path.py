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
    def counting(write=False):
        opened.append(write)
        with real(write=write) as tx:
            yield tx

    monkeypatch.setattr(services.db, "transaction", counting)
    services.projections.catch_up(upto=written.position)
    followers = 1 + len(services.projections.followers)  # the live set and the others
    assert opened.count(True) == followers
