"""Segmented rebuilds on both stores: segments claimed by leases, worked by several
processes, a worker killed mid-segment and its segment redone, and every result
identical row for row to a one-process rebuild."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from bench.rebuild import write_histories
from ledger.projections.rebuild import Claim, LeaseLost, Worker, plan, rebuild_lock
from ledger.projections.sets import SegmentProgress
from tests.store.test_runner import rows_of

ROOT = Path(__file__).resolve().parents[2]
LATER = datetime(2026, 7, 1, tzinfo=timezone.utc)


@pytest.fixture
def store(store_settings, clock):
    """A store of 60 random histories (short leases, so a dead worker's segment is
    claimed again within a second) and the rows of a one-process rebuild of it."""
    from datetime import date

    from ledger.bootstrap import bootstrap

    clock.now = LATER
    settings = store_settings.model_copy(update={"lease_seconds": 1.0})
    s = bootstrap(settings, clock=clock, sync_projections=False)
    write_histories(s.ledger, 60, 3, date(2021, 1, 1), date(2026, 6, 30), per_save=20)
    one = s.projections.rebuild("v1", swap=False, segments=1, workers=0)
    s.expected = rows_of(s, one)
    s.projections.discard(one)
    yield s
    s.close()


def planned(s, segments: int) -> str:
    with rebuild_lock(s.db):
        set_id, _ = plan(s.projections, "v1", segments)
    return set_id


def segment_rows(s, set_id: str) -> list[tuple[object, ...]]:
    with s.db.transaction() as tx:
        return [tuple(r) for r in tx.all(
            "SELECT segment, state, owner IS NOT NULL, attempts, events FROM rebuild_segments "
            "WHERE set_id = ? ORDER BY segment", (set_id,))]


def state_of(s, set_id: str) -> str | None:
    with s.db.transaction() as tx:
        return tx.value("SELECT state FROM projection_sets WHERE id = ?", (set_id,))


@pytest.mark.parametrize(("segments", "workers"), [(1, 1), (4, 2), (16, 1), (16, 2)])
def test_segmented_rebuilds_equal_a_one_process_rebuild(store, segments, workers):
    s = store
    set_id = s.projections.rebuild("v1", swap=False, segments=segments, workers=workers)
    assert rows_of(s, set_id) == s.expected
    assert len(s.expected[0]) == 60
    done = segment_rows(s, set_id)
    assert done == [] or len(done) == segments  # ready sets keep their plan until dropped


def test_segments_partition_the_enterprises(store):
    s = store
    set_id = planned(s, 16)
    Worker(s.projections, set_id, s.projections.policy_for("v1")).run()
    with s.db.transaction() as tx:
        counts = [r[0] for r in tx.all(
            "SELECT events FROM rebuild_segments WHERE set_id = ? ORDER BY segment", (set_id,))]
        head = s.log.head(tx)
    assert sum(counts) == head and sum(1 for c in counts if c) > 8
    assert state_of(s, set_id) == "ready"
    assert rows_of(s, set_id) == s.expected


def test_the_set_is_ready_at_the_planned_position_then_follows_the_log(store):
    s = store
    set_id = planned(s, 4)
    with s.db.transaction() as tx:
        at_plan = s.log.head(tx)
    write_histories(s.ledger, 5, 99, datetime(2024, 1, 1).date(), datetime(2026, 6, 30).date())
    Worker(s.projections, set_id, s.projections.policy_for("v1")).run()
    (ready,) = [st for st in s.projections.status() if st.id == set_id]
    assert (ready.state, ready.position) == ("ready", at_plan) and ready.lag > 0
    s.projections.catch_up()  # the live set and the new one, alike
    live = s.projections.live()
    assert live is not None and live.lag == 0
    assert rows_of(s, set_id) == rows_of(s, live.id)


def test_status_shows_a_building_sets_segments_done_leased_and_events(store):
    s = store
    set_id = planned(s, 4)
    with s.db.transaction() as tx:
        head = s.log.head(tx)

    def progress() -> SegmentProgress | None:
        (st,) = [st for st in s.projections.status() if st.id == set_id]
        return st.segments

    assert progress() == SegmentProgress(4, 0, 0, 0, head)
    worker = Worker(s.projections, set_id, s.projections.policy_for("v1"))
    first, second = worker.claim(), worker.claim()
    assert first is not None and second is not None
    assert progress() == SegmentProgress(4, 0, 2, 0, head)
    rows = worker.fold(first)
    worker.commit(first, *rows)
    assert progress() == SegmentProgress(4, 1, 1, rows[3], head) and rows[3] > 0
    with s.db.transaction(write=True) as tx:  # the other lease runs out: no longer held
        tx.execute("UPDATE rebuild_segments SET lease_until = 0 WHERE set_id = ?", (set_id,))
    assert progress() == SegmentProgress(4, 1, 0, rows[3], head)
    worker.run()
    (ready,) = [st for st in s.projections.status() if st.id == set_id]
    assert ready.state == "ready" and ready.segments is None  # only a building set's


def test_a_failed_lease_renewal_is_tried_again_at_the_next_beat(store, monkeypatch):
    """The database away for one beat does not stop a worker renewing its leases."""
    import threading

    s = store  # leases of 1 s: a beat every third of a second
    set_id = planned(s, 2)
    worker = Worker(s.projections, set_id, s.projections.policy_for("v1"))
    claim = worker.claim()
    assert claim is not None
    real, failed = worker.db.transaction, []

    def flaky(*args, **kwargs):
        if threading.current_thread().name == "beat" and not failed:
            failed.append(True)
            raise ConnectionError("the database is away")
        return real(*args, **kwargs)

    def lease_until() -> float:
        with s.db.transaction() as tx:
            return float(tx.value("SELECT lease_until FROM rebuild_segments "
                                  "WHERE set_id = ? AND segment = ?", (set_id, claim.segment)))

    first = lease_until()
    monkeypatch.setattr(worker.db, "transaction", flaky)
    stop = threading.Event()
    beat = threading.Thread(target=worker._heartbeat, args=(stop,), name="beat")
    beat.start()
    try:
        time.sleep(1.2)
    finally:
        stop.set()
        beat.join()
    assert failed and lease_until() > first + 0.5


def test_a_worker_whose_lease_expired_cannot_commit_its_segment(store):
    """A worker paused past its lease (not dead): its segment is claimed again, and
    its late commit is refused, so no row is written twice."""
    s = store
    set_id = planned(s, 2)
    policy = s.projections.policy_for("v1")
    slow, fast = (Worker(s.projections, set_id, policy) for _ in range(2))
    first = slow.claim()
    assert first is not None and first.segment == 0
    rows = slow.fold(first)
    with s.db.transaction(write=True) as tx:  # the lease runs out
        tx.execute("UPDATE rebuild_segments SET lease_until = 0 WHERE set_id = ?", (set_id,))
    fast.run()  # claims both segments (0 again) and builds the set
    assert state_of(s, set_id) == "ready"
    with pytest.raises(LeaseLost):
        slow.commit(first, *rows)
    assert rows_of(s, set_id) == s.expected
    assert [r[3] for r in segment_rows(s, set_id)] == [2, 1]  # attempts


def test_the_bounds_of_segments_cover_every_id_once():
    for count in (1, 3, 16):
        bounds = [Claim(k, count, 0, "t").bounds for k in range(count)]
        assert bounds[0][0] == 0 and bounds[-1][1] is None
        assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:], strict=False))


# -- a real worker process killed mid-segment --------------------------------------------------

STALL = """
import os, time
from ledger.projections import standing

real = standing.StandingProjection.write_new


def stalled(tx, facts_rows, segment_rows):
    real(tx, facts_rows, segment_rows)  # the rows are in, not committed
    open(os.environ["STALL_MARKER"], "w").close()
    time.sleep(3600)


standing.StandingProjection.write_new = staticmethod(stalled)
"""


def work_process(settings, *args: str, stall: Path | None = None) -> subprocess.Popen[str]:
    env = dict(os.environ, LEDGER_DATABASE_URL=settings.database_url, PYTHONPATH=str(ROOT),
               LEDGER_LEASE_SECONDS=str(settings.lease_seconds))
    if settings.database_schema:
        env["LEDGER_DATABASE_SCHEMA"] = settings.database_schema
    if stall is not None:  # a sitecustomize that stalls the first segment's commit
        (stall.parent / "sitecustomize.py").write_text(STALL)
        env["PYTHONPATH"] = f"{stall.parent}{os.pathsep}{ROOT}"
        env["STALL_MARKER"] = str(stall)
    return subprocess.Popen(
        [sys.executable, "-m", "ledger.cli", "projections", "work", *args], env=env, cwd=ROOT,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def test_a_worker_killed_mid_segment_loses_its_lease_and_the_segment_is_redone(
    store, tmp_path
):
    s = store
    set_id = planned(s, 4)
    marker = tmp_path / "stall" / "stalled"
    marker.parent.mkdir()
    doomed = work_process(s.db.settings, set_id, stall=marker)
    try:
        for _ in range(600):  # up to 30 s (the child imports the ledger first)
            if marker.exists() or doomed.poll() is not None:
                break
            time.sleep(0.05)
        assert marker.exists(), doomed.communicate()
        held = [r for r in segment_rows(s, set_id) if r[2]]
        assert held and all(state == "todo" for _, state, *_ in held)
    finally:
        doomed.send_signal(signal.SIGKILL)
        doomed.wait()
    assert doomed.returncode == -signal.SIGKILL
    assert state_of(s, set_id) == "building"
    with s.db.transaction() as tx:  # its rows died with its transaction
        assert tx.value("SELECT COUNT(*) FROM enterprise_facts WHERE set_id = ?", (set_id,)) == 0

    started = time.monotonic()
    rescuer = work_process(s.db.settings, set_id)
    out, err = rescuer.communicate(timeout=60)
    assert rescuer.returncode == 0, err
    assert "the set is ready" in out
    assert time.monotonic() - started < 30
    assert state_of(s, set_id) == "ready"
    redone = [r for r in segment_rows(s, set_id) if r[3] > 1]
    assert redone and all(state == "done" for _, state, *_ in redone)
    assert rows_of(s, set_id) == s.expected


def test_a_killed_rebuild_is_finished_by_a_worker_that_joins(store):
    """The coordinator died after planning: `work` without a set id joins the oldest
    rebuild with segments left and makes its set ready."""
    s = store
    set_id = planned(s, 3)
    first = Worker(s.projections, set_id, s.projections.policy_for("v1"))
    assert first.claim() is not None  # claimed, then its process "dies"
    with s.db.transaction(write=True) as tx:
        tx.execute("UPDATE rebuild_segments SET lease_until = 0 WHERE set_id = ?", (set_id,))
    joined = work_process(s.db.settings)
    out, err = joined.communicate(timeout=60)
    assert joined.returncode == 0, err
    assert f"of {set_id}" in out and "ready" in out
    assert rows_of(s, set_id) == s.expected
