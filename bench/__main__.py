"""`python -m bench` (`make bench`): every scenario, the ledger's figure beside a
baseline measured in the same process, and their ratio (the ledger's speed relative
to the baseline: 1.0 = as fast). Runs on SQLite and, when reachable, PostgreSQL
(``LEDGER_BENCH_POSTGRES_URL``, else ``LEDGER_TEST_POSTGRES_URL``, else the local
``test`` database); every store is temporary and removed afterwards.

    python -m bench                   # everything, both stores (a few minutes)
    python -m bench --store sqlite    # one store
    python -m bench --only commands   # scenario groups: commands http reads lag
    python -m bench --markdown        # also print the table as Markdown
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
import traceback
from collections.abc import Callable

from bench.common import KINDS, Result, fresh_store, markdown, postgres_problem, table

GROUPS = ("commands", "http", "reads", "lag")


def reads_group(kind: str, quick: bool) -> list[Result]:
    from bench import reads
    from ledger.bootstrap import bootstrap

    results: list[Result] = []
    with fresh_store(kind) as settings:
        s = bootstrap(settings, sync_projections=False)
        try:
            reads.seed(s, 2_000 if quick else 10_000)
            uscc = reads.long_history(s, 2_000 if quick else 10_000)
            if s.db.postgres:
                with s.db.transaction() as tx:  # what autovacuum does after a bulk load
                    tx.execute("ANALYZE")
            results.append(reads.rebuild(s, kind))
            results.extend(reads.reads(s, kind))
            results.append(reads.time_travel(s, kind, uscc))
        finally:
            s.close()
    return results


def group(name: str, kind: str, quick: bool) -> list[Callable[[], list[Result]]]:
    if name == "commands":
        from bench import commands

        return [lambda f=f: [f()] for f in commands.scenarios(kind, quick)]
    if name == "http":
        from bench import http

        return [lambda: http.measure(kind, *((100, 200) if quick else ()))]
    if name == "reads":
        return [lambda: reads_group(kind, quick)]
    from bench import lag

    return [lambda: lag.measure(kind, *((50,) if quick else ()))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--store", choices=KINDS, action="append", help="default: both")
    parser.add_argument("--only", choices=GROUPS, action="append", help="default: all")
    parser.add_argument("--quick", action="store_true", help="smaller workloads (a smoke run)")
    parser.add_argument("--markdown", action="store_true", help="also print a Markdown table")
    args = parser.parse_args(argv)
    kinds = args.store or list(KINDS)
    groups = args.only or list(GROUPS)
    results: list[Result] = []
    skipped: list[str] = []
    started = time.perf_counter()
    print(f"bench: {platform.python_implementation()} {platform.python_version()}, "
          f"{platform.machine()}, {_cpus()} CPUs", flush=True)
    for kind in kinds:
        if kind == "postgres" and (problem := postgres_problem()) is not None:
            skipped.append(f"postgres: not available ({problem})")
            print(f"  postgres: not available ({problem})", flush=True)
            continue
        for name in groups:
            for scenario in group(name, kind, args.quick):
                t = time.perf_counter()
                try:
                    found = scenario()
                except ModuleNotFoundError as e:
                    line = f"{name} on {kind}: not available ({e})"
                    skipped.append(line)
                    print(f"  {line}", flush=True)
                    continue
                except Exception as e:  # noqa: BLE001 - one broken scenario spoils no other
                    traceback.print_exc()
                    line = f"{name} on {kind}: failed ({type(e).__name__}: {e})"
                    skipped.append(line)
                    print(f"  {line}", flush=True)
                    continue
                results.extend(found)
                for r in found:
                    ratio = f"{r.ratio:.2f}x" if r.ratio is not None else "-"
                    print(f"  {r.scenario} [{kind}]: {ratio}", flush=True)
                print(f"    ({time.perf_counter() - t:.1f} s)", flush=True)
    print()
    print(table(results))
    if args.markdown:
        print()
        print(markdown(results))
    for line in skipped:
        print(f"skipped: {line}")
    print(f"\nbench: {time.perf_counter() - started:.0f} s in all; ratio = the ledger's speed "
          "relative to the baseline (1.00x = as fast)")
    return 1 if any("failed" in line for line in skipped) else 0


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


if __name__ == "__main__":
    sys.exit(main())
