"""The witness (``ledger audit witness``): keeps the last checkpoint it saw and checks
that each new one extends it. A history rewritten and re-signed with the ledger's own
key passes ``ledger audit verify`` but not the witness."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from ledger.audit.witness import BadState, Fork, WitnessError, observe
from ledger.cli import app as cli_app
from ledger.services.access import ApiKeys
from tests.factories import licence, random_uscc


@pytest.fixture
def client(services) -> Iterator[TestClient]:
    """An httpx client of the real ASGI app, with an audit:read key."""
    _, token = ApiKeys(services.db).create("witness", ["audit:read"], None)
    with TestClient(create_app(services=services)) as c:
        c.headers["Authorization"] = f"Bearer {token}"
        yield c


def grow(services, clock, n: int = 2) -> None:
    for _ in range(n):
        uscc = random_uscc()
        services.ledger.license(**licence(uscc))
        services.ledger.commit(uscc, committed_at="2025-01-05T10:00:00+08:00", signatory="Li")
    clock.now += timedelta(seconds=1)
    services.audit.checkpoint()


def rewrite_history_and_resign(services, position: int) -> None:
    """What someone who can write the database and read the key can do: change an
    event, rebuild the tree from the altered log and sign a fresh checkpoint."""
    pos = "notification_id" if services.db.postgres else "rowid"
    with services.db.transaction(write=True) as tx:
        state = bytes(tx.value(f"SELECT state FROM stored_events WHERE {pos} = ?", (position,)))
        assert b'"occurred_at":"2025' in state
        tx.execute(f"UPDATE stored_events SET state = ? WHERE {pos} = ?",
                   (state.replace(b'"occurred_at":"2025', b'"occurred_at":"2024', 1), position))
        for table in ("audit_nodes", "audit_checkpoints", "audit_states"):
            tx.execute(f"DELETE FROM {table}")
        tx.execute("UPDATE audit_tree SET size = 0")
    services.audit.tree._cached = None
    services.audit.catch_up()
    services.audit.checkpoint()


def test_the_first_run_keeps_the_checkpoint_and_later_runs_check_consistency(
    services, clock, client, tmp_path
):
    state = tmp_path / "witness.json"
    grow(services, clock)
    first = observe(client, state)
    assert first.previous is None and first.latest.tree_size == 4
    kept = json.loads(state.read_text())
    assert kept["checkpoint"]["tree_size"] == 4 and first.latest.key_id in kept["public_keys"]
    grow(services, clock)
    second = observe(client, state)
    assert (second.previous.tree_size, second.latest.tree_size) == (4, 8)
    assert "is consistent with" in second.message()
    assert observe(client, state).latest.tree_size == 8  # nothing new: still fine


def test_a_rewritten_and_resigned_log_is_caught_naming_both_checkpoints(
    services, clock, client, tmp_path
):
    state = tmp_path / "witness.json"
    grow(services, clock)
    kept = observe(client, state).latest
    grow(services, clock)
    rewrite_history_and_resign(services, position=2)
    assert services.audit.verify(wait=0).ok  # the database alone no longer tells
    with pytest.raises(Fork) as caught:
        observe(client, state)
    latest = services.audit.latest_checkpoint()
    message = str(caught.value)
    assert "rewritten (a fork)" in message
    assert kept.root_hash in message and latest.root_hash in message
    assert json.loads(state.read_text())["checkpoint"] == kept.to_json()  # state kept


def test_a_log_rewritten_at_the_same_size_is_a_fork_too(services, clock, client, tmp_path):
    state = tmp_path / "witness.json"
    grow(services, clock)
    observe(client, state)
    rewrite_history_and_resign(services, position=4)
    with pytest.raises(Fork):
        observe(client, state)


def test_a_checkpoint_with_a_bad_signature_is_refused(services, clock, client, tmp_path):
    grow(services, clock)
    with services.db.transaction(write=True) as tx:
        tx.execute("UPDATE audit_checkpoints SET root_hash = ?", ("00" * 32,))
    with pytest.raises(WitnessError, match="bad signature"):
        observe(client, tmp_path / "witness.json")
    assert not (tmp_path / "witness.json").exists()


@pytest.mark.sqlite_only
def test_a_state_file_that_is_not_one_is_refused(tmp_path: Path, client) -> None:
    bad = tmp_path / "witness.json"
    bad.write_text("not json")
    with pytest.raises(BadState):
        observe(client, bad)


@pytest.mark.sqlite_only
@pytest.mark.parametrize(
    ("env", "url"),
    [({}, "http://127.0.0.1:9"), ({"LEDGER_API_KEY": "k"}, "ftp://x")],
)
def test_the_witness_command_refuses_bad_input_with_exit_2(tmp_path, env, url, monkeypatch):
    monkeypatch.delenv("LEDGER_API_KEY", raising=False)
    result = CliRunner().invoke(
        cli_app, ["audit", "witness", "--url", url, "--state", str(tmp_path / "s.json")],
        env=env,
    )
    assert result.exit_code == 2, result.output


@pytest.mark.sqlite_only
def test_an_unreachable_ledger_is_exit_1(tmp_path):
    result = CliRunner().invoke(
        cli_app,
        ["audit", "witness", "--url", "http://127.0.0.1:9", "--state", str(tmp_path / "s.json"),
         "--timeout", "2"],
        env={"LEDGER_API_KEY": "k"},
    )
    assert result.exit_code == 1 and "cannot reach the ledger" in result.output
