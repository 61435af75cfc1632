"""The layout's rules, checked over the source (ast, no import of the code): what each
layer may import, and that the HTTP entrypoints run no SQL and open no transaction."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def sources(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def imported(path: Path) -> set[str]:
    """Every module a file imports (at the top, inside functions or TYPE_CHECKING)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def offenders(folder: str, banned: tuple[str, ...], skip: tuple[str, ...] = ()) -> list[str]:
    found = []
    for path in sources(folder):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith(skip):
            continue
        for name in sorted(imported(path)):
            if name in banned or name.startswith(tuple(b + "." for b in banned)):
                found.append(f"{rel} imports {name}")
    return found


def test_nothing_in_ledger_imports_the_http_layer():
    assert offenders("ledger", ("api",)) == []


def test_the_aggregates_import_no_storage_projections_services_or_http():
    banned = ("ledger.storage", "ledger.projections", "ledger.services", "ledger.audit",
              "ledger.bootstrap", "ledger.cli", "api", "psycopg", "sqlite3")
    assert offenders("ledger/aggregates", banned) == []


def test_only_the_entrypoints_import_the_composition_root():
    """bootstrap wires everything below it; below it, nothing may import it back (the
    loop that ran between bootstrap and audit/)."""
    entrypoints = ("ledger/cli/", "ledger/bootstrap.py")
    assert offenders("ledger", ("ledger.bootstrap",), skip=entrypoints) == []


SQL = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE)\s+(\S+\s+)?(FROM|INTO|SET)\b|\bexecute\(|"
                 r"\.transaction\(|\.reading\(|\.value\(|\.one\(|\.all\(")


@pytest.mark.parametrize("path", sources("api"), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_file_in_api_runs_sql_or_opens_a_transaction(path):
    hits = [
        f"{i}: {line.strip()}"
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if SQL.search(line)
    ]
    assert hits == []


def test_the_sql_pattern_catches_what_it_must():
    for line in ('tx.execute("DELETE FROM web_sessions")', "with db.transaction() as tx:",
                 "with services.db.reading() as tx:", '"SELECT 1 FROM enterprise_facts"',
                 '"INSERT INTO x VALUES (?)"'):
        assert SQL.search(line), line


def test_routers_are_included_explicitly():
    app = (ROOT / "api" / "app.py").read_text(encoding="utf-8")
    assert "importlib" not in imported(ROOT / "api" / "app.py")
    assert "OPTIONAL_ROUTERS" not in app
    for module in ("enterprises", "lookup", "lists", "feed", "access_log", "health", "audit",
                   "pages"):
        assert f"{module}.router" in app
