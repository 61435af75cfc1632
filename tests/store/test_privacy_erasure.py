"""Erasure of personal data on both stores: after ``ledger privacy erase`` the values are
in no table (every table's text scanned) and, on SQLite, in neither the database file
nor its WAL; ``ledger audit verify`` and ``verify-export`` still pass."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ledger.cli import app
from ledger.services.privacy import PERSONAL_FIELDS
from tests.factories import in_clear, licence, random_uscc

NO_DATABASE = {"LEDGER_DATABASE_URL": "postgresql://nobody@127.0.0.1:9/nowhere",
               "LEDGER_DATABASE_SCHEMA": None}


def cli(settings: Any, *args: str, env: dict[str, Any] | None = None) -> Any:
    env = env or {
        "LEDGER_DATABASE_URL": settings.database_url,
        "LEDGER_DATABASE_SCHEMA": settings.database_schema,
    }
    return CliRunner().invoke(app, list(args), env=env)


def history(services: Any, n: int = 1) -> list[tuple[str, dict[str, str]]]:
    """``n`` enterprises, each with its four personal fields naming someone."""
    out = []
    for _ in range(n):
        tag = uuid.uuid4().hex[:10]
        who = {f: f"Zhang {f} {tag}" for f in PERSONAL_FIELDS}
        uscc = random_uscc()
        ledger = services.ledger
        ledger.license(**licence(uscc, legal_representative=who["legal_representative"]))
        ledger.commit(uscc, committed_at="2025-01-05T10:00:00+08:00", signatory=who["signatory"])
        ledger.inspect(uscc, inspected_at="2025-02-01T10:00:00+08:00", inspector=who["inspector"],
                       score=60, outcome="rectify", rectification_deadline="2025-02-20")
        ledger.rectify(uscc, rectified_at="2025-02-10T10:00:00+08:00",
                       verified_by=who["verified_by"])
        out.append((uscc, who))
    return out


def every_table_text(services: Any) -> str:
    """Every row of every table of the store, as text (bytes decoded)."""
    with services.db.transaction() as tx:
        if services.db.postgres:
            tables = [r[0] for r in tx.all(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
            )]
        else:
            tables = [r[0] for r in tx.all("SELECT name FROM sqlite_master WHERE type = 'table'")]
        assert "personal_data" in tables and "stored_events" in tables
        parts = []
        for table in tables:
            for row in tx.all(f'SELECT * FROM "{table}"'):
                for value in row:
                    if isinstance(value, (bytes, memoryview)):
                        value = bytes(value).decode("utf-8", "replace")
                    parts.append(str(value))
    return "\n".join(parts)


def test_values_are_stored_only_in_the_personal_table(services):
    (uscc, who), = history(services)
    services.audit.checkpoint()
    with services.db.transaction() as tx:
        events = services.log.of_enterprise(tx, uscc)
    for event, field in zip(events, PERSONAL_FIELDS, strict=True):
        assert in_clear(services, event, field) == who[field]  # and the commitment checks
    text = every_table_text(services)
    for name in who.values():
        assert text.count(name) == 1  # its personal_data row, nowhere else


def test_an_erasure_leaves_no_value_in_any_table_and_verification_passes(
    services, store_settings, tmp_path
):
    erased, kept = history(services, 2)
    services.audit.checkpoint()
    result = cli(store_settings, "privacy", "erase", erased[0])
    assert result.exit_code == 0, result.output
    done = json.loads(result.output.strip().splitlines()[-1])
    assert done["fields"] == list(PERSONAL_FIELDS) and len(done["positions"]) == 4
    assert done["erased_by"].startswith("cli:")
    text = every_table_text(services)
    for name in erased[1].values():
        assert name not in text
    for name in kept[1].values():
        assert name in text
    verify = cli(store_settings, "audit", "verify", "--wait", "0")
    assert verify.exit_code == 0, verify.output
    for extra in ((), ("--uscc", erased[0])):
        out = tmp_path / f"export{len(extra)}.jsonl"
        exported = cli(store_settings, "audit", "export", "--out", str(out), "--wait", "0", *extra)
        assert exported.exit_code == 0, exported.output
        checked = cli(None, "audit", "verify-export", str(out), env=NO_DATABASE)
        assert checked.exit_code == 0, checked.output
        for name in erased[1].values():
            assert name not in out.read_text(encoding="utf-8")


def test_erasing_one_field_from_the_cli(services, store_settings):
    (uscc, who), = history(services)
    result = cli(store_settings, "privacy", "erase", uscc, "--field", "inspector")
    assert result.exit_code == 0, result.output
    text = every_table_text(services)
    assert who["inspector"] not in text and who["signatory"] in text
    listed = cli(store_settings, "privacy", "erasures", "--uscc", uscc)
    assert json.loads(listed.output.strip())["fields"] == ["inspector"]


@pytest.mark.parametrize("args", [["--field", "name"], []])
def test_bad_erasures_exit_2_or_1(services, store_settings, args):
    (uscc, _), = history(services)
    bad = cli(store_settings, "privacy", "erase", uscc, *args) if args else cli(
        store_settings, "privacy", "erase", random_uscc()
    )
    assert bad.exit_code == (2 if args else 1), bad.output


@pytest.mark.sqlite_only
def test_after_an_erasure_the_sqlite_files_hold_no_value(services, store_settings):
    written = history(services, 40)  # several pages of personal data
    services.audit.checkpoint()
    uscc, who = written[17]
    db = Path(store_settings.sqlite_path)
    files = [db, db.with_name(db.name + "-wal")]
    before = b"".join(p.read_bytes() for p in files if p.exists())
    assert who["signatory"].encode() in before  # there before the erasure
    result = cli(store_settings, "privacy", "erase", uscc)
    assert result.exit_code == 0, result.output
    after = b"".join(p.read_bytes() for p in files if p.exists())
    for name in who.values():
        assert name.encode() not in after, f"{name} still in the files"
    assert written[16][1]["signatory"].encode() in after  # the others are kept
    assert cli(store_settings, "audit", "verify", "--wait", "0").exit_code == 0


def test_personal_values_commit_or_roll_back_with_their_events(services):
    def refuse(tx, events):
        raise RuntimeError("no")

    uscc = random_uscc()
    with pytest.raises(RuntimeError):
        services.ledger.license(**licence(uscc, legal_representative="Rolled Back"),
                                in_tx=refuse)
    with services.db.transaction() as tx:
        assert tx.value("SELECT COUNT(*) FROM personal_data") == 0
        assert services.log.head(tx) == 0
    seen = []
    written = services.ledger.license(
        **licence(uscc), in_tx=lambda tx, events: seen.append(
            tx.value("SELECT value FROM personal_data WHERE position = ?",
                     (events[0].position,)))
    )
    assert seen == ["Wang Li"]  # already there, inside the events' transaction
    assert in_clear(services, written.events[0], "legal_representative") == "Wang Li"


def test_the_demo_city_is_written_with_commitments_and_their_values(services):
    from ledger.services.demo import seed_city

    seed_city(services, 3, seed=5)
    with services.db.transaction() as tx:
        events = services.log.read(tx, 0, 10_000)
        stored = tx.value("SELECT COUNT(*) FROM personal_data")
    fields = [(e, f) for e in events for f in PERSONAL_FIELDS if f in e.data]
    assert fields and stored == len(fields)
    for event, field in fields:
        assert in_clear(services, event, field)  # opens its commitment
