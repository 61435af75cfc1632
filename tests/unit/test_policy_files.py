"""Policy files: parameters by name, missing ones from v1, unknown or bad ones refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger.errors import InvalidInput
from ledger.policy.credit import V1, V2, Policy, load_policy_file


def load(tmp_path: Path, text: str) -> Policy:
    path = tmp_path / "p.toml"
    path.write_text(text)
    return load_policy_file(path, V1)


def test_missing_parameters_take_v1s_values(tmp_path):
    p = load(tmp_path, 'version = "r95"\n[reward]\nmin_score = 95\n')
    assert p.version == "r95" and p.reward_min_score == 95
    assert p.parameters() | {"reward": V1.parameters()["reward"]} == V1.parameters()


def test_v2_is_v1_with_a_stricter_reward_list():
    assert V2.reward_min_score == 95 and V2.reward_min_gap_days == 180
    assert Policy.from_parameters("v2", V2.parameters(), V1) == V2


@pytest.mark.parametrize("text, named", [
    ('version = "x"\n[reward]\nmin_scor = 95\n', "reward.min_scor"),
    ('version = "x"\nspeed = 3\n', "speed"),
    ('version = "x"\n[records.closed]\nmonths = 3\n', "records.closed.months"),
])
def test_an_unknown_parameter_is_refused_by_name(tmp_path, text, named):
    with pytest.raises(InvalidInput, match=f"unknown parameter {named}$"):
        load(tmp_path, text)


@pytest.mark.parametrize("text, reason", [
    ('version = "x"\n[reward]\nmin_score = 101\n', "from 0 to 100"),
    ('version = "x"\n[reward]\nmin_score = "95"\n', "whole number"),
    ('version = "x"\n[hygiene]\nB = 95\n', "A > B > C"),
    ('version = "x"\n[records.rectification_overdue]\nmin_months = 13\n', "must not exceed"),
    ('[reward]\nmin_score = 95\n', "version is missing"),
    ('version = "no spaces"\n', "version must be"),
    ('version = "v2"\n[reward]\nmin_score = 99\n', "built-in policy"),
    ("version = \n", "not TOML"),
])
def test_bad_files_are_refused_with_the_reason(tmp_path, text, reason):
    with pytest.raises(InvalidInput, match=reason):
        load(tmp_path, text)


def test_a_built_in_name_with_its_own_parameters_is_that_policy(tmp_path):
    assert load(tmp_path, 'version = "v2"\n[reward]\nmin_score = 95\nmin_days_between = 180\n') \
        == V2


def test_hygiene_bands_come_from_the_parameters():
    from ledger.policy.facts import Facts

    facts = Facts("U", "n", "hotel", "230102", "a", "r", "2025-01-01",
                  first_inspection_on="2025-01-01",
                  inspections=[["2025-01-01", 80, "compliant"], ["2025-06-01", 85, "compliant"]])
    strict = Policy.from_parameters("s", {"hygiene": {"A": 95, "B": 86, "C": 80}}, V1)
    assert V1.hygiene_grade(facts) == "B" and strict.hygiene_grade(facts) == "C"
