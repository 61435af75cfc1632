"""`ledger keys create|list|revoke` end to end, on both stores."""

from __future__ import annotations

import json

import pytest
from click.testing import Result
from typer.testing import CliRunner

from ledger.cli import app
from ledger.services.access import ApiKeys, hash_key
from ledger.settings import Settings
from ledger.storage.db import Database


@pytest.fixture
def cli(store_settings: Settings) -> tuple[CliRunner, dict[str, str]]:
    env = {"LEDGER_DATABASE_URL": store_settings.database_url}
    if store_settings.database_schema:
        env["LEDGER_DATABASE_SCHEMA"] = store_settings.database_schema
    return CliRunner(), env


def run(cli: tuple[CliRunner, dict[str, str]], *args: str) -> Result:
    runner, env = cli
    return runner.invoke(app, list(args), env=env)


def keys(settings: Settings) -> ApiKeys:
    return ApiKeys(Database(settings))


def test_create_prints_the_key_alone_on_the_last_line_and_stores_its_hash(
    cli: tuple[CliRunner, dict[str, str]], store_settings: Settings
) -> None:
    result = run(cli, "keys", "create", "--name", "bank-a", "--scope", "credit:read",
                 "--scope", "audit:read", "--rate-limit", "50")
    assert result.exit_code == 0, result.output
    token = result.stdout.strip().splitlines()[-1]
    assert token.startswith("lk_") and " " not in token
    store = keys(store_settings)
    try:
        key = store.authenticate(token)
        assert key is not None
        assert (key.name, sorted(key.scopes), key.rate_limit) == (
            "bank-a", ["audit:read", "credit:read"], 50.0)
        with store.db.transaction() as tx:
            stored = tx.all("SELECT * FROM api_keys")
        assert token not in repr(stored) and hash_key(token) in repr(stored)
    finally:
        store.db.close()


@pytest.mark.parametrize(
    "args",
    [
        ["--name", "x", "--scope", "credit:write"],
        ["--name", "x"],
        ["--name", "x", "--scope", "credit:read", "--rate-limit", "0"],
        ["--name", "has space", "--scope", "credit:read"],
    ],
)
def test_bad_input_exits_2_with_one_line_and_creates_nothing(
    cli: tuple[CliRunner, dict[str, str]], store_settings: Settings, args: list[str]
) -> None:
    result = run(cli, "keys", "create", *args)
    assert result.exit_code == 2
    assert result.stdout == ""
    listed = run(cli, "keys", "list", "--json")
    assert json.loads(listed.stdout) == []


def test_an_unknown_scope_is_named(cli: tuple[CliRunner, dict[str, str]]) -> None:
    result = run(cli, "keys", "create", "--name", "x", "--scope", "credit:write")
    assert result.stderr.strip().splitlines() == [
        "error: --scope: unknown scope 'credit:write' (known: ledger:write, credit:read, "
        "audit:read)"]


def test_a_duplicate_name_exits_2(cli: tuple[CliRunner, dict[str, str]]) -> None:
    assert run(cli, "keys", "create", "--name", "x", "--scope", "credit:read").exit_code == 0
    again = run(cli, "keys", "create", "--name", "x", "--scope", "ledger:write")
    assert again.exit_code == 2
    assert "exists already" in again.stderr


def test_list_shows_each_key_with_its_scopes_and_state(
    cli: tuple[CliRunner, dict[str, str]]
) -> None:
    run(cli, "keys", "create", "--name", "regulator", "--scope", "ledger:write")
    run(cli, "keys", "create", "--name", "bank", "--scope", "credit:read", "--rate-limit", "5")
    run(cli, "keys", "revoke", "bank")
    table = run(cli, "keys", "list")
    assert table.exit_code == 0
    lines = table.stdout.splitlines()
    assert lines[0].split()[:3] == ["name", "scopes", "rate/s"]
    assert any(ln.startswith("regulator") and ln.rstrip().endswith("-") for ln in lines)
    listed = {k["name"]: k for k in json.loads(run(cli, "keys", "list", "--json").stdout)}
    assert listed["regulator"]["revoked_at"] is None
    assert listed["bank"]["revoked_at"] is not None
    assert listed["bank"]["rate_limit"] == 5.0
    assert listed["bank"]["scopes"] == ["credit:read"]


def test_a_revoked_key_no_longer_authenticates(
    cli: tuple[CliRunner, dict[str, str]], store_settings: Settings
) -> None:
    created = run(cli, "keys", "create", "--name", "gone", "--scope", "credit:read")
    token = created.stdout.strip().splitlines()[-1]
    result = run(cli, "keys", "revoke", "gone")
    assert result.exit_code == 0 and "revoked" in result.stdout
    store = keys(store_settings)
    try:
        key = store.authenticate(token)
        assert key is not None and key.revoked
    finally:
        store.db.close()


def test_revoking_an_unknown_key_exits_2(cli: tuple[CliRunner, dict[str, str]]) -> None:
    result = run(cli, "keys", "revoke", "nobody")
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: name: no key named 'nobody'"


def test_keys_work_on_a_fresh_database(cli: tuple[CliRunner, dict[str, str]]) -> None:
    result = run(cli, "keys", "list")
    assert result.exit_code == 0
    assert "no keys" in result.stdout
