"""The in-transaction write hook: ``in_tx(tx, events)`` commits or rolls back with the
events of the command that carries it, on both stores and inside a group commit."""

from __future__ import annotations

from typing import Any

import pytest

from ledger.errors import ConcurrentWrite
from ledger.storage.db import Tx
from ledger.storage.events import LoggedEvent
from ledger.storage.groupcommit import GroupCommit, _Save
from tests.factories import licence, random_uscc


class Refused(Exception):
    pass


@pytest.fixture
def probe(services: Any) -> Any:
    with services.db.transaction(write=True) as tx:
        tx.execute("CREATE TABLE hook_probe (position INTEGER PRIMARY KEY, uscc TEXT, "
                   "type TEXT)")
    return services


def probe_rows(services: Any) -> list[tuple[Any, ...]]:
    with services.db.transaction() as tx:
        return [tuple(r) for r in tx.all("SELECT position, uscc, type FROM hook_probe "
                                         "ORDER BY position")]


def record(tx: Tx, events: list[LoggedEvent]) -> None:
    for e in events:
        tx.execute("INSERT INTO hook_probe (position, uscc, type) VALUES (?, ?, ?)",
                   (e.position, e.uscc, e.type))


def event_count(services: Any) -> int:
    with services.db.transaction() as tx:
        return len(services.log.read(tx, 0, 10_000))


def test_the_hook_runs_in_the_write_with_the_decoded_events(probe: Any) -> None:
    uscc = random_uscc()
    seen: list[LoggedEvent] = []

    def hook(tx: Tx, events: list[LoggedEvent]) -> None:
        seen.extend(events)
        # the events are visible in the transaction that stores them
        assert tx.value("SELECT count(*) FROM stored_events") == events[-1].position
        record(tx, events)

    w = probe.ledger.license(**licence(uscc), in_tx=hook)
    assert [e.position for e in seen] == [e.position for e in w.events] == [1]
    assert seen[0].uscc == uscc and seen[0].type == "Licensed" and seen[0].version == 1
    w2 = probe.ledger.commit(uscc, committed_at="2025-01-03T09:00:00+08:00",
                             signatory="Wang Li", in_tx=record)
    assert probe_rows(probe) == [(1, uscc, "Licensed"), (w2.position, uscc, "Committed")]


def test_a_hook_that_raises_stores_nothing_and_its_error_reaches_the_caller(
    probe: Any,
) -> None:
    uscc = random_uscc()
    probe.ledger.license(**licence(uscc))

    def refuse(tx: Tx, events: list[LoggedEvent]) -> None:
        record(tx, events)
        raise Refused("no")

    with pytest.raises(Refused):
        probe.ledger.commit(uscc, committed_at="2025-01-03T09:00:00+08:00",
                            signatory="Wang Li", in_tx=refuse)
    assert event_count(probe) == 1 and probe_rows(probe) == []
    assert probe.ledger.enterprise(uscc).version == 1
    # the position was not burnt: the next write takes position 2
    w = probe.ledger.commit(uscc, committed_at="2025-01-03T09:00:00+08:00",
                            signatory="Wang Li")
    assert w.position == 2 and w.version == 2


def test_a_hooks_own_database_error_is_not_taken_for_a_version_conflict(probe: Any) -> None:
    uscc = random_uscc()
    probe.ledger.license(**licence(uscc), in_tx=record)

    def duplicate(tx: Tx, events: list[LoggedEvent]) -> None:
        tx.execute("INSERT INTO hook_probe (position, uscc, type) VALUES (1, 'x', 'y')")

    with pytest.raises(Exception) as caught:
        probe.ledger.commit(uscc, committed_at="2025-01-03T09:00:00+08:00",
                            signatory="Wang Li", in_tx=duplicate)
    assert not isinstance(caught.value, ConcurrentWrite)
    assert "unique" in str(caught.value).lower() or "duplicate" in str(caught.value).lower()
    assert event_count(probe) == 1


def test_in_a_group_each_save_gets_its_own_events_and_a_refusal_fails_only_its_save(
    probe: Any,
) -> None:
    recorder = probe.ledger.recorder
    assert isinstance(recorder, GroupCommit)
    mapper = probe.ledger.mapper
    from ledger.aggregates.enterprise import Enterprise

    def pending(uscc: str) -> list[Any]:
        agg = Enterprise.license(
            uscc=uscc, name="n", place_type="barbershop", address="a", district="230109",
            legal_representative="r", occurred_at="2025-01-02T09:00:00+08:00",
            now=probe.ledger.clock(),
        )
        return [mapper.to_stored_event(ev) for ev in agg.collect_events()]

    a, b, c = random_uscc(), random_uscc(), random_uscc()
    seen: dict[str, list[int]] = {}

    def hook_for(name: str, fail: bool = False) -> Any:
        def hook(tx: Tx, events: list[LoggedEvent]) -> None:
            seen.setdefault(name, []).extend(e.position for e in events)
            record(tx, events)
            if fail:
                raise Refused(name)
        return hook

    group = [_Save(pending(a), hook_for("a")), _Save(pending(b), hook_for("b", fail=True)),
             _Save(pending(c))]
    recorder._write(group)
    assert group[0].error is None and group[2].error is None
    assert group[1].error is not None
    assert isinstance(getattr(group[1].error, "error", None), Refused)
    rows = probe_rows(probe)
    assert [r[1] for r in rows] == [a]  # c has no hook; b's was refused
    assert event_count(probe) == 2
    assert rows[0][0] == group[0].ids[0]

    # and a group whose hooks all pass is written in one transaction, each hook on its own
    d, e = random_uscc(), random_uscc()
    seen.clear()
    group = [_Save(pending(d), hook_for("d")), _Save(pending(e), hook_for("e"))]
    recorder._write(group)
    assert seen == {"d": group[0].ids, "e": group[1].ids}
    assert [r[1] for r in probe_rows(probe)][-2:] == [d, e]
