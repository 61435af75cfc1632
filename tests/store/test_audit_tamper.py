"""Tampering with the database directly (a byte of an event changed, an event deleted,
two swapped, one appended or inserted behind the ledger's back, the tree or a
checkpoint rewritten) is caught by ``ledger audit verify`` and, through an export, by
``ledger audit verify-export``, each naming the first bad position; and an export
tampered with after it was written is caught offline, with no database."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ledger.cli import app
from tests.factories import licence, random_uscc

NO_DATABASE = {"LEDGER_DATABASE_URL": "postgresql://nobody@127.0.0.1:9/nowhere",
               "LEDGER_DATABASE_SCHEMA": None}


def cli(settings, *args: str, env: dict | None = None):
    env = env or {
        "LEDGER_DATABASE_URL": settings.database_url,
        "LEDGER_DATABASE_SCHEMA": settings.database_schema,
    }
    return CliRunner().invoke(app, list(args), env=env)


@pytest.fixture
def history(services, clock):
    """Ten events of three enterprises (positions 1-4, 5-7 and 8-10), checkpointed at 4
    and at 10."""
    usccs = []
    for i in range(3):
        uscc = random_uscc()
        usccs.append(uscc)
        services.ledger.license(**licence(uscc))
        for day in range(3 - i if i < 2 else 1):
            services.ledger.commit(
                uscc, committed_at=f"2025-01-0{5 + day}T10:00:00+08:00", signatory="Wang Li"
            )
        if i == 0:
            services.audit.checkpoint()
    services.ledger.commit(usccs[2], committed_at="2025-01-09T10:00:00+08:00", signatory="Li")
    clock.now += timedelta(minutes=1)
    services.audit.checkpoint()
    with services.db.transaction() as tx:
        assert services.log.head(tx) == 10
    return usccs


class Tamper:
    def __init__(self, services) -> None:
        self.db = services.db
        self.pos = "notification_id" if services.db.postgres else "rowid"

    def row(self, position: int):
        with self.db.transaction() as tx:
            return tx.one(
                f"SELECT originator_id, originator_version, topic, state FROM stored_events "
                f"WHERE {self.pos} = ?", (position,),
            )

    def change_a_byte(
        self, position: int, old: bytes = b'"occurred_at":"2025',
        new: bytes = b'"occurred_at":"2024',
    ):
        state = bytes(self.row(position)[3])
        assert old in state
        with self.db.transaction(write=True) as tx:
            tx.execute(f"UPDATE stored_events SET state = ? WHERE {self.pos} = ?",
                       (state.replace(old, new, 1), position))

    def delete(self, position: int) -> None:
        with self.db.transaction(write=True) as tx:
            tx.execute(f"DELETE FROM stored_events WHERE {self.pos} = ?", (position,))

    def swap(self, a: int, b: int) -> None:
        with self.db.transaction(write=True) as tx:
            for old, new in ((a, -1), (b, a), (-1, b)):
                tx.execute(f"UPDATE stored_events SET {self.pos} = ? WHERE {self.pos} = ?",
                           (new, old))

    def forge(self, position: int, like: int = 1) -> None:
        """A new enterprise's Licensed event, written straight into the table."""
        _, _, topic, state = self.row(like)
        ident = uuid.uuid4()
        key = str(ident) if self.db.postgres else ident.hex
        with self.db.transaction(write=True) as tx:
            tx.execute(
                f"INSERT INTO stored_events ({self.pos}, originator_id, originator_version, "
                "topic, state) VALUES (?, ?, 1, ?, ?)",
                (position, key, topic, bytes(state)),
            )

    def insert(self, position: int) -> None:
        """Shift positions >= ``position`` up by one and forge an event there."""
        with self.db.transaction(write=True) as tx:
            head = tx.value(f"SELECT MAX({self.pos}) FROM stored_events")
            for p in range(head, position - 1, -1):
                tx.execute(f"UPDATE stored_events SET {self.pos} = ? WHERE {self.pos} = ?",
                           (p + 1, p))
        self.forge(position)

    def sql(self, statement: str, params: tuple = ()) -> None:
        with self.db.transaction(write=True) as tx:
            tx.execute(statement, params)


def verify(store_settings):
    return cli(store_settings, "audit", "verify", "--wait", "0")


def exported(store_settings, tmp_path: Path, *extra: str) -> Path:
    out = tmp_path / f"export{len(list(tmp_path.iterdir()))}.jsonl"
    result = cli(store_settings, "audit", "export", "--out", str(out), "--wait", "0", *extra)
    assert result.exit_code == 0, result.output
    return out


def verify_export(path: Path, *extra: str):
    return cli(None, "audit", "verify-export", str(path), *extra, env=NO_DATABASE)


def assert_caught(result, position: int) -> None:
    assert result.exit_code == 1, result.output
    assert f"position {position}:" in result.output, result.output


# -- an untouched ledger passes ---------------------------------------------------------------


def test_an_untouched_ledger_verifies(services, history, store_settings):
    result = verify(store_settings)
    assert result.exit_code == 0, result.output
    assert "ok: 10 events" in result.output and "2 checkpoints verified" in result.output


def test_an_untouched_export_verifies_offline(services, history, store_settings, tmp_path):
    result = verify_export(exported(store_settings, tmp_path))
    assert result.exit_code == 0, result.output
    assert "ok: 10 events of the log verified against checkpoint 10" in result.output


def test_an_export_of_one_enterprise_verifies_offline_with_its_proofs(
    services, history, store_settings, tmp_path
):
    path = exported(store_settings, tmp_path, "--uscc", history[2])
    lines = path.read_text().splitlines()
    assert len(lines) == 1 + 3 and all("audit_path" in json.loads(x) for x in lines[1:])
    result = verify_export(path)
    assert result.exit_code == 0, result.output
    assert f"3 events of enterprise {history[2]}" in result.output


# -- the database altered behind the ledger's back -------------------------------------------


def test_a_changed_byte_is_caught(services, history, store_settings, tmp_path):
    Tamper(services).change_a_byte(5)
    assert_caught(verify(store_settings), 5)
    assert_caught(verify_export(exported(store_settings, tmp_path)), 5)


def test_a_deleted_event_is_caught(services, history, store_settings, tmp_path):
    Tamper(services).delete(4)
    assert_caught(verify(store_settings), 4)
    assert_caught(verify_export(exported(store_settings, tmp_path)), 4)


def test_a_deleted_last_event_is_caught(services, history, store_settings, tmp_path):
    Tamper(services).delete(10)
    assert_caught(verify(store_settings), 10)
    assert_caught(verify_export(exported(store_settings, tmp_path)), 10)


def test_two_swapped_events_are_caught(services, history, store_settings, tmp_path):
    Tamper(services).swap(3, 6)
    assert_caught(verify(store_settings), 3)
    assert_caught(verify_export(exported(store_settings, tmp_path)), 3)


def test_a_forged_event_appended_is_caught(services, history, store_settings, tmp_path):
    Tamper(services).forge(11)
    result = verify(store_settings)
    assert_caught(result, 11)
    assert "not in the hash tree" in result.output
    path = exported(store_settings, tmp_path)
    result = verify_export(path)
    assert_caught(result, 11)
    assert "not covered by the checkpoint" in result.output


def test_a_forged_event_inserted_is_caught(services, history, store_settings, tmp_path):
    Tamper(services).insert(7)
    assert_caught(verify(store_settings), 7)
    assert_caught(verify_export(exported(store_settings, tmp_path)), 7)


def test_an_altered_event_of_an_exported_enterprise_is_caught(
    services, history, store_settings, tmp_path
):
    Tamper(services).change_a_byte(9)  # the third enterprise's last commit
    assert_caught(verify_export(exported(store_settings, tmp_path, "--uscc", history[2])), 9)


def test_a_rewritten_tree_node_is_caught(services, history, store_settings):
    Tamper(services).sql(
        "UPDATE audit_nodes SET hash = ? WHERE level = 1 AND idx = 2", (bytes(32),)
    )
    result = verify(store_settings)
    assert_caught(result, 5)
    assert "node over positions 5..6" in result.output


def test_a_history_rewritten_with_its_tree_is_caught_by_the_checkpoints(
    services, history, store_settings
):
    tamper = Tamper(services)
    tamper.change_a_byte(7)
    tamper.sql("DELETE FROM audit_nodes")
    tamper.sql("UPDATE audit_tree SET size = 0")
    services.audit.tree._cached = None
    services.audit.catch_up()  # the tree now agrees with the altered events
    result = verify(store_settings)
    assert_caught(result, 5)  # the checkpoint of 4 still holds; the one of 10 does not
    assert "among positions 5..10" in result.output


def test_an_altered_checkpoint_is_caught(services, history, store_settings):
    Tamper(services).sql(
        "UPDATE audit_checkpoints SET root_hash = ? WHERE tree_size = 4", ("00" * 32,)
    )
    result = verify(store_settings)
    assert result.exit_code == 1
    assert "checkpoint #1 (tree size 4" in result.output and "signature" in result.output


# -- the export altered after it was written (offline, no database: one store suffices) ------


def rewrite(path: Path, edit) -> Path:
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join(edit(lines)) + "\n", encoding="utf-8")
    return path


@pytest.mark.sqlite_only  # a file, whatever the store
def test_an_edited_event_in_an_export_is_caught(services, history, store_settings, tmp_path):
    def edit(lines):
        doc = json.loads(lines[6])
        doc["data"]["signatory"] = "Someone Else"
        lines[6] = json.dumps(doc, ensure_ascii=False)
        return lines

    assert_caught(verify_export(rewrite(exported(store_settings, tmp_path), edit)), 6)


@pytest.mark.sqlite_only  # a file, whatever the store
def test_a_removed_line_is_caught(services, history, store_settings, tmp_path):
    path = rewrite(exported(store_settings, tmp_path), lambda ls: ls[:3] + ls[4:])
    assert_caught(verify_export(path), 3)


@pytest.mark.sqlite_only  # a file, whatever the store
def test_swapped_lines_are_caught(services, history, store_settings, tmp_path):
    path = rewrite(
        exported(store_settings, tmp_path), lambda ls: [*ls[:2], ls[5], *ls[3:5], ls[2], *ls[6:]]
    )
    assert_caught(verify_export(path), 2)


@pytest.mark.sqlite_only  # a file, whatever the store
def test_a_line_appended_to_an_export_is_caught(services, history, store_settings, tmp_path):
    def edit(lines):
        doc = json.loads(lines[-1])
        doc["position"] = 11
        return [*lines, json.dumps(doc)]

    assert_caught(verify_export(rewrite(exported(store_settings, tmp_path), edit)), 11)


@pytest.mark.sqlite_only  # a file, whatever the store
def test_an_event_edited_with_its_leaf_hash_breaks_the_signed_root(
    services, history, store_settings, tmp_path
):
    from ledger.audit.encoding import event_leaf_hash

    def edit(lines):
        doc = json.loads(lines[6])
        doc["data"]["signatory"] = "Someone Else"
        doc["leaf_hash"] = event_leaf_hash(doc).hex()
        lines[6] = json.dumps(doc)
        return lines

    result = verify_export(rewrite(exported(store_settings, tmp_path), edit))
    assert result.exit_code == 1
    assert "do not give the checkpoint's root" in result.output


@pytest.mark.sqlite_only  # a file, whatever the store
def test_a_forged_checkpoint_signature_is_caught(services, history, store_settings, tmp_path):
    def edit(lines):
        head = json.loads(lines[0])
        head["checkpoint"]["tree_size"] = 9
        lines[0] = json.dumps(head)
        return lines

    result = verify_export(rewrite(exported(store_settings, tmp_path), edit))
    assert result.exit_code == 1 and "signature does not verify" in result.output


@pytest.mark.sqlite_only  # a file, whatever the store
def test_an_export_signed_by_an_untrusted_key_is_refused(
    services, history, store_settings, tmp_path
):
    import base64

    path = exported(store_settings, tmp_path)
    other = base64.b64encode(bytes(range(32))).decode()
    result = verify_export(path, "--public-key", other)
    assert result.exit_code == 1 and "other than the trusted one" in result.output
    mine = services.audit.public_key()["public_key"]
    assert verify_export(path, "--public-key", mine).exit_code == 0


@pytest.mark.sqlite_only  # a file, whatever the store
def test_a_tampered_proof_in_an_enterprise_export_is_caught(
    services, history, store_settings, tmp_path
):
    def edit(lines):
        doc = json.loads(lines[2])
        doc["audit_path"][0] = "00" * 32
        lines[2] = json.dumps(doc)
        return lines

    path = rewrite(exported(store_settings, tmp_path, "--uscc", history[0]), edit)
    result = verify_export(path)
    assert_caught(result, 2)
    assert "inclusion proof" in result.output


@pytest.mark.sqlite_only  # a file, whatever the store
def test_a_missing_event_of_an_enterprise_export_is_caught(
    services, history, store_settings, tmp_path
):
    path = rewrite(exported(store_settings, tmp_path, "--uscc", history[0]),
                   lambda ls: [ls[0], *ls[2:]])
    result = verify_export(path)
    assert result.exit_code == 1 and "version 2 where 1 was expected" in result.output


# -- bad input ----------------------------------------------------------------------------


@pytest.mark.sqlite_only
def test_verify_export_of_something_else_is_bad_input(tmp_path):
    junk = tmp_path / "junk.jsonl"
    junk.write_text('{"hello": "world"}\n')
    result = verify_export(junk)
    assert result.exit_code == 2 and "not a ledger audit export" in result.output
    assert verify_export(tmp_path / "missing.jsonl").exit_code == 2
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert verify_export(empty).exit_code == 2
    assert verify_export(junk, "--public-key", "###").exit_code == 2


@pytest.mark.sqlite_only
def test_export_with_a_bad_uscc_or_directory_is_bad_input_and_writes_nothing(
    services, store_settings, tmp_path
):
    out = tmp_path / "x.jsonl"
    result = cli(store_settings, "audit", "export", "--out", str(out), "--uscc", "123")
    assert result.exit_code == 2 and "uscc" in result.output
    result = cli(store_settings, "audit", "export", "--out", str(tmp_path / "no" / "x.jsonl"))
    assert result.exit_code == 2
    assert not [p for p in tmp_path.iterdir() if not p.name.startswith("ledger.db")]
    assert cli(store_settings, "audit", "export", "--out", str(out), "--uscc",
               random_uscc()).exit_code == 1  # no such enterprise
    assert not out.exists()


@pytest.mark.sqlite_only
def test_proof_commands_print_what_the_api_returns(services, history, store_settings):
    result = cli(store_settings, "audit", "inclusion", "3")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == services.audit.inclusion(3)
    result = cli(store_settings, "audit", "consistency", "4", "10")
    assert json.loads(result.output) == services.audit.consistency(4, 10)
    bad = cli(store_settings, "audit", "inclusion", "11")
    assert bad.exit_code == 2 and "position" in bad.output


@pytest.mark.sqlite_only
def test_the_checkpoint_command_signs_the_log_now(services, history, store_settings):
    result = cli(store_settings, "audit", "checkpoint")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["tree_size"] == 10
    assert len(services.audit.checkpoints()) == 3
