"""`python -m bench.replica`: reads on a hot standby, measured in one run.

Starts a PostgreSQL primary and a streaming hot standby of it (``tests.support.pgcluster``:
initdb and pg_basebackup -R on free ports), licenses enterprises through the ledger on
the primary, then:

1. standing reads/s of two client processes for a few seconds each, through the read
   path the API uses (``services.read.choose(...).standing.standing``), with both
   clients on the primary alone (the baseline), both on the standby, and one on each;
2. replica lag under write load: two writer threads license enterprises on the
   primary while a sampler polls the standby's read position every millisecond; each
   write's lag is the time from its commit returning to the standby's read models
   including it.

    python -m bench.replica                  # 2000 enterprises, 5 s per phase, 2 rounds
    python -m bench.replica --seconds 3 --enterprises 500 --rounds 1

On a 2-core machine the clients, both servers and the writers share the same two
cores: the read figures show what the standby adds there, not what it adds on
machines of its own.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import random
import statistics
import threading
import time
import uuid
from datetime import datetime, timezone
from typing import Any

from ledger.bootstrap import Services, bootstrap
from ledger.settings import Settings
from tests.factories import licence, random_uscc
from tests.support.pgcluster import PgCluster

DAY = "2026-06-30"


def settings_for(primary: PgCluster, schema: str, replica: PgCluster | None) -> Settings:
    return Settings(
        database_url=primary.url, database_schema=schema, pool_size=4,
        replica_url=replica.url if replica is not None else None,
    )


def seed(services: Services, n: int) -> list[str]:
    rng = random.Random(7)
    usccs = []
    for _ in range(n):
        uscc = random_uscc(rng)
        services.ledger.license(**licence(uscc))  # type: ignore[arg-type]
        usccs.append(uscc)
    return usccs


def read_client(settings: Settings, usccs: list[str], seconds: float, start: Any,
                out: Any) -> None:
    """One client process: standings of random enterprises for ``seconds``."""
    services = bootstrap(settings, sync_projections=False)
    rng = random.Random()
    try:
        services.read.choose(None).standing.standing(usccs[0], DAY)  # warm the pools
        start.wait()
        reads, served = 0, set()
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            view = services.read.choose(None)
            view.standing.standing(rng.choice(usccs), DAY)
            served.add(view.served_by)
            reads += 1
        out.put((reads / seconds, sorted(served)))
    finally:
        services.close()


def reads_per_second(configs: list[Settings], usccs: list[str], seconds: float) -> float:
    ctx = mp.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=read_client, args=(s, usccs, seconds, start, out))
             for s in configs]
    for p in procs:
        p.start()
    time.sleep(3.0)  # each client bootstraps (imports, pools) before the clock starts
    start.set()
    results = [out.get(timeout=seconds + 120) for _ in procs]
    for p in procs:
        p.join()
    print("  clients:", ", ".join(f"{rate:.0f}/s on {'+'.join(served)}"
                                  for rate, served in results), flush=True)
    return sum(rate for rate, _ in results)


def replica_lag(services: Services, seconds: float, writers: int = 2) -> dict[str, float]:
    """Lag (ms) from each write's return to the standby's read models including it."""
    replica = services.read.replica
    assert replica is not None
    pending: list[tuple[int, float]] = []
    lags: list[float] = []
    lock = threading.Lock()
    stop = threading.Event()
    written = [0]

    def write() -> None:
        rng = random.Random()
        while not stop.is_set():
            w = services.ledger.license(**licence(random_uscc(rng)))  # type: ignore[arg-type]
            with lock:
                pending.append((w.position, time.perf_counter()))
                written[0] += 1

    def sample() -> None:
        while not stop.is_set() or pending:
            position = replica.position(fresh=True)
            now = time.perf_counter()
            with lock:
                keep = []
                for p, t in pending:
                    (lags.append((now - t) * 1000) if p <= position else keep.append((p, t)))
                pending[:] = keep
            time.sleep(0.001)

    threads = [threading.Thread(target=write) for _ in range(writers)]
    sampler = threading.Thread(target=sample)
    sampler.start()
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    sampler.join(timeout=30)
    lags.sort()
    q = statistics.quantiles(lags, n=100)
    return {"writes_per_s": written[0] / seconds, "p50_ms": q[49], "p99_ms": q[98],
            "max_ms": lags[-1], "samples": len(lags)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--enterprises", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    primary = PgCluster().start()
    standby = primary.make_standby()
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    try:
        on_primary = settings_for(primary, schema, None)
        with_replica = settings_for(primary, schema, standby)
        services = bootstrap(with_replica)
        try:
            started = time.perf_counter()
            usccs = seed(services, args.enterprises)
            print(f"seeded {len(usccs)} licences in {time.perf_counter() - started:.1f} s")
            head = services.read.primary.position(fresh=True)
            while services.read.replica.position(fresh=True) < head:  # type: ignore[union-attr]
                time.sleep(0.01)
            rounds: list[tuple[float, float, float]] = []
            for _ in range(args.rounds):  # interleaved: a busy machine drifts between phases
                rounds.append((
                    reads_per_second([on_primary, on_primary], usccs, args.seconds),
                    reads_per_second([with_replica, with_replica], usccs, args.seconds),
                    reads_per_second([on_primary, with_replica], usccs, args.seconds),
                ))
            lag = replica_lag(services, args.seconds)
        finally:
            services.close()
    finally:
        standby.cleanup()
        primary.cleanup()
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"\nbench.replica, {when}: {args.enterprises} enterprises, 2 client processes, "
          f"{args.seconds:g} s per phase, {args.rounds} rounds")
    for i, (alone, standby_only, split) in enumerate(rounds, 1):
        print(f"  round {i}: standing reads/s, both clients on the primary alone: {alone:6.0f}"
              f" (1.00x); both on the standby: {standby_only:6.0f} "
              f"({standby_only / alone:.2f}x); one on each: {split:6.0f} ({split / alone:.2f}x)")
    print(f"  replica lag under {lag['writes_per_s']:.0f} writes/s (2 writer threads): "
          f"p50 {lag['p50_ms']:.1f} ms, p99 {lag['p99_ms']:.1f} ms, max {lag['max_ms']:.1f} ms"
          f" ({lag['samples']:.0f} writes)")


if __name__ == "__main__":
    main()
