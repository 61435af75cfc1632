"""The audit toolkit's figures: what the hash tree costs on the write path (events/s of
commands with and without it, interleaved in one run), how fast it follows a log,
proof latency on a tree of 1M leaves (synthetic nodes in the node table), and
time-travel latency on one enterprise with 10,000 events (against replaying them all).

    python -m bench.audit [--store sqlite|postgres|both] [--leaves N] [--events N]
"""

from __future__ import annotations

import argparse
import os
import random
import time
from datetime import datetime, timedelta, timezone
from typing import Any

from bench.common import KINDS, Result, fresh_store, latency_ms, postgres_problem, rate, table
from ledger.aggregates.enterprise import Enterprise
from ledger.audit.merkle import Frontier
from ledger.audit.timetravel import known
from ledger.bootstrap import Services, bootstrap
from ledger.policy.credit import evaluate
from tests.factories import licence, random_uscc

CST = timezone(timedelta(hours=8))


# -- append overhead ----------------------------------------------------------------------------


def append_overhead(kind: str, commands: int) -> list[Result]:
    """Licences through the ledger's commands (a write returns once the projections,
    and with the tree also the hash tree, include it), alternating blocks with and
    without the tree so both modes see the same store and machine state."""
    with fresh_store(kind) as settings:
        s = bootstrap(settings)
        try:
            tree_follower = s.audit.catch_up
            spent = {True: 0.0, False: 0.0}
            done = {True: 0, False: 0}
            block = max(commands // 8, 10)
            rng = random.Random(1)
            for i in range(8):
                with_tree = i % 2 == 1
                s.projections.followers[:] = [tree_follower] if with_tree else []
                if with_tree:
                    s.audit.catch_up()  # what the blocks without the tree left behind
                t = time.perf_counter()
                for _ in range(block):
                    s.ledger.license(**licence(random_uscc(rng)))
                spent[with_tree] += time.perf_counter() - t
                done[with_tree] += block
            on, off = rate(done[True], spent[True]), rate(done[False], spent[False])

            # The tree alone following a log it has not seen (bulk: serve start, demo seed).
            s.projections.followers[:] = []
            for _ in range(4):
                s.ledger.license(**licence(random_uscc(rng)))
            with s.db.transaction(write=True) as tx:
                tx.execute("DELETE FROM audit_nodes")
                tx.execute("DELETE FROM audit_states")
                tx.execute("UPDATE audit_tree SET size = 0")
                head = s.log.head(tx)
            s.audit.tree._cached = None
            t = time.perf_counter()
            s.audit.catch_up()
            follow = rate(head, time.perf_counter() - t)
        finally:
            s.close()
    return [
        Result("append: licence commands, with tree vs without", kind, on, off, "ev/s",
               note=f"{done[True]} + {done[False]} commands interleaved"),
        Result("hash tree following the log (bulk)", kind, follow, None, "ev/s",
               note=f"{head} events hashed and stored"),
    ]


# -- proofs on 1M leaves ------------------------------------------------------------------------


def synthetic_tree(s: Services, leaves: int) -> None:
    """A tree of ``leaves`` random leaf hashes written straight into the node table."""
    rng = random.Random(7)
    frontier = Frontier()
    rows: list[tuple[int, int, bytes]] = []

    def flush() -> None:
        if not rows:
            return
        if s.db.postgres:
            import psycopg

            with psycopg.connect(s.settings.postgres_conninfo, autocommit=True) as conn:
                conn.execute(f'SET search_path TO "{s.settings.database_schema}"')
                with conn.cursor() as cur, cur.copy(
                    "COPY audit_nodes (level, idx, hash) FROM STDIN"
                ) as copy:
                    for row in rows:
                        copy.write_row(row)
        else:
            with s.db.transaction(write=True) as tx:
                tx.many("INSERT INTO audit_nodes (level, idx, hash) VALUES (?, ?, ?)", rows)
        rows.clear()

    for _ in range(leaves):
        rows.extend(frontier.append(rng.randbytes(32)))
        if len(rows) >= 200_000:
            flush()
    flush()
    with s.db.transaction(write=True) as tx:
        tx.execute("UPDATE audit_tree SET size = ? WHERE id = 1", (leaves,))
    if s.db.postgres:
        with s.db.transaction(write=True) as tx:
            tx.execute("ANALYZE audit_nodes")


def proofs(kind: str, leaves: int, repeat: int) -> list[Result]:
    from fastapi.testclient import TestClient

    from api.app import create_app
    from ledger.services.access import ApiKeys

    with fresh_store(kind) as settings:
        s = bootstrap(settings)
        try:
            t = time.perf_counter()
            synthetic_tree(s, leaves)
            built = time.perf_counter() - t
            cp = s.audit.checkpoint(catch_up=False)
            assert cp is not None
            rng = random.Random(3)
            service_inclusion = latency_ms(
                lambda: s.audit.inclusion(rng.randint(1, leaves)), repeat
            )
            service_consistency = latency_ms(
                lambda: s.audit.consistency(rng.randint(1, leaves - 1)), repeat
            )
            _, token = ApiKeys(s.db).create("bench-auditor", ["audit:read"])
            headers = {"Authorization": f"Bearer {token}"}
            app = create_app(services=s)
            with TestClient(app) as client:
                def inclusion() -> Any:
                    r = client.get("/v1/audit/proofs/inclusion",
                                   params={"position": rng.randint(1, leaves)}, headers=headers)
                    assert r.status_code == 200, r.text

                def consistency() -> Any:
                    r = client.get("/v1/audit/proofs/consistency",
                                   params={"first": rng.randint(1, leaves - 1)}, headers=headers)
                    assert r.status_code == 200, r.text

                http_inclusion = latency_ms(inclusion, repeat)
                http_consistency = latency_ms(consistency, repeat)
        finally:
            s.close()
    note = f"{leaves:,} leaves ({built:.0f} s to store); p99 "
    return [
        Result("inclusion proof (service call)", kind, service_inclusion["p50"], None, "ms",
               higher_is_better=False, note=note + f"{service_inclusion['p99']:.2f} ms"),
        Result("consistency proof (service call)", kind, service_consistency["p50"], None, "ms",
               higher_is_better=False, note=note + f"{service_consistency['p99']:.2f} ms"),
        Result("GET /v1/audit/proofs/inclusion", kind, http_inclusion["p50"], None, "ms",
               higher_is_better=False, note=note + f"{http_inclusion['p99']:.2f} ms"),
        Result("GET /v1/audit/proofs/consistency", kind, http_consistency["p50"], None, "ms",
               higher_is_better=False, note=note + f"{http_consistency['p99']:.2f} ms"),
    ]


# -- time travel on 10,000 events --------------------------------------------------------------


def long_enterprise(s: Services, events: int) -> tuple[str, list[datetime]]:
    """One enterprise with ``events`` events (a licence, then commitments and compliant
    inspections), saved in chunks through the library, each event recorded a minute
    after the previous one."""
    uscc = random_uscc(random.Random(5))
    start = datetime(2021, 1, 4, 9, 0, tzinfo=CST)
    recorded = datetime(2026, 1, 1, tzinfo=timezone.utc)
    fields = licence(uscc)
    fields.pop("licensed_at")
    e = Enterprise.license(**fields, occurred_at=start, now=recorded)
    moments: list[datetime] = []
    pending: list[Any] = []

    def save() -> None:
        nonlocal recorded
        batch = pending + list(e.collect_events())
        for event in batch:
            recorded += timedelta(minutes=1)
            object.__setattr__(event, "timestamp", recorded)
            moments.append(recorded)
        s.ledger.save(*batch)
        pending.clear()

    for i in range(1, events):
        at = start + timedelta(hours=4 * i)
        if i % 2:
            e.commit(occurred_at=at, signatory="Wang Li", now=recorded + timedelta(days=3650))
        else:
            e.inspect(occurred_at=at, inspector="Zhao", score=80 + i % 20, outcome="compliant",
                      now=recorded + timedelta(days=3650))
        if i % 500 == 0:
            save()
    save()
    s.projections.catch_up()  # the projections, the hash tree and its stored states
    return uscc, moments


def time_travel(kind: str, events: int, repeat: int) -> list[Result]:
    with fresh_store(kind) as settings:
        s = bootstrap(settings, sync_projections=False)
        try:
            uscc, moments = long_enterprise(s, events)
            rng = random.Random(9)
            first, last = moments[0], moments[-1]

            def pick() -> tuple[str, datetime]:
                known_at = rng.choice(moments)
                day = (datetime(2021, 1, 4) + timedelta(days=rng.randint(0, events // 6 + 30)))
                return day.date().isoformat(), known_at

            def fast() -> Any:
                day, known_at = pick()
                return s.standing.known(uscc, day, known_at)

            policy = s.policy("v1")

            def replay() -> Any:
                day, known_at = pick()
                return evaluate(known(s.standing.events(uscc), known_at), day, policy)

            quick = latency_ms(fast, repeat)
            slow = latency_ms(replay, max(repeat // 10, 5))
            history = latency_ms(lambda: s.audit.events(uscc, last), max(repeat // 10, 5))
            assert first < last
        finally:
            s.close()
    return [
        Result("standing as_of + known_at (stored states)", kind, quick["p50"], slow["p50"],
               "ms", higher_is_better=False,
               note=f"{events:,} events; p99 {quick['p99']:.2f} ms; baseline: replay all"),
        Result("history with leaf hashes (all events)", kind, history["p50"], None, "ms",
               higher_is_better=False, note=f"{events:,} events; p99 {history['p99']:.1f} ms"),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=[*KINDS, "both"], default="both")
    parser.add_argument("--leaves", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--commands", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=500)
    args = parser.parse_args(argv)
    kinds = list(KINDS) if args.store == "both" else [args.store]
    if "postgres" in kinds and (problem := postgres_problem()):
        print(f"PostgreSQL unavailable ({problem}); skipping it")
        kinds.remove("postgres")
    results: list[Result] = []
    for kind in kinds:
        results += append_overhead(kind, args.commands)
        results += time_travel(kind, args.events, args.repeat)
        results += proofs(kind, args.leaves, args.repeat)
        print(table(results), flush=True)
        print()
    print(f"{os.cpu_count()} CPUs; {datetime.now(timezone.utc).isoformat(timespec='seconds')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
