"""`ledger projections rebuild --policy-file`, `status --json` and `compare` end to end,
on both stores."""

from __future__ import annotations

import csv
import json

from tests.e2e import test_cli_projections as base

ledger_env = base.ledger_env  # the same fixture: a store of three enterprises
run, sets = base.run, base.sets


def write(tmp_path, text: str):
    path = tmp_path / "policy.toml"
    path.write_text(text)
    return path


def test_a_policy_file_builds_a_set_beside_that_keeps_its_parameters(ledger_env, tmp_path):
    path = write(tmp_path, 'version = "short"\n[records.rectification_overdue]\n'
                           "max_months = 6\n")
    result = run("rebuild", "--policy-file", str(path))
    assert result.exit_code == 0, result.output
    assert "(policy short)" in result.output and "ready beside" in result.output
    docs = {d["policy"]: d for d in json.loads(run("status", "--json").output)["sets"]}
    assert docs["short"]["state"] == "ready" and docs["v1"]["state"] == "live"
    assert docs["short"]["parameters"]["records"]["rectification_overdue"]["max_months"] == 6
    assert docs["short"]["parameters"]["reward"]["min_score"] == 90  # v1's
    assert docs["v1"]["parameters"]["records"]["rectification_overdue"]["max_months"] == 12
    by_name = run("compare", "live", "short", "--json")  # a set named by its policy
    assert by_name.exit_code == 0, by_name.output
    assert json.loads(by_name.output)["b"]["id"] == docs["short"]["id"]


def test_an_unknown_parameter_exits_2_naming_it_and_builds_nothing(ledger_env, tmp_path):
    before = sets(ledger_env)
    path = write(tmp_path, 'version = "x"\n[reward]\nmin_scor = 95\n')
    result = run("rebuild", "--policy-file", str(path))
    assert result.exit_code == 2
    assert "unknown parameter reward.min_scor" in result.output
    assert sets(ledger_env) == before


def test_policy_and_policy_file_together_exit_2(ledger_env, tmp_path):
    path = write(tmp_path, 'version = "x"\n')
    assert run("rebuild", "--policy", "v2", "--policy-file", str(path)).exit_code == 2


def test_compare_prints_counts_and_writes_the_csv(ledger_env, tmp_path):
    assert run("rebuild", "--policy", "v2").exit_code == 0
    v2 = next(i for i, (policy, _) in sets(ledger_env).items() if policy == "v2")
    out = tmp_path / "moved.csv"
    result = run("compare", "live", v2, "--as-of", "2026-01-01", "--csv", str(out))
    assert result.exit_code == 0, result.output
    assert "as of 2026-01-01" in result.output and "0 enterprises differ" in result.output
    assert list(csv.reader(out.open())) == [[
        "uscc", "a_on_reward_list", "a_on_punishment_list", "a_credit_class",
        "b_on_reward_list", "b_on_punishment_list", "b_credit_class",
    ]]
    doc = json.loads(run("compare", "live", v2, "--as-of", "2026-01-01", "--json").output)
    assert doc["totals"]["a"]["enterprises"] == 2  # the live set lags one event behind


def test_compare_with_an_unknown_set_or_a_bad_date_exits_2(ledger_env):
    assert run("compare", "live", "nope").exit_code == 2
    assert run("compare", "live", "live", "--as-of", "2026-13-01").exit_code == 2
