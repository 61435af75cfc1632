"""`python -m bench.scale` (`make bench-scale`): the ledger at a million events.

Writes the demo city (plus one enterprise with a long history) through the aggregate,
in batches of many enterprises per transaction with the live projections caught up
after each batch, into a temporary store; at 10k, 100k and 1M events it measures the
read latencies; at the end it rebuilds the projections, checks that the rebuild
equals the live read models row for row, and runs `ledger audit verify`. Reports the
write rate, rebuild time, peak memory (RSS) and the store's size.

    python -m bench.scale                      # SQLite, 1,000,000 events
    python -m bench.scale --store postgres     # PostgreSQL (a temporary schema)
    python -m bench.scale --events 200000      # a shorter run
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

from bench.common import fresh_store, latency_ms, store_size
from bench.reads import long_history, travel
from ledger.bootstrap import Services, bootstrap
from ledger.projections import queries, stats
from ledger.services.demo import History, batches, generate
from ledger.values import today_cst

PAST = "2024-06-30"
LONG = 5_000  # events of the enterprise whose history is replayed for time travel


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def tree_rss_mb() -> float:
    """RSS of this process and all its descendants now (the rebuild's worker processes
    are children of a fork server, so getrusage does not see them)."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    mine, grew = {os.getpid()}, True
    while grew:
        found = {p for p, parent in parents.items() if parent in mine} - mine
        grew = bool(found)
        mine |= found
    return sum(rss.get(p, 0) for p in mine) / 2**20


class TreeRss:
    """Samples `tree_rss_mb` in a thread; ``peak`` is the largest total seen."""

    def __init__(self, interval: float = 0.2) -> None:
        import threading

        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval,), daemon=True)

    def _run(self, interval: float) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss_mb())
            self._stop.wait(interval)

    def __enter__(self) -> TreeRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def write_until(
    s: Services, histories: Iterator[History], target: int, written: int, timing: dict[str, float]
) -> int:
    """Write histories until the log holds ``target`` events; returns the count."""

    def upto() -> Iterator[History]:
        nonlocal written
        for h in histories:
            yield h
            written += h.events
            if written >= target:
                return

    for batch in batches(upto(), 5_000):
        t = time.perf_counter()
        now = s.ledger.clock()
        stamp = now.astimezone(timezone.utc)
        pending = [e for h in batch for e in h.build(now).collect_events()]
        for event in pending:
            object.__setattr__(event, "timestamp", stamp)
        s.ledger.save(*pending)
        t2 = time.perf_counter()
        s.projections.catch_up()
        t3 = time.perf_counter()
        timing["save"] += t2 - t
        timing["project"] += t3 - t2
        timing["events"] += len(pending)
    return written


def read_latencies(s: Services, long_uscc: str) -> dict[str, dict[str, float]]:
    today = today_cst().isoformat()
    rng = random.Random(1)
    with s.db.transaction() as tx:
        set_id = queries.live_set(tx)
        usccs = [r[0] for r in tx.all(
            "SELECT uscc FROM enterprise_facts WHERE set_id = ?", (set_id,)
        )]
        head = s.log.head(tx)

    def q(call: Any) -> Any:
        with s.db.transaction() as tx:
            return call(tx)

    sample = rng.sample(usccs, min(1000, len(usccs)))
    known_at = datetime.now(timezone.utc)
    return {
        "standing": latency_ms(lambda: q(lambda tx: queries.standing(
            tx, rng.choice(usccs), today)), 300),
        f"reward page as of {PAST}": latency_ms(lambda: q(lambda tx: queries.reward_list(
            tx, PAST, limit=100)), 100),
        "punishment page (today)": latency_ms(lambda: q(lambda tx: queries.punishment_list(
            tx, today, limit=100)), 100),
        "reward page, district+type": latency_ms(lambda: q(lambda tx: queries.reward_list(
            tx, today, place_type="hotel", district="230103", limit=100)), 100),
        "bulk lookup 1000": latency_ms(lambda: q(lambda tx: queries.standings(
            tx, sample, today)), 30),
        "feed page 100": latency_ms(lambda: q(lambda tx: [e.public() for e in s.log.read(
            tx, rng.randrange(max(head - 100, 1)), 100)]), 300),
        "time travel (typical)": latency_ms(lambda: travel(
            s, rng.choice(usccs), PAST, known_at), 100),
        f"time travel ({LONG:,} events)": latency_ms(lambda: travel(
            s, long_uscc, "2023-06-30", known_at), 10, warmup=1),
        "stats as of today": latency_ms(lambda: q(lambda tx: stats.stats(tx, today)), 100),
        f"stats as of {PAST}, district + type": latency_ms(lambda: q(lambda tx: stats.stats(
            tx, PAST, "230103", "hotel")), 100),
        "monthly series, 60 months": latency_ms(lambda: q(lambda tx: stats.monthly(
            tx, month_before(today[:7], 59), today[:7])), 30),
    }


def month_before(month: str, n: int) -> str:
    index = int(month[:4]) * 12 + int(month[5:]) - 1 - n
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def compare_sets(s: Services, live: str, rebuilt: str) -> dict[str, int]:
    """Rows in one set and not the other, both ways, for the read-model tables (the
    statistics' rows that net to zero are left out: the live set keeps some)."""
    levels = ", ".join(stats.LEVELS)
    day_nonzero = " AND (" + " OR ".join(f"{c} <> 0" for c in stats.LEVELS) + ")"
    month_nonzero = day_nonzero[:-1] + "".join(f" OR {c} <> 0" for c in stats.EVENTS) + ")"
    cols = {
        "standing_segments": "uscc, valid_from, valid_until, on_reward, on_punishment, standing",
        "enterprise_facts": "uscc, name, place_type, district, version, position, due_kind, "
                            "due_on, facts",
        "stats_day": f"day, district, place_type, {levels}",
        "stats_month": f"month, district, place_type, {levels}, {', '.join(stats.EVENTS)}",
    }
    found: dict[str, int] = {}
    with s.db.transaction() as tx:
        for table, c in cols.items():
            where = {"stats_day": day_nonzero, "stats_month": month_nonzero}.get(table, "")
            for a, b in ((live, rebuilt), (rebuilt, live)):
                found[f"{table}: only in {a}"] = tx.value(
                    f"SELECT COUNT(*) FROM (SELECT {c} FROM {table} WHERE set_id = ?{where} "
                    f"EXCEPT SELECT {c} FROM {table} WHERE set_id = ?{where}) AS diff", (a, b)
                )
            found[f"{table}: rows"] = tx.value(
                f"SELECT COUNT(*) FROM {table} WHERE set_id = ?", (live,)
            )
    return found


def audit_verify(settings: Any) -> tuple[int, float, str]:
    """Run `ledger audit verify` against the store, as a user would."""
    env = dict(os.environ, LEDGER_DATABASE_URL=settings.database_url)
    if settings.database_schema:
        env["LEDGER_DATABASE_SCHEMA"] = settings.database_schema
    t = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", "from ledger.cli import app; app()", "audit", "verify"], env=env,
        capture_output=True, text=True, check=False,
    )
    last = (done.stdout.strip() or done.stderr.strip()).splitlines()[-1:] or [""]
    return done.returncode, time.perf_counter() - t, last[0]


def run(kind: str, events: int, seed: int) -> dict[str, Any]:
    report: dict[str, Any] = {"store": kind, "events": events, "milestones": []}
    milestones = [m for m in (10_000, 100_000, 1_000_000) if m < events] + [events]
    with fresh_store(kind) as settings:
        s = bootstrap(settings, sync_projections=False)
        try:
            t = time.perf_counter()
            long_uscc = long_history(s, LONG)
            timing = {"save": 0.0, "project": 0.0, "events": 0.0}
            written = LONG
            histories = generate(seed, 10**8, today_cst())
            write_started = time.perf_counter()
            for target in milestones:
                written = write_until(s, histories, target, written, timing)
                elapsed = time.perf_counter() - write_started
                if s.db.postgres:
                    with s.db.transaction() as tx:
                        tx.execute("ANALYZE")  # what autovacuum does after a bulk load
                with s.db.transaction() as tx:
                    head = s.log.head(tx)
                    enterprises = tx.value("SELECT COUNT(*) FROM enterprise_facts WHERE set_id = "
                                           "(SELECT id FROM projection_sets WHERE state = 'live')")
                mark = {
                    "events": head,
                    "enterprises": enterprises,
                    "write_seconds": round(elapsed, 1),
                    "write_rate": round(timing["events"] / (timing["save"] + timing["project"])),
                    "save_rate": round(timing["events"] / timing["save"]),
                    "projection_rate": round(timing["events"] / timing["project"]),
                    "db_mb": round(store_size(settings) / 2**20, 1),
                    "peak_rss_mb": round(peak_rss_mb(), 1),
                    "latency_ms": read_latencies(s, long_uscc),
                }
                report["milestones"].append(mark)
                print(f"{head:>10,} events, {enterprises:,} enterprises: "
                      f"{mark['write_rate']:,} ev/s written with projections, "
                      f"db {mark['db_mb']} MB, peak RSS {mark['peak_rss_mb']} MB", flush=True)
            report["write_seconds"] = round(time.perf_counter() - t, 1)
            live = s.projections.live()
            assert live is not None
            t = time.perf_counter()
            with TreeRss() as sampler:
                rebuilt = s.projections.rebuild(live.policy, swap=False)
            report["rebuild_seconds"] = round(time.perf_counter() - t, 1)
            report["rebuild_peak_tree_rss_mb"] = round(sampler.peak, 1)
            report["rebuild_rate"] = round(live.head / report["rebuild_seconds"])
            report["peak_rss_mb_after_rebuild"] = round(peak_rss_mb(), 1)
            print(f"rebuild: {report['rebuild_seconds']} s ({report['rebuild_rate']:,} ev/s)",
                  flush=True)
            diff = compare_sets(s, live.id, rebuilt)
            report["rebuild_vs_live"] = diff
            report["rebuild_equals_live"] = not any(
                v for k, v in diff.items() if "only in" in k
            )
            print(f"rebuild equals live read models: {report['rebuild_equals_live']} {diff}",
                  flush=True)
            code, seconds, line = audit_verify(settings)
            report["audit_verify"] = {"exit": code, "seconds": round(seconds, 1), "said": line}
            print(f"ledger audit verify: exit {code} in {seconds:.1f} s: {line}", flush=True)
            report["db_mb"] = round(store_size(settings) / 2**20, 1)
        finally:
            s.close()
    report["peak_rss_mb"] = round(peak_rss_mb(), 1)
    return report


def render(report: dict[str, Any]) -> str:
    ms = report["milestones"]
    lines = [f"scale run on {report['store']}: {ms[-1]['events']:,} events, "
             f"{ms[-1]['enterprises']:,} enterprises",
             "", "| | " + " | ".join(f"{m['events']:,} events" for m in ms) + " |",
             "|---|" + "---:|" * len(ms)]
    lines.append("| write rate, projections live (ev/s) | "
                 + " | ".join(f"{m['write_rate']:,}" for m in ms) + " |")
    lines.append("| database size (MB) | " + " | ".join(f"{m['db_mb']}" for m in ms) + " |")
    lines.append("| peak RSS (MB) | " + " | ".join(f"{m['peak_rss_mb']}" for m in ms) + " |")
    for name in ms[0]["latency_ms"]:
        lines.append(f"| {name}, p50 / p99 (ms) | " + " | ".join(
            f"{m['latency_ms'][name]['p50']:.2f} / {m['latency_ms'][name]['p99']:.2f}"
            for m in ms) + " |")
    lines += [
        "",
        f"- writing: {report['write_seconds']} s in all (save {ms[-1]['save_rate']:,} ev/s, "
        f"live projection {ms[-1]['projection_rate']:,} ev/s)",
        f"- rebuild: {report['rebuild_seconds']} s ({report['rebuild_rate']:,} ev/s); "
        f"equals the live read models: {report['rebuild_equals_live']}",
        f"- ledger audit verify: exit {report['audit_verify']['exit']} in "
        f"{report['audit_verify']['seconds']} s ({report['audit_verify']['said']})",
        f"- peak RSS {report['peak_rss_mb']} MB; during the rebuild this process and its "
        f"workers together peaked at {report['rebuild_peak_tree_rss_mb']} MB; store "
        f"{report['db_mb']} MB at the end",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.split(
        "\n")[0])
    parser.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", help="also write the report to this file")
    args = parser.parse_args(argv)
    if args.events <= LONG + 1000:
        parser.error(f"--events: at least {LONG + 1000}")
    report = run(args.store, args.events, args.seed)
    print()
    print(render(report))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
    ok = report["rebuild_equals_live"] and report["audit_verify"]["exit"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
