"""Where a read goes (``ReadSides.choose``), with stand-in databases: the replica when it
is there, the primary past the wait, at once for a position beyond the log, and never
a failed read when the replica fails (a query cancelled by replay leaves it in use; a
lost connection sends reads to the primary until a probe reaches it again)."""

from __future__ import annotations

import time
from typing import Any

import psycopg
import pytest

from ledger.services import replica as module
from ledger.services.replica import ReadSide, ReadSides


class Side:
    """A database's read side: its read position, its log's head, and a failure to raise."""

    wait_for = ReadSide.wait_for

    def __init__(self, name: str, position: int, head: int | None = None) -> None:
        self.name = name
        self.at = position
        self.log_head = position if head is None else head
        self.error: Exception | None = None
        self.standing = self  # view.standing.<method> runs against the side itself

    def position(self, fresh: bool = False) -> int:
        if self.error is not None:
            raise self.error
        return self.at

    def head(self) -> int:
        return self.log_head

    def answer(self) -> str:
        if self.error is not None:
            raise self.error
        return self.name


def sides(replica_at: int, primary_at: int = 10, wait: float = 0.05) -> tuple[Any, Side, Side]:
    primary, replica = Side("primary", primary_at), Side("replica", replica_at)
    return ReadSides(primary, replica, wait), primary, replica  # type: ignore[arg-type]


def test_the_replica_answers_when_it_is_there() -> None:
    reads, _, _ = sides(replica_at=8)
    assert reads.choose(None).served_by == "replica"  # late, but no position asked
    view = reads.choose(8)
    assert (view.served_by, view.position) == ("replica", 8)


def test_a_late_replica_hands_min_position_to_the_primary_after_the_wait() -> None:
    reads, _, _ = sides(replica_at=8, wait=0.1)
    started = time.monotonic()
    view = reads.choose(10)
    assert time.monotonic() - started >= 0.1
    assert (view.served_by, view.position) == ("primary", 10)


def test_a_replica_that_catches_up_within_the_wait_answers() -> None:
    reads, _, replica = sides(replica_at=8, wait=2.0)
    original = replica.position

    def catching_up(fresh: bool = False) -> int:
        replica.at = min(10, replica.at + 1)
        return original(fresh)

    replica.position = catching_up  # type: ignore[method-assign]
    assert reads.choose(10).served_by == "replica"


def test_a_position_beyond_the_log_is_not_waited_for() -> None:
    reads, _, _ = sides(replica_at=8, wait=5.0)
    started = time.monotonic()
    view = reads.choose(11)
    assert time.monotonic() - started < 1.0
    assert (view.served_by, view.position) == ("primary", 10)


def test_a_cancelled_query_falls_back_once_and_keeps_the_replica(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reads, _, replica = sides(replica_at=10)
    view = reads.choose(None)
    replica.error = psycopg.errors.SerializationFailure("conflict with recovery")
    assert view.standing.answer() == "primary" and view.served_by == "primary"
    replica.error = None
    assert reads.replica_up and reads.choose(None).served_by == "replica"


def test_a_lost_replica_sends_reads_to_the_primary_until_a_probe_finds_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(module, "PROBE", 0.02)
    reads, _, replica = sides(replica_at=10)
    view = reads.choose(None)
    replica.error = psycopg.OperationalError("connection refused")
    assert view.standing.answer() == "primary"  # the read itself does not fail
    assert not reads.replica_up and reads.error == "connection refused"
    assert reads.choose(10).served_by == "primary"
    replica.error = None
    deadline = time.monotonic() + 5
    while not reads.replica_up:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert reads.choose(10).served_by == "replica" and reads.error is None
    reads.close()


def test_a_domain_error_is_not_a_replica_failure() -> None:
    reads, _, replica = sides(replica_at=10)
    replica.error = LookupError("not found")
    with pytest.raises(LookupError):
        reads.choose(None)
    assert reads.replica_up


def test_the_replica_settings() -> None:
    from pydantic import ValidationError

    from ledger.settings import Settings

    primary = Settings(database_url="postgresql://ledger@primary/ledger", database_schema="s1",
                       replica_url="postgresql://ro@standby:5433/ledger")
    assert primary.postgres_conninfo == "postgresql://ledger@primary/ledger"  # cached first
    replica = primary.replica()
    assert replica is not None and replica.replica_url is None
    assert replica.postgres_conninfo == "postgresql://ro@standby:5433/ledger"
    assert replica.database_schema == "s1" and primary.replica_wait == 2.0
    assert Settings(database_url="postgresql://ledger@primary/ledger").replica() is None
    with pytest.raises(ValidationError, match="needs a PostgreSQL"):
        Settings(database_url="sqlite:///x.db", replica_url="postgresql://ro@standby/ledger")
    with pytest.raises(ValidationError, match="postgresql://"):
        Settings(database_url="postgresql://a@b/c", replica_url="mysql://ro@standby/ledger")


def test_a_fresh_position_is_chosen_without_io() -> None:
    class Cached(Side):
        def cached(self) -> int | None:
            return self.at

    primary, replica = Cached("primary", 10), Cached("replica", 8)
    reads = ReadSides(primary, replica, 0.05)  # type: ignore[arg-type]
    assert reads.choose_cached(None).served_by == "replica"  # type: ignore[union-attr]
    assert reads.choose_cached(8).position == 8  # type: ignore[union-attr]
    assert reads.choose_cached(9) is None  # needs a wait: the thread pool
    replica.cached = lambda: None  # type: ignore[method-assign]
    assert reads.choose_cached(None) is None


def test_a_deferred_view_chooses_at_its_first_use_in_the_callers_thread() -> None:
    class Stale(Side):
        _position = 7  # the last position known, now stale

        def cached(self) -> int | None:
            return None

    primary, replica = Stale("primary", 10), Stale("replica", 9)
    reads = ReadSides(primary, replica, 0.05)  # type: ignore[arg-type]
    asked: list[str] = []
    original = replica.position

    def position(fresh: bool = False) -> int:
        asked.append("replica")
        return original(fresh)

    replica.position = position  # type: ignore[method-assign]
    view = reads.deferred(9)
    assert asked == []  # nothing read yet: no thread hop of its own
    assert view.known_position() == 7  # a 422 before any use: the last known, no I/O
    assert view.standing.answer() == "replica" and asked == ["replica"]
    assert (view.served_by, view.position, view.known_position()) == ("replica", 9, 9)


def test_a_write_of_this_process_raises_the_remembered_position() -> None:
    side = ReadSide("primary", None, None, None, None)  # type: ignore[arg-type]
    side._position, side._asked_at = 5, time.monotonic()
    side.reached(12)
    assert side.cached() == 12
    side.reached(3)  # never lowered
    assert side.cached() == 12
