"""The synthetic city: reproducible for a seed, obeying the rules, and a real demo."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta, timezone

import pytest
from stdnum.cn import uscc as std
from typer.testing import CliRunner

from ledger.cli import app
from ledger.errors import InvalidInput, RuleViolation
from ledger.projections import queries
from ledger.services.demo import START, generate, seed_city, uscc_for
from ledger.values import CST

UNTIL = date(2026, 1, 1)  # the fixed clock's day (2026-01-01T04:00Z is noon in CST)
NOW = datetime(2026, 1, 1, 4, 0, tzinfo=timezone.utc)


def shape(histories):
    return [(h.uscc, h.licence, h.licensed_at, h.steps) for h in histories]


def test_the_same_seed_plans_the_same_city():
    assert shape(generate(7, 40, UNTIL)) == shape(generate(7, 40, UNTIL))


def test_another_seed_plans_another_city():
    assert shape(generate(7, 40, UNTIL)) != shape(generate(8, 40, UNTIL))


def test_more_enterprises_only_adds_enterprises():
    assert shape(generate(7, 50, UNTIL))[:30] == shape(generate(7, 30, UNTIL))


def test_usccs_are_valid_unique_and_in_harbin():
    codes = [uscc_for(3, i) for i in range(5000)]
    assert len(set(codes)) == len(codes)
    assert all(std.is_valid(c) and c[2:6] == "2301" for c in codes)


def test_every_planned_history_obeys_the_rules():
    """Building a history runs every command through the aggregate's guards."""
    cut = datetime.combine(UNTIL, datetime.min.time(), CST)
    for h in generate(11, 800, UNTIL):
        enterprise = h.build(NOW)
        events = enterprise.collect_events()
        assert len(events) == h.events
        moments = [datetime.fromisoformat(e.occurred_at) for e in events]
        assert moments == sorted(moments)
        assert moments[0] >= datetime.combine(START, datetime.min.time(), CST)
        assert moments[-1] < cut


def test_histories_hold_the_cases_a_demo_needs():
    histories = list(generate(11, 800, UNTIL))
    commands = Counter(s.command for h in histories for s in h.steps)
    outcomes = Counter(
        s.args["outcome"] for h in histories for s in h.steps if s.command == "inspect"
    )
    assert commands["repair"] and commands["ban"] and commands["rectify"]
    assert outcomes["rectify"] and outcomes["ban"] and outcomes["compliant"] > outcomes["rectify"]
    late = on_time = first_on_time = first_total = 0
    for h in histories:
        steps = list(h.steps)
        for i, s in enumerate(steps):
            if s.command == "rectify":
                order = next(p for p in reversed(steps[:i]) if p.command == "inspect")
                late_day = s.at.date() > order.args["rectification_deadline"]
                late, on_time = late + late_day, on_time + (not late_day)
        if len(steps) >= 2 and steps[1].command == "inspect":
            first_total += 1
            first_on_time += (steps[1].at - steps[0].at) <= timedelta(days=60)
    assert late and on_time > late
    assert first_on_time / first_total > 0.8  # verification within about 60 days


def test_a_small_seed_gives_both_lists_as_of_today(services):
    seeded = seed_city(services, 60, seed=2, until=UNTIL, batch_events=150)
    assert seeded.enterprises == 60
    with services.db.transaction() as tx:
        assert services.log.head(tx) == seeded.events == seeded.head
        reward, _ = queries.reward_list(tx, UNTIL.isoformat(), limit=1000)
        punishment, _ = queries.punishment_list(tx, UNTIL.isoformat(), limit=1000)
    assert reward and punishment
    assert services.projections.live().position == seeded.head


def test_the_store_holds_exactly_the_planned_events(services):
    seed_city(services, 25, seed=4, until=UNTIL)
    planned = []
    for h in generate(4, 25, UNTIL):
        for e in h.build(NOW).collect_events():
            planned.append((h.uscc, type(e).__name__, e.originator_version, e.occurred_at))
    with services.db.transaction() as tx:
        stored = services.log.read(tx, 0, 10_000)
    assert sorted((e.uscc, e.type, e.version, e.occurred_at) for e in stored) == sorted(planned)


def test_seeding_the_same_seed_again_is_refused_and_stores_nothing(services):
    seed_city(services, 10, seed=5, until=UNTIL)
    with services.db.transaction() as tx:
        head = services.log.head(tx)
    with pytest.raises(RuleViolation, match="already in the ledger"):
        seed_city(services, 20, seed=5, until=UNTIL)
    with services.db.transaction() as tx:
        assert services.log.head(tx) == head


@pytest.mark.parametrize(
    ("enterprises", "until"), [(0, UNTIL), (5, UNTIL + timedelta(days=1)), (5, START)]
)
def test_bad_input_is_refused_and_stores_nothing(services, enterprises, until):
    with pytest.raises(InvalidInput):
        seed_city(services, enterprises, seed=1, until=until)
    with services.db.transaction() as tx:
        assert services.log.head(tx) == 0


@pytest.mark.sqlite_only
def test_cli_seeds_once_with_if_empty(tmp_path, monkeypatch):
    monkeypatch.setenv("LEDGER_DATABASE_URL", f"sqlite:///{tmp_path / 'demo.db'}")
    runner = CliRunner()
    first = runner.invoke(app, ["demo", "seed", "--enterprises", "15", "--if-empty"])
    assert first.exit_code == 0, first.output
    assert first.output.startswith("seeded 15 enterprises")
    assert first.output.count("\n") == 1  # no progress bar off a terminal: one line
    again = runner.invoke(app, ["demo", "seed", "--enterprises", "15", "--if-empty"])
    assert again.exit_code == 0 and "nothing seeded" in again.output


@pytest.mark.sqlite_only
def test_cli_bad_until_exits_2(tmp_path, monkeypatch):
    monkeypatch.setenv("LEDGER_DATABASE_URL", f"sqlite:///{tmp_path / 'demo.db'}")
    result = CliRunner().invoke(app, ["demo", "seed", "--until", "soon"])
    assert result.exit_code == 2
    assert "--until" in result.output


def test_recorded_at_is_the_ledgers_clock(services, clock):
    seed_city(services, 5, seed=6, until=UNTIL)
    with services.db.transaction() as tx:
        stored = services.log.read(tx, 0, 1000)
    assert {datetime.fromisoformat(e.recorded_at) for e in stored} == {clock.now}


def test_the_city_has_chinese_names_and_addresses_across_harbins_districts():
    from ledger.services.letters import DISTRICTS as NAMES

    histories = list(generate(3, 600, UNTIL))
    english = [h for h in histories if h.licence["name"].isascii()]
    assert 0 < len(english) < len(histories) * 0.12  # a few English names kept
    assert {h.licence["district"] for h in histories} == set(NAMES)  # all nine districts
    for h in histories:
        district = NAMES[h.licence["district"]][0]  # e.g. 松北区 for 230109
        assert h.licence["address"].startswith(f"黑龙江省哈尔滨市{district}")
        assert h.licence["address"].endswith("号")
        assert not h.licence["legal_representative"].isascii()
