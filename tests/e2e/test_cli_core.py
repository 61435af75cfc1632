"""The core commands end to end through the CLI: ``ledger migrate`` and
``ledger history``, on a store chosen by LEDGER_DATABASE_URL (and, on PostgreSQL,
LEDGER_DATABASE_SCHEMA), as a user would run them."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from typer.testing import CliRunner

from ledger.bootstrap import bootstrap
from ledger.cli import app
from tests.factories import licence, random_uscc


def env_for(settings) -> dict[str, str | None]:
    return {"LEDGER_DATABASE_URL": settings.database_url,
            "LEDGER_DATABASE_SCHEMA": settings.database_schema}


def ledger(settings, *args: str):
    return CliRunner(env=env_for(settings)).invoke(app, list(args))


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.fixture
def written(store_settings, clock):
    """An enterprise written through the application, with a back-dated inspection:
    it occurred on 2025-02-01 and was recorded on 2025-03-01."""
    uscc = random_uscc()
    s = bootstrap(store_settings, clock=clock)
    try:
        clock.now = at("2025-01-02T01:05:00+00:00")
        s.ledger.license(**licence(uscc))
        clock.now = at("2025-01-03T01:10:00.250000+00:00")
        s.ledger.commit(uscc, committed_at="2025-01-03T09:00:00+08:00", signatory="Wang Li")
        clock.now = at("2025-03-01T02:00:00+00:00")
        s.ledger.inspect(uscc, inspected_at="2025-02-01T10:00:00+08:00", inspector="Zhao",
                         score=95, outcome="compliant")
    finally:
        s.close()
    return uscc


EVENTS = [
    ("Licensed", "2025-01-02T09:00:00+08:00", "2025-01-02T01:05:00+00:00"),
    ("Committed", "2025-01-03T09:00:00+08:00", "2025-01-03T01:10:00.250000+00:00"),
    ("Inspected", "2025-02-01T10:00:00+08:00", "2025-03-01T02:00:00+00:00"),
]


def event_lines(stdout: str) -> list[list[str]]:
    return [line.split() for line in stdout.splitlines()
            if line.split() and line.split()[0].isdigit()]


# -- migrate ---------------------------------------------------------------------------------


def test_migrate_creates_the_tables_then_is_up_to_date(store_settings):
    first = ledger(store_settings, "migrate")
    assert first.exit_code == 0, first.output
    assert first.stdout.startswith("applied: 001_read_models")
    second = ledger(store_settings, "migrate")
    assert second.exit_code == 0, second.output
    assert second.stdout.strip() == "up to date"
    s = bootstrap(store_settings)
    try:
        with s.db.transaction() as tx:
            assert tx.value("SELECT COUNT(*) FROM stored_events") == 0
            applied = tx.value("SELECT COUNT(*) FROM schema_migrations")
    finally:
        s.close()
    assert applied == len(first.stdout.split(":", 1)[1].split(","))


def test_migrate_leaves_written_events_alone(store_settings, written):
    result = ledger(store_settings, "migrate")
    assert (result.exit_code, result.stdout.strip()) == (0, "up to date")
    assert len(event_lines(ledger(store_settings, "history", written).stdout)) == 3


# -- history ---------------------------------------------------------------------------------


def test_history_prints_the_events_in_order_with_both_timestamps(store_settings, written):
    result = ledger(store_settings, "history", written)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split()[0] == written
    assert "Songbei Riverside Barbershop" in lines[0]
    rows = event_lines(result.stdout)
    assert [(r[0], r[1], r[2], r[3], r[4]) for r in rows] == [
        (str(v), str(v), t, occurred, recorded)
        for v, (t, occurred, recorded) in enumerate(EVENTS, start=1)
    ]
    assert "standing as of" in lines[-1] and "compliant" in lines[-1]


def test_history_json(store_settings, written):
    result = ledger(store_settings, "history", written, "--json", "--as-of", "2025-03-01")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert {k: doc[k] for k in ("uscc", "name", "place_type", "district", "as_of",
                                "known_at", "policy")} == {
        "uscc": written, "name": "Songbei Riverside Barbershop", "place_type": "barbershop",
        "district": "230109", "as_of": "2025-03-01", "known_at": None, "policy": "v1",
    }
    assert [(e["type"], e["occurred_at"], e["recorded_at"]) for e in doc["events"]] == EVENTS
    assert [(e["version"], e["position"], e["uscc"]) for e in doc["events"]] == [
        (1, 1, written), (2, 2, written), (3, 3, written)
    ]
    assert doc["events"][2]["data"]["score"] == 95
    assert doc["standing"]["status"] == "compliant"
    assert doc["standing"]["credit_class"] == "B"


def test_history_as_of_a_past_day_shows_what_had_happened_by_then(store_settings, written):
    doc = json.loads(ledger(store_settings, "history", written, "--json",
                            "--as-of", "2025-01-10").stdout)
    assert [e["type"] for e in doc["events"]] == ["Licensed", "Committed"]
    assert doc["standing"]["status"] == "committed"
    text = ledger(store_settings, "history", written, "--as-of", "2025-01-02").stdout
    assert [r[2] for r in event_lines(text)] == ["Licensed"]
    assert "standing as of 2025-01-02: licensed" in text


def test_history_before_the_licence_says_so(store_settings, written):
    result = ledger(store_settings, "history", written, "--as-of", "2024-12-31")
    assert result.exit_code == 0, result.output
    assert event_lines(result.stdout) == []
    assert "not licensed yet" in result.stdout


def test_known_at_differs_from_as_of_for_a_back_dated_event(store_settings, written):
    happened = json.loads(ledger(store_settings, "history", written, "--json",
                                 "--as-of", "2025-02-15").stdout)
    known = json.loads(ledger(store_settings, "history", written, "--json",
                              "--as-of", "2025-02-15",
                              "--known-at", "2025-02-15T00:00:00+08:00").stdout)
    assert [e["type"] for e in happened["events"]] == ["Licensed", "Committed", "Inspected"]
    assert happened["standing"]["status"] == "compliant"
    assert [e["type"] for e in known["events"]] == ["Licensed", "Committed"]
    assert known["standing"]["status"] == "committed"
    assert known["known_at"] == "2025-02-15T00:00:00+08:00"


def test_known_at_takes_any_offset_and_is_inclusive(store_settings, written):
    doc = json.loads(ledger(store_settings, "history", written, "--json",
                            "--known-at", "2025-03-01T10:00:00+08:00").stdout)
    assert len(doc["events"]) == 3  # recorded exactly then
    doc = json.loads(ledger(store_settings, "history", written, "--json",
                            "--known-at", "2025-03-01T01:59:59.999999Z").stdout)
    assert len(doc["events"]) == 2


def test_an_unknown_enterprise_exits_1(store_settings, written):
    result = ledger(store_settings, "history", "91350200776049653A")
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: no enterprise with USCC 91350200776049653A"
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["91350200776049653B"], "uscc"),
        (["9135020077604965"], "uscc"),
        (["9135020077604965OA"], "uscc"),
        (["91350200776049653A", "--as-of", "2025-02-30"], "--as-of"),
        (["91350200776049653A", "--as-of", "yesterday"], "--as-of"),
        (["91350200776049653A", "--known-at", "2025-03-01T10:00:00"], "--known-at"),
        (["91350200776049653A", "--known-at", "2025-03-01"], "--known-at"),
        (["91350200776049653A", "--known-at", "soon"], "--known-at"),
        (["{written}", "--known-at", "0001-01-01T00:00:00+09:00"], "--known-at"),
        (["{written}", "--known-at", "2025-03-01T10:00:00+14:01"], "--known-at"),
        (["{written}", "--known-at", "2025-W09-6T10:00:00+08:00"], "--known-at"),
        (["{written}", "--known-at", "2025-03-01T10:00:00.1234567Z"], "--known-at"),
        (["{written}", "--as-of", "20250301"], "--as-of"),
        (["{written}", "--as-of", "3000-01-01"], "--as-of"),
    ],
)
@pytest.mark.sqlite_only
def test_bad_input_exits_2_with_a_one_line_reason(store_settings, written, args, names):
    result = ledger(store_settings, "history", *(a.format(written=written) for a in args))
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {names}")


@pytest.mark.sqlite_only
def test_a_bad_usccs_reason_is_named(store_settings, written):
    assert "check character" in ledger(store_settings, "history", "91350200776049653B").stderr
    assert "18 characters" in ledger(store_settings, "history", "9135020077604965").stderr


@pytest.mark.sqlite_only
def test_the_uscc_may_be_given_in_lower_case(store_settings, written):
    result = ledger(store_settings, "history", written.lower(), "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["uscc"] == written


@pytest.mark.sqlite_only
def test_a_bad_database_url_exits_2_naming_the_setting(tmp_path):
    result = CliRunner(env={"LEDGER_DATABASE_URL": "mysql://x"}).invoke(app, ["migrate"])
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: LEDGER_DATABASE_URL")


# -- help ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [[], ["migrate"], ["serve"], ["history"], ["keys"], ["projections"], ["audit"], ["demo"]],
    ids=lambda a: " ".join(a) or "ledger",
)
def test_help_works_everywhere(args):
    result = CliRunner().invoke(app, [*args, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.stdout


def test_the_root_help_lists_the_core_commands():
    out = CliRunner().invoke(app, ["--help"]).stdout
    for name in ("migrate", "serve", "history", "keys", "projections", "audit", "demo"):
        assert name in out


def test_recorded_at_is_stored_in_utc_whatever_the_clock_offset(store_settings, clock):
    uscc = random_uscc()
    s = bootstrap(store_settings, clock=clock)
    try:
        clock.now = datetime(2025, 1, 2, 1, 5, tzinfo=timezone.utc).astimezone()
        s.ledger.license(**licence(uscc))
    finally:
        s.close()
    doc = json.loads(ledger(store_settings, "history", uscc, "--json").stdout)
    assert doc["events"][0]["recorded_at"] == "2025-01-02T01:05:00+00:00"


@pytest.mark.sqlite_only
@pytest.mark.parametrize("args", [["migrate"], ["history", "91350200776049653A"]])
def test_an_unusable_store_exits_1_with_one_line(tmp_path, args):
    url = f"sqlite:///{tmp_path / 'missing' / 'ledger.db'}"
    result = CliRunner(env={"LEDGER_DATABASE_URL": url}).invoke(app, args)
    assert result.exit_code == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: cannot open the ledger's database")
