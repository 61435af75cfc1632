"""What every benchmark shares: fresh stores, timing, and the result table."""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ledger.settings import Settings

POSTGRES_URL = os.environ.get(
    "LEDGER_BENCH_POSTGRES_URL",
    os.environ.get("LEDGER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
)
KINDS = ("sqlite", "postgres")


@dataclass
class Result:
    """One line of the table. ``higher_is_better`` says how to read the figures;
    ``ratio`` is always the ledger's speed relative to the baseline (1.0 = as fast,
    0.5 = half as fast)."""

    scenario: str
    store: str
    ledger: float | None
    baseline: float | None
    unit: str
    higher_is_better: bool = True
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if not self.ledger or not self.baseline:
            return None
        return self.ledger / self.baseline if self.higher_is_better else self.baseline / self.ledger


def postgres_problem() -> str | None:
    import psycopg

    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3):
            return None
    except Exception as e:  # noqa: BLE001 - any reason makes PostgreSQL unavailable
        return str(e).splitlines()[0] if str(e) else repr(e)


@contextmanager
def fresh_store(kind: str, **overrides: Any) -> Iterator[Settings]:
    """Settings for an empty store: a temporary SQLite file, or a PostgreSQL schema
    dropped afterwards."""
    if kind == "sqlite":
        folder = tempfile.mkdtemp(prefix="ledger-bench-")
        try:
            yield Settings(database_url=f"sqlite:///{folder}/ledger.db", **overrides)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    import psycopg

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield Settings(database_url=POSTGRES_URL, database_schema=schema, **overrides)
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def store_size(settings: Settings) -> int:
    """Bytes the store takes on disk (the SQLite file with its WAL, or the schema's
    relations on PostgreSQL)."""
    if not settings.is_postgres:
        path = settings.sqlite_path
        return sum(os.path.getsize(p) for p in (path, path + "-wal") if os.path.exists(p))
    import psycopg

    with psycopg.connect(settings.postgres_conninfo) as conn:
        row = conn.execute(
            "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind IN ('r', 'm')",
            (settings.database_schema or "public",),
        ).fetchone()
    return int(row[0]) if row else 0


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def latency_ms(
    call: Callable[[], Any], repeat: int, warmup: int = 5, budget: float = 20.0
) -> dict[str, float]:
    """p50/p99/mean of ``repeat`` calls (fewer if they take more than ``budget``
    seconds in all), in milliseconds."""
    for _ in range(warmup):
        call()
    samples: list[float] = []
    started = time.perf_counter()
    for _ in range(repeat):
        t = time.perf_counter()
        call()
        samples.append((time.perf_counter() - t) * 1000)
        if len(samples) >= 3 and time.perf_counter() - started > budget:
            break
    return {
        "p50": percentile(samples, 50),
        "p99": percentile(samples, 99),
        "mean": statistics.fmean(samples),
    }


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if value >= 100:
        text = f"{value:,.0f}"
    elif value >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return f"{text} {unit}"


def table(results: list[Result]) -> str:
    rows = [("scenario", "store", "ledger", "baseline", "ratio", "note")]
    for r in results:
        ratio = f"{r.ratio:.2f}x" if r.ratio is not None else "-"
        rows.append((r.scenario, r.store, fmt(r.ledger, r.unit), fmt(r.baseline, r.unit),
                     ratio, r.note))
    widths = [max(len(row[i]) for row in rows) for i in range(6)]
    lines = []
    for n, row in enumerate(rows):
        lines.append("  ".join(
            cell.ljust(w) if i in (0, 1, 5) else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown(results: list[Result]) -> str:
    lines = [
        "| scenario | store | ledger | baseline | ratio | note |",
        "|---|---|---:|---:|---:|---|",
    ]
    for r in results:
        ratio = f"{r.ratio:.2f}×" if r.ratio is not None else "-"
        lines.append(f"| {r.scenario} | {r.store} | {fmt(r.ledger, r.unit)} | "
                     f"{fmt(r.baseline, r.unit)} | {ratio} | {r.note} |")
    return "\n".join(lines)
