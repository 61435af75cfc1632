"""Policy files and comparisons of projection sets, on both stores: a file with v2's
parameters builds v2's set row for row; ``max_months`` moves exactly the overdue
records' end of display (on its boundary day); a set keeps its parameters across a
restart; a comparison counts what each set's lists hold."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from ledger.bootstrap import Services, bootstrap
from ledger.policy.credit import V1, V2, load_policy_file
from ledger.projections import compare, queries
from tests.factories import licence, random_uscc
from tests.store.test_runner import Writer, rows_of


def at(day: str) -> str:
    return f"{day}T10:00:00+08:00"


def policy_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(text)
    return path


def overdue(s: Services, uscc: str) -> None:
    """Deadline 2025-02-15 missed and never rectified: overdue from 2025-02-16."""
    s.ledger.license(**licence(uscc, licensed_at=at("2025-01-02")))
    s.ledger.commit(uscc, committed_at=at("2025-01-10"), signatory="Wang Li")
    s.ledger.inspect(uscc, inspected_at=at("2025-02-01"), inspector="Li", score=65,
                     outcome="rectify", rectification_deadline="2025-02-15")


def banned(s: Services, uscc: str) -> None:
    s.ledger.license(**licence(uscc, licensed_at=at("2025-01-02")))
    s.ledger.commit(uscc, committed_at=at("2025-01-10"), signatory="Wang Li")
    s.ledger.ban(uscc, banned_at=at("2025-03-01"), reason="unlicensed rooms")


def standing_in(s: Services, set_id: str, uscc: str, day: str) -> dict[str, Any]:
    with s.db.transaction() as tx:
        doc = tx.value(
            "SELECT standing FROM standing_segments WHERE set_id = ? AND uscc = ? "
            "AND valid_from <= ? AND valid_until > ?",
            (set_id, uscc, day, day),
        )
    return json.loads(doc)  # type: ignore[no-any-return]


@pytest.fixture
def city(store_settings, clock):
    """Random histories of 40 enterprises, plus one overdue and one banned on fixed days."""
    from datetime import datetime, timezone

    clock.now = datetime(2026, 7, 1, tzinfo=timezone.utc)
    s = bootstrap(store_settings, clock=clock)
    writer = Writer(s, 11)
    writer.bulk(30)
    writer.start(10)
    writer.step(30)
    s.projections.catch_up()
    s.late, s.ban = random_uscc(), random_uscc()  # type: ignore[attr-defined]
    overdue(s, s.late)  # type: ignore[attr-defined]
    banned(s, s.ban)  # type: ignore[attr-defined]
    yield s
    s.close()


def test_a_policy_file_with_v2s_parameters_builds_v2s_set_row_for_row(city, tmp_path):
    path = policy_file(tmp_path, 'version = "v2-file"\n[reward]\nmin_score = 95\n'
                                 'min_days_between = 180\n')
    from_file = city.projections.rebuild(load_policy_file(path, city.policy("v1")), swap=False)
    v2 = city.projections.rebuild("v2", swap=False)
    assert rows_of(city, from_file) == rows_of(city, v2)
    kept = {st.id: st.parameters for st in city.projections.status()}
    assert kept[from_file] == kept[v2] == V2.parameters()


def test_max_months_moves_exactly_the_overdue_records_end_of_display(city, tmp_path):
    path = policy_file(tmp_path, 'version = "short"\n'
                                 "[records.rectification_overdue]\nmax_months = 6\n")
    live = city.projections.live().id
    short = city.projections.rebuild(load_policy_file(path, city.policy("v1")), swap=False)
    late = city.late

    # the last day of display under the file (2025-02-16 + 6 months, exclusive end)
    before = standing_in(city, short, late, "2025-08-15")
    assert [r["until"] for r in before["records"]] == ["2025-08-16"]
    assert before["credit_class"] == "C"
    after = standing_in(city, short, late, "2025-08-16")
    assert after["records"] == [] and after["credit_class"] == "B"
    # under v1 it shows for a year
    assert [r["until"] for r in standing_in(city, live, late, "2025-08-16")["records"]] == [
        "2026-02-16"
    ]
    assert standing_in(city, live, late, "2026-02-15")["credit_class"] == "C"
    # the ban (another kind of record) is untouched, and so is every enterprise without
    # an overdue record
    assert standing_in(city, short, city.ban, "2026-01-01") == standing_in(
        city, live, city.ban, "2026-01-01"
    )
    facts_v1, segments_v1 = rows_of(city, live)
    facts_short, segments_short = rows_of(city, short)
    assert facts_v1 == facts_short
    changed = {r[0] for r in set(segments_v1) ^ set(segments_short)}
    with city.db.transaction() as tx:
        overdue_ever = {
            u for u, doc in tx.all("SELECT uscc, facts FROM enterprise_facts WHERE set_id = ?",
                                   (live,))
            if any(r["kind"] == "rectification_overdue" for r in json.loads(doc)["records"])
            or json.loads(doc)["order"] is not None
        }
    assert late in changed and changed <= overdue_ever
    # a comparison on the boundary day moves the overdue enterprise from C to B
    with city.db.transaction() as tx:
        found = compare.compare(tx, live, short, "2025-08-16")
    moved = {m["uscc"]: (m["a"]["credit_class"], m["b"]["credit_class"]) for m in found["moved"]}
    assert moved[late] == ("C", "B")
    assert set(moved) <= overdue_ever


def test_min_months_moves_when_an_overdue_record_becomes_repairable(city, tmp_path):
    path = policy_file(tmp_path, 'version = "quick"\n'
                                 "[records.rectification_overdue]\nmin_months = 1\n")
    quick = city.projections.rebuild(load_policy_file(path, city.policy("v1")), swap=False)
    (record,) = standing_in(city, quick, city.late, "2025-03-01")["records"]
    assert record["repairable_from"] == "2025-03-16"


def test_a_set_keeps_its_parameters_across_a_restart(city, tmp_path, store_settings, clock):
    path = policy_file(tmp_path, 'version = "short"\n'
                                 "[records.rectification_overdue]\nmax_months = 6\n")
    short = city.projections.rebuild(load_policy_file(path, city.policy("v1")), swap=False)
    city.close()
    again = bootstrap(store_settings, clock=clock)
    try:
        uscc = random_uscc()
        overdue(again, uscc)  # followed by the restarted process, with the set's parameters
        assert [r["until"] for r in standing_in(again, short, uscc, "2025-03-01")["records"]] \
            == ["2025-08-16"]
        (kept,) = [st for st in again.projections.status() if st.id == short]
        assert kept.policy == "short"
        assert kept.parameters["records"]["rectification_overdue"] == {
            "min_months": 3, "max_months": 6,
        }
    finally:
        again.close()
        city.ledger = again.ledger  # closed twice harmlessly by the fixture
        city.db = again.db


def test_a_rebuild_without_a_policy_keeps_the_live_sets_parameters(city, tmp_path):
    path = policy_file(tmp_path, 'version = "short"\n'
                                 "[records.rectification_overdue]\nmax_months = 6\n")
    city.projections.rebuild(load_policy_file(path, city.policy("v1")), swap=True)
    rebuilt = city.projections.rebuild(city.live_policy(), swap=True)
    assert city.projections.live().id == rebuilt
    assert city.live_policy().overdue_max_months == 6


def test_a_comparison_counts_what_each_sets_lists_hold(city):
    live = city.projections.live().id
    v2 = city.projections.rebuild("v2", swap=False)
    day = "2026-06-30"
    with city.db.transaction() as tx:
        found = compare.compare(tx, "live", v2, day)
        reward = {i["uscc"] for i in queries.reward_list(tx, day, limit=1000)[0]}
        punishment = {i["uscc"] for i in queries.punishment_list(tx, day, limit=1000)[0]}
        enterprises = tx.value(
            "SELECT COUNT(*) FROM enterprise_facts WHERE set_id = ?", (live,)
        )
    a = found["totals"]["a"]
    assert found["a"]["id"] == live and found["b"]["policy"] == "v2"
    assert a["reward_list"] == len(reward) and a["punishment_list"] == len(punishment)
    assert a["enterprises"] == enterprises == sum(a["by_class"].values())
    assert a["by_class"]["A"] == len(reward)
    # v2 only narrows the reward list: each mover leaves it, from class A to B
    b = found["totals"]["b"]
    assert b["reward_list"] == len(reward) - len(found["moved"])
    for m in found["moved"]:
        assert m["uscc"] in reward
        assert (m["a"]["credit_class"], m["b"]["credit_class"]) == ("A", "B")
    assert sum(g["moved"] for g in found["by_district"].values()) == len(found["moved"])
    assert sum(g["a"]["reward_list"] for g in found["by_place_type"].values()) == len(reward)
    out = io.StringIO()
    compare.write_csv(out, found["moved"])
    lines = out.getvalue().splitlines()
    assert lines[0] == ",".join(compare.CSV_HEADER)
    assert [ln.split(",")[0] for ln in lines[1:]] == [m["uscc"] for m in found["moved"]]


def test_an_unknown_set_is_refused(city):
    from ledger.errors import InvalidInput

    with city.db.transaction() as tx, pytest.raises(InvalidInput, match="no live or ready"):
        compare.compare(tx, "live", "v9-nothing", "2026-01-01")


def test_v1_is_the_default_of_every_parameter():
    assert V1.parameters() == {
        "reward": {"min_score": 90, "min_days_between": 90, "clean_years": 3},
        "records": {"rectification_overdue": {"min_months": 3, "max_months": 12},
                    "banned": {"months": 36}},
        "hygiene": {"A": 90, "B": 70, "C": 60},
        "verification": {"days": 60},
    }


def test_a_policy_files_set_built_in_segments_by_workers_is_the_same(city, tmp_path):
    """Workers (here and via `ledger projections work`) fold with the set's own
    parameters, read back from the store."""
    path = policy_file(tmp_path, 'version = "short"\n'
                                 "[records.rectification_overdue]\nmax_months = 6\n")
    policy = load_policy_file(path, city.policy("v1"))
    one = rows_of(city, city.projections.rebuild(policy, swap=False))
    spread = city.projections.rebuild(policy, swap=False, segments=4, workers=2)
    assert rows_of(city, spread) == one
    with city.db.transaction() as tx:
        assert city.projections.policy_of(tx, spread) == policy
