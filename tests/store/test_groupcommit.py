"""Group commit: concurrent saves share a transaction, and nothing else changes."""

from __future__ import annotations

import threading
from uuid import uuid4

import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent

from ledger.errors import ConcurrentWrite
from ledger.settings import Settings
from ledger.storage.groupcommit import GroupCommit, _Save
from tests.factories import licence, random_uscc


def stored(originator, version=1):
    return StoredEvent(originator, version, "bench:Event", b"{}")


def test_the_ledger_uses_group_commit_by_default(services):
    assert isinstance(services.ledger.recorder, GroupCommit)


def test_group_commit_can_be_turned_off():
    env = Settings(database_url="sqlite:///x.db", group_commit=False).eventsourcing_env()
    assert "GroupCommit" not in env["APPLICATION_RECORDER_TOPIC"]


def test_a_group_never_holds_two_saves_of_one_enterprise():
    recorder = GroupCommit.__new__(GroupCommit)
    GroupCommit.__init__(recorder)
    a, b = uuid4(), uuid4()
    first, same, other = _Save([stored(a)]), _Save([stored(a, 2)]), _Save([stored(b)])
    recorder._group_queue.extend([first, same, other])
    assert recorder._take() == [first, other]
    assert list(recorder._group_queue) == [same]


def test_concurrent_commands_are_all_stored_gap_free_with_their_own_positions(services):
    usccs = [random_uscc() for _ in range(40)]
    written = {}
    barrier = threading.Barrier(8)

    def writer(mine):
        barrier.wait()
        for uscc in mine:
            written[uscc] = services.ledger.license(**licence(uscc))

    threads = [threading.Thread(target=writer, args=(usccs[i::8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with services.db.transaction() as tx:
        events = services.log.read(tx, 0, 1000)
    assert [e.position for e in events] == list(range(1, 41))
    by_position = {e.position: e.uscc for e in events}
    assert all(by_position[w.position] == uscc for uscc, w in written.items())


def test_a_taken_version_in_a_group_fails_only_that_save(services):
    """The group is refused as a whole, then each save is written alone."""
    services.ledger.after_write = None  # raw stored events, not the ledger's: no read models
    recorder = services.ledger.recorder
    taken = uuid4()
    recorder.insert_events([stored(taken)])
    loser, winners = _Save([stored(taken)]), [_Save([stored(uuid4())]) for _ in range(3)]
    recorder._write([winners[0], loser, *winners[1:]])
    assert isinstance(loser.error, IntegrityError)
    assert [w.ids for w in winners] == [[2], [3], [4]]  # no position burned by the refusal


def test_an_error_reaches_every_save_of_the_group():
    class Broken:
        def insert_events(self, events, **kwargs):
            raise OSError("disk full")

    class Recorder(GroupCommit, Broken):
        pass

    recorder = Recorder()
    group = [_Save([stored(uuid4())]), _Save([stored(uuid4())])]
    recorder._write(group)
    assert all(isinstance(s.error, OSError) and s.done for s in group)
    with pytest.raises(OSError):
        recorder.insert_events([stored(uuid4())])


def test_a_lost_race_between_concurrent_commands_is_a_conflict(services):
    uscc = random_uscc()
    services.ledger.license(**licence(uscc))
    barrier = threading.Barrier(6)
    outcomes = []

    def commit():
        barrier.wait()
        try:
            services.ledger.commit(
                uscc, committed_at="2025-01-03T09:00:00+08:00", signatory="Wang Li"
            )
            outcomes.append("ok")
        except ConcurrentWrite:
            outcomes.append("conflict")

    threads = [threading.Thread(target=commit) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert "ok" in outcomes
    with services.db.transaction() as tx:
        events = services.log.read(tx, 0, 100)
    assert [e.position for e in events] == list(range(1, len(events) + 1))
    assert [e.version for e in events] == list(range(1, len(events) + 1))
    assert len(events) == 1 + outcomes.count("ok")
