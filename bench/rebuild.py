"""Rebuild rate against the rate of merely reading and JSON-decoding the same events.

    python -m bench.rebuild [--enterprises N] [--database-url URL] [--seed S]

Writes N random but valid enterprise histories (many aggregates per transaction, no
projections), then, in the same process on the same store, times (1) reading every
stored row in log order and ``json.loads`` of its state, (2) the same plus decoding
into `LoggedEvent` records, (3) ``Projections.rebuild`` of the live policy in this one
process (K=1), (4) the same with K=2 worker processes (this one and one more), and
(5) the swap. Prints events/s of each, the ratios rebuild / read + json.loads (issue
15 aims at 0.5 for K=1) and K=2 / K=1, and the peak RSS of a worker process.
``plan_history`` is also the tests' generator of random valid histories.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import tempfile
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from datetime import time as dtime
from pathlib import Path
from typing import Any

from ledger.values import CST, add_months

Command = tuple[str, dict[str, Any]]
PLACE_TYPES = ("hotel", "bathhouse", "beauty_salon", "barbershop")
DISTRICTS = ("230109", "230102", "230103", "230104")


def plan_history(  # noqa: C901 - one walk through an enterprise's life
    rng: random.Random, uscc: str, start: date, end: date, district: str = "230109"
) -> list[Command]:
    """Commands (application method, keyword arguments) that make one valid history
    between ``start`` and ``end``: commitments, inspections of every outcome, on-time
    and late rectifications, bans, renewed commitments and credit repairs, some on
    the same day, some written with a UTC offset."""
    last = datetime.combine(start, dtime(9), CST) + timedelta(minutes=rng.randrange(480))
    limit = datetime.combine(end, dtime(23, 59), CST)
    version = 0
    commands: list[Command] = []

    def at(day_offset: int, base: datetime | None = None) -> datetime | None:
        nonlocal last
        base = base or last
        day = (base + timedelta(days=day_offset)).date()
        moment = datetime.combine(day, dtime(8), CST) + timedelta(minutes=rng.randrange(900))
        if rng.random() < 0.08:
            moment = datetime.combine(day, dtime(0, 30), CST)  # the UTC day before
        moment = max(moment, last + timedelta(minutes=1))
        if moment > limit:
            return None
        last = moment
        return moment

    def stamp(moment: datetime) -> str:
        return (moment.astimezone(timezone.utc) if rng.random() < 0.3 else moment).isoformat()

    def add(method: str, events: int, **kwargs: Any) -> None:
        nonlocal version
        commands.append((method, kwargs))
        version += events

    add(
        "license", 1, uscc=uscc, name=f"{rng.choice(('Riverside', 'Songbei', 'Harbin', 'North'))} "
        f"{rng.choice(('Barbershop', 'Bathhouse', 'Beauty Salon', 'Hotel'))} {uscc[-4:]}",
        place_type=rng.choice(PLACE_TYPES), address="18 Chuangxin Road, Harbin",
        district=district, legal_representative="Wang Li", licensed_at=stamp(last),
    )
    if rng.random() < 0.05:
        return commands
    moment = at(rng.choice((0, 1, 3, 10, 20, 40)))
    if moment is None:
        return commands
    add("commit", 1, committed_at=stamp(moment), signatory="Wang Li", channel="qr")
    if rng.random() < 0.05:
        return commands
    order: tuple[int, date] | None = None
    records: list[tuple[str, date, bool]] = []  # overdue records: id, since, fixed
    repaired: set[str] = set()
    commitments: list[date] = [moment.astimezone(CST).date()]

    def close(day: date, fixed: bool) -> None:
        nonlocal order
        if order is not None and day > order[1]:
            records.append((f"rectification_overdue-{order[0]}", order[1] + timedelta(1), fixed))
        order = None

    while True:
        gap = rng.choice((20, 45, 60, 89, 90, 91, 120, 180, 200, 365))
        moment = at(gap)
        if moment is None:
            return commands
        day = moment.astimezone(CST).date()
        roll = rng.random()
        if roll < 0.03:
            add("inspect", 2, inspected_at=stamp(moment), inspector="Li", score=rng.randrange(30),
                outcome="ban", findings="no licence displayed", decision_no=f"HB-{version}")
            return commands
        if roll < 0.05:
            add("ban", 1, banned_at=stamp(moment), reason="false commitment",
                decision_no=f"HB-{version}")
            return commands
        if roll < 0.3:
            deadline = day + timedelta(days=rng.choice((1, 7, 15, 30)))
            add("inspect", 1, inspected_at=stamp(moment), inspector="Li",
                score=rng.randrange(40, 80), outcome="rectify",
                rectification_deadline=deadline.isoformat(), findings="ventilation")
            close(day, fixed=False)
            order = (version, deadline)
            when = rng.random()
            if when < 0.55:
                fix = at(rng.randrange(0, (deadline - day).days + 1))
            elif when < 0.8:
                fix = at((deadline - day).days + rng.choice((1, 2, 20, 60)))
            else:
                continue
            if fix is None:
                return commands
            add("rectify", 1, rectified_at=stamp(fix), verified_by="Zhao")
            close(fix.astimezone(CST).date(), fixed=True)
        else:
            score = rng.choice((59, 60, 69, 70, 89, 90, 95, 100, rng.randrange(60, 101)))
            add("inspect", 1, inspected_at=stamp(moment), inspector="Li", score=score,
                outcome="compliant")
            close(day, fixed=True)
        if rng.random() < 0.1 and order is None:
            renewed = at(rng.randrange(0, 30))
            if renewed is None:
                return commands
            add("commit", 1, committed_at=stamp(renewed), signatory="Wang Li")
            commitments.append(renewed.astimezone(CST).date())
        for rid, since, fixed in records:
            if not fixed or rid in repaired or rng.random() < 0.4:
                continue
            now_day = last.astimezone(CST).date()
            if commitments[-1] < since:
                renewed = at(max((since - now_day).days, 0) + rng.randrange(0, 10))
                if renewed is None:
                    return commands
                add("commit", 1, committed_at=stamp(renewed), signatory="Wang Li")
                commitments.append(renewed.astimezone(CST).date())
                now_day = renewed.astimezone(CST).date()
            opens, closes = add_months(since, 3), add_months(since, 12)
            if now_day >= closes:
                continue
            first = max((opens - now_day).days, 0)
            when_repair = at(first + rng.randrange(0, max((closes - max(opens, now_day)).days, 1)))
            if when_repair is None:
                return commands
            if when_repair.astimezone(CST).date() >= closes:
                continue  # too late to repair; the record expires by itself
            add("repair", 1, repaired_at=stamp(when_repair), record=rid, approved_by="Sun")
            repaired.add(rid)


def apply_to_aggregate(commands: list[Command], now: datetime) -> Any:
    """Run a plan on a new `Enterprise` aggregate in memory (for fast bulk writes)."""
    from ledger.aggregates.enterprise import Enterprise

    names = {"license": "licensed_at", "commit": "committed_at", "inspect": "inspected_at",
             "rectify": "rectified_at", "ban": "banned_at", "repair": "repaired_at"}
    (_, first), rest = commands[0], commands[1:]
    kwargs = dict(first)
    kwargs["occurred_at"] = kwargs.pop("licensed_at")
    enterprise = Enterprise.license(**kwargs, now=now)
    for method, arguments in rest:
        kwargs = dict(arguments)
        kwargs["occurred_at"] = kwargs.pop(names[method])
        getattr(enterprise, method)(**kwargs, now=now)
    return enterprise


def write_histories(
    ledger: Any, count: int, seed: int, start: date, end: date,
    progress: Callable[[int], None] | None = None, per_save: int = 200,
) -> int:
    """Save ``count`` random histories, ``per_save`` enterprises per transaction;
    returns the number of events written."""
    from tests.factories import random_uscc

    rng = random.Random(seed)
    now = datetime.combine(end, dtime(23, 59), CST)
    written, pending = 0, []
    for i in range(count):
        district = rng.choice(DISTRICTS)
        uscc = random_uscc(rng, district)
        first = start + timedelta(days=rng.randrange(max((end - start).days - 30, 1)))
        enterprise = apply_to_aggregate(plan_history(rng, uscc, first, end, district), now)
        written += enterprise.version
        pending.append(enterprise)
        if len(pending) >= per_save or i == count - 1:
            ledger.save(*pending)
            pending = []
            if progress:
                progress(i + 1)
    return written


# -- measuring ----------------------------------------------------------------------------


def read_and_decode(services: Any, batch: int = 20_000, full: bool = False) -> int:
    """Read every stored event in log order; ``json.loads`` each (``full``: decode it
    into a `LoggedEvent` as the projections do). Returns the count."""
    from ledger.storage.events import decode

    log, count, after = services.log, 0, 0
    while True:
        with services.db.transaction() as tx:
            rows = tx.all(log._after, (after, batch))
        if not rows:
            return count
        for row in rows:
            if full:
                decode(*row)
            else:
                json.loads(bytes(row[4]))
        count += len(rows)
        after = rows[-1][0]


def timed(run: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """Best wall-clock and best CPU seconds (this process, all threads) of ``repeat``
    runs: the machine may be shared, and the best run is the least disturbed."""
    wall, cpu = float("inf"), float("inf")
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        run()
        wall, cpu = min(wall, time.perf_counter() - w), min(cpu, time.process_time() - c)
    return wall, cpu


def worker_peak_rss(services: Any, policy: str) -> int:
    """Peak RSS (MB) of a `ledger projections work` process that builds a whole set."""
    import os
    import subprocess
    import sys

    from ledger.projections.rebuild import plan, rebuild_lock

    with rebuild_lock(services.db):
        set_id, _ = plan(services.projections, policy)
    settings = services.settings
    env = dict(os.environ, LEDGER_DATABASE_URL=settings.database_url)
    if settings.database_schema:
        env["LEDGER_DATABASE_SCHEMA"] = settings.database_schema
    subprocess.run([sys.executable, "-m", "ledger.cli", "projections", "work", set_id],
                   env=env, check=True, capture_output=True)
    services.projections.discard(set_id)
    return round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)


def measure(url: str, enterprises: int, seed: int, schema: str | None,
            repeat: int = 3) -> dict[str, Any]:
    from ledger.bootstrap import bootstrap
    from ledger.settings import Settings

    settings = Settings(database_url=url, database_schema=schema)
    services = bootstrap(settings, sync_projections=False)
    projections = services.projections
    try:
        t0 = time.perf_counter()
        events = write_histories(
            services.ledger, enterprises, seed, date(2021, 1, 1), date(2025, 12, 31)
        )
        t_write = time.perf_counter() - t0
        policy = projections.live().policy  # type: ignore[union-attr]
        projections.catch_up()  # the live set, as after a day of service
        results: dict[str, tuple[float, float]] = {
            "read_json": timed(lambda: read_and_decode(services), repeat),
            "read_decode": timed(lambda: read_and_decode(services, full=True), repeat),
        }
        # the rebuild alone (built beside, nothing to drop), then the swap with the drop
        for name, workers in (("rebuild", 1), ("rebuild_k2", 2)):
            walls, cpus = [], []
            for _ in range(repeat):
                w, c = time.perf_counter(), time.process_time()
                set_id = projections.rebuild(policy, swap=False, workers=workers)
                walls.append(time.perf_counter() - w)
                cpus.append(time.process_time() - c)  # K=2: this process's share only
                projections.discard(set_id)
            results[name] = (min(walls), min(cpus))
        worker_rss = worker_peak_rss(services, policy)
        set_id = projections.rebuild(policy, swap=False)
        results["swap_and_drop_old"] = timed(lambda: projections.swap(set_id), 1)
        rate = {k: round(events / w) for k, (w, _) in results.items() if k != "swap_and_drop_old"}
        cpu_rate = {k: round(events / c) for k, (_, c) in results.items()
                    if k not in ("swap_and_drop_old", "rebuild_k2")}
        return {
            "store": "postgresql" if settings.is_postgres else "sqlite",
            "enterprises": enterprises,
            "events": events,
            "write_events_per_s": round(events / t_write),
            "events_per_s": rate,
            "events_per_cpu_s": cpu_rate,
            "swap_and_drop_old_s": round(results["swap_and_drop_old"][0], 2),
            "rebuild_vs_read_json": round(rate["rebuild"] / rate["read_json"], 2),
            "rebuild_k2_vs_read_json": round(rate["rebuild_k2"] / rate["read_json"], 2),
            "k2_vs_k1": round(rate["rebuild_k2"] / rate["rebuild"], 2),
            "peak_rss_mb_worker_process": worker_rss,
            "rebuild_vs_read_decode": round(rate["rebuild"] / rate["read_decode"], 2),
            "cpu_rebuild_vs_read_json": round(cpu_rate["rebuild"] / cpu_rate["read_json"], 2),
        }
    finally:
        services.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--enterprises", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs of each")
    parser.add_argument("--database-url", action="append",
                        help="store(s) to measure (default: a temporary SQLite file and "
                        "postgresql://postgres@127.0.0.1:5432/test in a scratch schema)")
    args = parser.parse_args()
    urls = args.database_url or [None, "postgresql://postgres@127.0.0.1:5432/test"]
    for url in urls:
        schema = None
        with tempfile.TemporaryDirectory() as tmp:
            if url is None:
                url = f"sqlite:///{Path(tmp) / 'bench.db'}"
            elif url.startswith("postgres"):
                schema = f"bench_{random.randrange(16**8):08x}"
            try:
                print(json.dumps(measure(url, args.enterprises, args.seed, schema, args.repeat)),
                      flush=True)
            finally:
                if schema:
                    import psycopg

                    with psycopg.connect(url, autocommit=True) as conn:
                        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


if __name__ == "__main__":
    main()
