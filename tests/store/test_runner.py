"""The projection runner on both stores: exactly once through kill -9, rebuilds equal
to the live read models, a policy built beside the live one and swapped in."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from bench.rebuild import apply_to_aggregate, plan_history
from ledger.errors import InvalidInput, LedgerError
from ledger.projections import queries
from ledger.projections import rebuild as rebuilding
from ledger.projections.rebuild import RebuildRunning, rebuild_lock
from ledger.projections.standing import StandingProjection
from tests.factories import licence, random_uscc

ROOT = Path(__file__).resolve().parents[2]  # the repository
LATER = datetime(2026, 7, 1, tzinfo=timezone.utc)


# -- helpers --------------------------------------------------------------------------------


def rows_of(services, set_id: str) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """A set's rows without its id, in key order."""
    with services.db.transaction() as tx:
        facts = tx.all(
            "SELECT uscc, name, place_type, district, version, position, due_kind, due_on, "
            "facts FROM enterprise_facts WHERE set_id = ? ORDER BY uscc", (set_id,))
        segments = tx.all(
            "SELECT uscc, valid_from, valid_until, on_reward, on_punishment, standing "
            "FROM standing_segments WHERE set_id = ? ORDER BY uscc, valid_from", (set_id,))
    return [tuple(r) for r in facts], [tuple(r) for r in segments]


def live_id(services) -> str:
    live = services.projections.live()
    assert live is not None
    return live.id


def head(services) -> int:
    with services.db.transaction() as tx:
        return services.log.head(tx)


class Writer:
    """Random valid histories: some saved many enterprises per transaction, the rest
    command by command through the application, interleaved across enterprises (so
    the live runner folds new events into stored facts)."""

    def __init__(self, services, seed: int) -> None:
        self.ledger = services.ledger
        self.rng = random.Random(seed)
        self.pending: list[tuple[str, list[tuple[str, dict[str, Any]]]]] = []

    def plan(self) -> tuple[str, list[tuple[str, dict[str, Any]]]]:
        uscc = random_uscc(self.rng)
        first = date(2021, 1, 1) + (date(2026, 1, 1) - date(2021, 1, 1)) * self.rng.random()
        return uscc, plan_history(self.rng, uscc, first, date(2026, 6, 30))

    def bulk(self, count: int) -> None:
        self.ledger.save(*(apply_to_aggregate(self.plan()[1], LATER) for _ in range(count)))

    def start(self, count: int) -> None:
        for _ in range(count):
            uscc, commands = self.plan()
            self.ledger.license(**commands[0][1])
            if len(commands) > 1:
                self.pending.append((uscc, commands[1:]))

    def step(self, count: int) -> None:
        for _ in range(count):
            if not self.pending:
                return
            i = self.rng.randrange(len(self.pending))
            uscc, commands = self.pending[i]
            method, kwargs = commands.pop(0)
            getattr(self.ledger, method)(uscc, **kwargs)
            if not commands:
                self.pending.pop(i)


@pytest.fixture
def later(clock):
    clock.now = LATER
    return clock


# -- following exactly once -----------------------------------------------------------------


def test_catch_up_applies_each_event_once_and_then_nothing(store_settings, later):
    from ledger.bootstrap import bootstrap

    s = bootstrap(store_settings, clock=later, sync_projections=False)
    try:
        Writer(s, 1).bulk(20)
        total = head(s)
        s.projections.follower.batch = 7
        assert s.projections.catch_up() == total
        assert s.projections.catch_up() == 0
        assert s.projections.live().position == total
    finally:
        s.close()


def test_a_write_returns_once_the_live_set_includes_it(services, later):
    uscc = random_uscc()
    written = services.ledger.license(**licence(uscc))
    assert services.projections.live().position >= written.position
    with services.db.transaction() as tx:
        assert queries.standing(tx, uscc, "2025-06-01")["version"] == 1


def test_two_runners_at_once_apply_each_event_once(store_settings, later):
    from ledger.bootstrap import bootstrap

    s = bootstrap(store_settings, clock=later, sync_projections=False)
    try:
        writer = Writer(s, 2)
        writer.start(15)
        writer.step(60)
        s.projections.follower.batch = 5
        counts: list[int] = []
        threads = [threading.Thread(target=lambda: counts.append(s.projections.catch_up()))
                   for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sum(counts) == head(s)
        rebuilt = s.projections.rebuild("v1", swap=False)
        assert rows_of(s, live_id(s)) == rows_of(s, rebuilt)
    finally:
        s.close()


RUNNER = """
import os, sys
from ledger.bootstrap import bootstrap
from ledger.settings import Settings
s = bootstrap(Settings(), sync_projections=False)
s.projections.followers.clear()  # this test is about the projection sets
s.projections.follower.batch = int(os.environ["RUNNER_BATCH"])
print("ready", flush=True)
while True:
    s.projections.catch_up()
"""


def spawn_runner(settings) -> subprocess.Popen[str]:
    env = dict(os.environ, LEDGER_DATABASE_URL=settings.database_url, RUNNER_BATCH="1",
               PYTHONPATH=str(ROOT))
    if settings.database_schema:
        env["LEDGER_DATABASE_SCHEMA"] = settings.database_schema
    child = subprocess.Popen([sys.executable, "-c", RUNNER], env=env, cwd=ROOT,
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    return child


def test_a_runner_killed_at_random_points_leaves_the_live_set_equal_to_a_rebuild(
    store_settings, later
):
    """kill -9 a runner process many times while events are written; every restart
    resumes from the position committed with the rows: nothing missed, nothing twice
    (a second application of an event would show in the folded facts)."""
    from ledger.bootstrap import bootstrap

    s = bootstrap(store_settings, clock=later, sync_projections=False)
    s.projections.followers.clear()
    rng = random.Random(17)
    writer = Writer(s, 17)
    kills = behind = 0
    try:
        for _ in range(5):
            child = spawn_runner(store_settings)
            writer.start(rng.randint(2, 5))
            writer.step(rng.randint(5, 12))
            before = s.projections.live().position
            writer.bulk(rng.randint(10, 25))  # a backlog at once: the kill lands mid-work
            for _ in range(2500):  # wait (up to 5 s) until the runner is on the backlog
                if s.projections.live().position > before or child.poll() is not None:
                    break
                time.sleep(0.002)
            time.sleep(rng.uniform(0.0, 0.02))
            if child.poll() is None:
                child.send_signal(signal.SIGKILL)
                kills += 1
            child.wait()
            assert child.returncode == -signal.SIGKILL, child.returncode
            behind += s.projections.live().position < head(s)
        assert kills == 5 and behind >= 1, (kills, behind)  # killed while it had work to do
        assert s.projections.live().position <= head(s)
        s.projections.catch_up()  # a last runner finishes the log
        assert s.projections.live().position == head(s)
        rebuilt = s.projections.rebuild("v1", swap=False)
        live_rows, rebuilt_rows = rows_of(s, live_id(s)), rows_of(s, rebuilt)
        assert live_rows[0] == rebuilt_rows[0]  # facts: versions, positions, inspections
        assert live_rows[1] == rebuilt_rows[1]  # every standing segment
        assert len(live_rows[0]) > 40
    finally:
        s.close()


def test_the_runner_follows_the_log_by_itself(store_settings, later):
    """`follow_forever` (polling on SQLite, LISTEN/NOTIFY on PostgreSQL) picks up
    events written by another process's application without being asked."""
    from ledger.bootstrap import bootstrap

    s = bootstrap(store_settings, clock=later, sync_projections=False)
    stop = threading.Event()
    follower = threading.Thread(target=s.projections.follow_forever, args=(stop, 0.02))
    follower.start()
    try:
        uscc = random_uscc()
        written = s.ledger.license(**licence(uscc))
        for _ in range(500):  # up to ten seconds; usually a few milliseconds
            if s.projections.live().position >= written.position:
                break
            stop.wait(0.02)
        assert s.projections.live().position >= written.position
    finally:
        stop.set()
        follower.join()
        s.close()


# -- rebuilds -------------------------------------------------------------------------------


@pytest.fixture
def populated(store_settings, later):
    """A store with ~50 enterprises written every way, followed live as written: bulk
    saves, then commands interleaved across enterprises with catch-ups between."""
    from ledger.bootstrap import bootstrap

    s = bootstrap(store_settings, clock=later, sync_projections=False)
    writer = Writer(s, 5)
    writer.bulk(35)
    writer.start(15)
    s.projections.catch_up()
    for _ in range(6):
        writer.step(8)
        s.projections.catch_up()
    s.ledger.after_write = lambda written: s.projections.catch_up(upto=written.position)
    yield s
    s.close()


def test_a_rebuild_of_a_populated_store_equals_the_live_read_models(populated):
    s = populated
    before = live_id(s)
    rebuilt = s.projections.rebuild("v1", swap=False)
    assert rebuilt != before
    assert rows_of(s, before) == rows_of(s, rebuilt)
    assert len(rows_of(s, rebuilt)[1]) > 150


def test_a_rebuild_in_small_batches_equals_one_in_large_batches(populated):
    s = populated
    small = rows_of(s, s.projections.rebuild("v1", swap=False, flush_rows=7))
    large = rows_of(s, s.projections.rebuild("v1", swap=False))
    assert small == large


def test_a_rebuild_folded_in_worker_processes_equals_the_live_read_models(populated):
    s = populated
    rebuilt = s.projections.rebuild("v1", swap=False, workers=2, flush_rows=60)
    assert rows_of(s, live_id(s)) == rows_of(s, rebuilt)


def test_rebuild_with_swap_serves_the_same_answers_from_the_new_set(populated):
    s = populated
    old = live_id(s)
    with s.db.transaction() as tx:
        before = queries.punishment_list(tx, "2026-01-01", limit=1000)
        reward = queries.reward_list(tx, "2026-01-01", limit=1000)
    new = s.projections.rebuild("v1", swap=True)
    assert live_id(s) == new != old
    with s.db.transaction() as tx:
        assert queries.punishment_list(tx, "2026-01-01", limit=1000) == before
        assert queries.reward_list(tx, "2026-01-01", limit=1000) == reward
        assert tx.value("SELECT COUNT(*) FROM enterprise_facts WHERE set_id = ?", (old,)) == 0
    assert [st.id for st in s.projections.status()] == [new]


def test_progress_is_reported_up_to_the_number_of_events(populated):
    s = populated
    calls: list[tuple[int, int]] = []
    s.projections.rebuild("v1", swap=False, progress=lambda d, t: calls.append((d, t)),
                          flush_rows=50)
    total = head(s)
    assert len(calls) > 2
    assert calls[-1] == (total, total)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


def reward_members(s, as_of: str) -> list[str]:
    with s.db.transaction() as tx:
        return [i["uscc"] for i in queries.reward_list(tx, as_of, limit=1000)[0]]


def rewarded(s, uscc: str) -> None:
    """On the v1 reward list from 2024-05-01 (scores 92 and 93, 90 days apart); never
    on v2's (it wants 95 and 180 days)."""
    s.ledger.license(**licence(uscc, licensed_at="2024-01-02T09:00:00+08:00"))
    s.ledger.commit(uscc, committed_at="2024-01-05T09:00:00+08:00", signatory="Wang Li")
    for day, score in (("2024-02-01", 92), ("2024-05-01", 93)):
        s.ledger.inspect(uscc, inspected_at=f"{day}T10:00:00+08:00", inspector="Li",
                         score=score, outcome="compliant")


def test_a_v2_set_built_beside_leaves_live_answers_untouched_until_swapped(populated):
    s = populated
    uscc = random_uscc()
    rewarded(s, uscc)
    live_before = rows_of(s, live_id(s))
    assert uscc in reward_members(s, "2025-01-01")

    v2 = s.projections.rebuild("v2", swap=False)
    assert rows_of(s, live_id(s)) == live_before
    assert uscc in reward_members(s, "2025-01-01")
    states = {st.id: (st.policy, st.state) for st in s.projections.status()}
    assert states[v2] == ("v2", "ready") and states[live_id(s)] == ("v1", "live")

    # both sets follow new events while the v2 one waits beside
    other = random_uscc()
    written = s.ledger.license(**licence(other))
    assert all(st.position >= written.position for st in s.projections.status())

    s.projections.swap(v2)
    assert live_id(s) == v2
    assert uscc not in reward_members(s, "2025-01-01")
    with s.db.transaction() as tx:
        assert queries.standing(tx, other, "2025-06-01") is not None
    assert [st.policy for st in s.projections.status()] == ["v2"]


def test_a_v2_set_equals_a_live_v2_projection(store_settings, later):
    """The v2 set built from the events is what following the log under v2 gives."""
    from ledger.bootstrap import bootstrap

    settings = store_settings.model_copy(update={"policy": "v2"})
    s = bootstrap(settings, clock=later)
    try:
        writer = Writer(s, 8)
        writer.start(12)
        writer.step(40)
        live = s.projections.live()
        assert live.policy == "v2"
        rebuilt = s.projections.rebuild("v2", swap=False)
        assert rows_of(s, live.id) == rows_of(s, rebuilt)
    finally:
        s.close()


def test_a_newer_rebuild_of_a_policy_supersedes_the_older_ready_one(populated):
    s = populated
    first = s.projections.rebuild("v2", swap=False)
    second = s.projections.rebuild("v2", swap=False)
    ids = [st.id for st in s.projections.status()]
    assert second in ids and first not in ids
    with s.db.transaction() as tx:
        assert tx.value("SELECT COUNT(*) FROM standing_segments WHERE set_id = ?", (first,)) == 0


def test_an_unknown_policy_is_refused_and_creates_nothing(services, later):
    s = services
    s.ledger.license(**licence(random_uscc()))
    before = s.projections.status()
    with pytest.raises(InvalidInput) as e:
        s.projections.rebuild("v9", swap=True)
    assert e.value.field == "policy"
    assert s.projections.status() == before


def test_only_a_ready_set_can_be_swapped_in(services, later):
    s = services
    s.ledger.license(**licence(random_uscc()))
    with pytest.raises(LedgerError):
        s.projections.swap("v1-nosuchset")
    with s.db.transaction(write=True) as tx:
        tx.execute("INSERT INTO projection_sets (id, policy, state, position, created_at) "
                   "VALUES ('v1-building', 'v1', 'building', 0, 'x')")
    with pytest.raises(LedgerError, match="not ready"):
        s.projections.swap("v1-building")
    s.projections.swap(live_id(s))  # the live set itself: nothing to do


def test_one_rebuild_at_a_time(services, later):
    s = services
    s.ledger.license(**licence(random_uscc()))
    with rebuild_lock(s.db), pytest.raises(RebuildRunning):
        s.projections.rebuild("v1", swap=False)
    s.projections.rebuild("v1", swap=False)  # the lock is free again


def test_a_failed_rebuild_leaves_the_live_set_serving_and_is_cleared_by_the_next(
    populated, monkeypatch
):
    s = populated
    live_before = rows_of(s, live_id(s))

    def broken(*_: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(StandingProjection, "write_new", staticmethod(broken))
    with pytest.raises(RuntimeError, match="disk full"):
        s.projections.rebuild("v1", swap=True, flush_rows=10)
    states = [st.state for st in s.projections.status()]
    assert sorted(states) == ["building", "live"]
    assert rows_of(s, live_id(s)) == live_before
    monkeypatch.undo()
    rebuilt = s.projections.rebuild("v1", swap=False)
    assert sorted(st.state for st in s.projections.status()) == ["live", "ready"]
    assert rows_of(s, rebuilt) == live_before


def test_a_ready_set_of_an_unknown_policy_does_not_stop_the_live_one(services, later):
    s = services
    s.ledger.license(**licence(random_uscc()))
    with s.db.transaction(write=True) as tx:
        tx.execute("INSERT INTO projection_sets (id, policy, state, position, created_at) "
                   "VALUES ('v9-future', 'v9', 'ready', 0, 'x')")
    written = s.ledger.license(**licence(random_uscc()))
    assert s.projections.live().position >= written.position


def test_a_set_built_beside_can_be_discarded_but_not_the_live_one(services, later):
    s = services
    s.ledger.license(**licence(random_uscc()))
    live = live_id(s)
    beside = s.projections.rebuild("v2", swap=False)
    s.projections.discard(beside)
    assert [st.id for st in s.projections.status()] == [live]
    with s.db.transaction() as tx:
        assert tx.value("SELECT COUNT(*) FROM enterprise_facts WHERE set_id = ?", (beside,)) == 0
    with pytest.raises(LedgerError, match="only a ready set"):
        s.projections.discard(live)
    with pytest.raises(LedgerError, match="no projection set"):
        s.projections.discard(beside)


def test_worker_processes_only_for_large_logs_on_machines_with_cores_to_spare(monkeypatch):
    monkeypatch.setattr(rebuilding.os, "cpu_count", lambda: 8)
    assert rebuilding.default_workers(rebuilding.PARALLEL_FROM) == 4
    assert rebuilding.default_workers(rebuilding.PARALLEL_FROM - 1) == 0
    monkeypatch.setattr(rebuilding.os, "cpu_count", lambda: 2)
    assert rebuilding.default_workers(10 * rebuilding.PARALLEL_FROM) == 0
