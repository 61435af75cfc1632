"""`ledger projections status|rebuild|swap` end to end, on both stores."""

from __future__ import annotations

import json
import random

import pytest
from typer.testing import CliRunner

from ledger.bootstrap import bootstrap
from ledger.cli import projections as cli
from ledger.cli.main import app
from tests.factories import licence, random_uscc


@pytest.fixture
def ledger_env(store_settings, clock, monkeypatch):
    """The CLI's environment pointing at a fresh store holding three enterprises, one
    written without waiting for the projections (so the live set lags by one)."""
    monkeypatch.setenv("LEDGER_DATABASE_URL", store_settings.database_url)
    if store_settings.database_schema:
        monkeypatch.setenv("LEDGER_DATABASE_SCHEMA", store_settings.database_schema)
    s = bootstrap(store_settings, clock=clock)
    rng = random.Random(4)
    for _ in range(2):
        s.ledger.license(**licence(random_uscc(rng)))
    s.ledger.after_write = None
    s.ledger.license(**licence(random_uscc(rng)))
    yield s
    s.close()


def run(*args: str):
    result = CliRunner().invoke(app, ["projections", *args])
    return result


def sets(services) -> dict[str, tuple[str, str]]:
    return {st.id: (st.policy, st.state) for st in services.projections.status()}


def test_status_shows_position_head_lag_and_policy(ledger_env):
    result = run("status")
    assert result.exit_code == 0, result.output
    live = ledger_env.projections.live()
    assert "head of the log: 3" in result.output
    line = next(ln for ln in result.output.splitlines() if ln.startswith(live.id))
    assert line.split()[1:5] == ["v1", "live", "2", "1"]


def test_status_as_json(ledger_env):
    result = run("status", "--json")
    assert result.exit_code == 0, result.output
    (doc,) = json.loads(result.output)["sets"]
    assert {k: doc[k] for k in ("policy", "state", "position", "head", "lag")} == {
        "policy": "v1", "state": "live", "position": 2, "head": 3, "lag": 1,
    }


def test_status_shows_the_segments_of_a_set_being_built(ledger_env):
    from ledger.projections.rebuild import plan, rebuild_lock

    with rebuild_lock(ledger_env.db):
        set_id, _ = plan(ledger_env.projections, "v2", 4)
    result = run("status")
    assert result.exit_code == 0, result.output
    line = next(ln for ln in result.output.splitlines() if ln.startswith(set_id))
    assert line.split()[1:5] == ["v2", "building", "-", "-"]
    assert line.endswith("segments 0/4 done, 0 leased; 0 of 3 events")
    docs = {d["id"]: d for d in json.loads(run("status", "--json").output)["sets"]}
    assert docs[set_id]["segments"] == {
        "total": 4, "done": 0, "leased": 0, "events_done": 0, "upto": 3,
    }
    assert docs[ledger_env.projections.live().id]["segments"] is None


def test_rebuild_without_policy_rebuilds_the_live_one_and_swaps(ledger_env):
    old = ledger_env.projections.live().id
    result = run("rebuild")
    assert result.exit_code == 0, result.output
    assert "from 3 events" in result.output and ": live" in result.output
    (new, (policy, state)), = sets(ledger_env).items()
    assert new != old and (policy, state) == ("v1", "live")
    assert ledger_env.projections.live().lag == 0


def test_rebuild_with_a_policy_builds_beside_and_swaps_only_when_asked(ledger_env):
    old = ledger_env.projections.live().id
    beside = run("rebuild", "--policy", "v2")
    assert beside.exit_code == 0, beside.output
    assert "ready beside" in beside.output
    states = sets(ledger_env)
    assert states[old] == ("v1", "live")
    assert sorted(states.values()) == [("v1", "live"), ("v2", "ready")]

    swapped = run("rebuild", "--policy", "v2", "--swap")
    assert swapped.exit_code == 0, swapped.output
    assert list(sets(ledger_env).values()) == [("v2", "live")]


def test_swap_switches_to_a_set_built_beside(ledger_env):
    run("rebuild", "--policy", "v2")
    ready = next(i for i, (_, state) in sets(ledger_env).items() if state == "ready")
    result = run("swap", ready)
    assert result.exit_code == 0, result.output
    assert sets(ledger_env) == {ready: ("v2", "live")}


def test_an_unknown_policy_exits_2_with_one_line_and_changes_nothing(ledger_env):
    before = sets(ledger_env)
    result = run("rebuild", "--policy", "v9", "--swap")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "v9" in result.stderr
    assert sets(ledger_env) == before


def test_swapping_a_set_that_is_not_ready_exits_2(ledger_env):
    result = run("swap", "v1-nosuchset")
    assert result.exit_code == 2
    assert "no projection set" in result.stderr


def test_a_rebuild_off_a_terminal_prints_no_progress(ledger_env):
    result = run("rebuild")
    assert result.exit_code == 0
    assert result.stderr == "" and len(result.stdout.splitlines()) == 1


@pytest.mark.sqlite_only
def test_on_a_terminal_the_rebuild_reports_progress(ledger_env, monkeypatch):
    seen = []
    real = ledger_env.projections.rebuild.__func__

    def spy(self, policy, swap, progress=None, flush_rows=20_000, workers=None, segments=None):
        seen.append(progress)
        return real(self, policy, swap, progress=progress, flush_rows=1, workers=workers,
                    segments=segments)

    monkeypatch.setattr(cli, "is_terminal", lambda: True)
    monkeypatch.setattr(type(ledger_env.projections), "rebuild", spy)
    result = run("rebuild")
    assert result.exit_code == 0, result.output
    assert seen and callable(seen[0])


def test_the_progress_bar_is_only_for_terminals(monkeypatch):
    monkeypatch.setattr(cli, "is_terminal", lambda: False)
    with cli.progress_bar("x") as update:
        assert update is None
    monkeypatch.setattr(cli, "is_terminal", lambda: True)
    with cli.progress_bar("x") as update:
        assert update is not None
        update(5, 10)
        update(10, 10)


def test_discard_drops_a_set_built_beside(ledger_env):
    run("rebuild", "--policy", "v2")
    ready = next(i for i, (_, state) in sets(ledger_env).items() if state == "ready")
    result = run("discard", ready)
    assert result.exit_code == 0, result.output
    assert list(sets(ledger_env).values()) == [("v1", "live")]
    again = run("discard", ready)
    assert again.exit_code == 2 and "no projection set" in again.stderr


def test_rebuild_in_worker_processes_from_the_command_line(ledger_env):
    before = ledger_env.projections.live().id
    result = run("rebuild", "--workers", "2")
    assert result.exit_code == 0, result.output
    assert ledger_env.projections.live().id != before


def test_a_negative_worker_count_exits_2(ledger_env):
    assert run("rebuild", "--workers", "-1").exit_code == 2


def test_rebuild_in_segments_from_the_command_line(ledger_env):
    before = ledger_env.projections.live().id
    result = run("rebuild", "--segments", "4", "--workers", "1")
    assert result.exit_code == 0, result.output
    assert ledger_env.projections.live().id != before
    assert ledger_env.projections.live().lag == 0


@pytest.mark.parametrize("bad", ["0", "-3", "5000"])
def test_a_bad_segment_count_exits_2_with_one_line_and_changes_nothing(ledger_env, bad):
    before = sets(ledger_env)
    result = run("rebuild", "--segments", bad)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "--segments" in result.stderr
    assert sets(ledger_env) == before


def test_work_with_nothing_to_do_exits_0_at_once(ledger_env):
    import time

    started = time.monotonic()
    result = run("work")
    assert result.exit_code == 0, result.output
    assert "nothing to do" in result.stdout
    live = run("work", ledger_env.projections.live().id)  # a set that is not being built
    assert live.exit_code == 0 and "nothing to do" in live.stdout
    assert time.monotonic() - started < 5


def test_work_on_an_unknown_set_exits_2(ledger_env):
    result = run("work", "v1-nosuchset")
    assert result.exit_code == 2
    assert "no projection set" in result.stderr
