"""`python -m bench.stats`: the statistics against counting the timelines directly.

Seeds the demo city, then measures in the same process on the same store:

- stats as of a date (``ledger.projections.stats.stats``: month and day delta rows)
  against counting the standing segments valid on that date, grouped by status,
  class and lists (an indexed range scan over every enterprise's timeline, the way
  one would count without the statistics read model);
- the monthly series for five years against that count at each of the 60 month ends.

Both sides must give the same numbers (checked); the ratio is the ledger's speed
relative to the direct count.

    python -m bench.stats                         # SQLite, 14,000 enterprises (~100k events)
    python -m bench.stats --store postgres --enterprises 5000
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from bench.common import Result, fresh_store, latency_ms, postgres_problem
from ledger.bootstrap import Services, bootstrap
from ledger.projections import stats
from ledger.services.demo import seed_city
from ledger.values import today_cst

PAST = "2024-06-30"


def direct_counts(
    s: Services, day: str, district: str | None = None, place_type: str | None = None
) -> dict[str, Any]:
    """The baseline: count the segments valid on ``day`` (what the lists walk)."""
    if s.db.postgres:
        status, klass, due = ("(s.standing::json ->> 'status')",
                              "(s.standing::json ->> 'credit_class')",
                              "(s.standing::json ->> 'verification_due')")
    else:
        status, klass, due = ("json_extract(s.standing, '$.status')",
                              "json_extract(s.standing, '$.credit_class')",
                              "json_extract(s.standing, '$.verification_due')")
    where, params = "", [day, day, day]
    if district is not None:
        where += " AND f.district = ?"
        params.append(district)
    if place_type is not None:
        where += " AND f.place_type = ?"
        params.append(place_type)
    with s.db.reading() as tx:
        rows = tx.all(
            f"SELECT {status}, {klass}, s.on_reward, s.on_punishment, "
            f"CASE WHEN {due} <= ? THEN 1 ELSE 0 END, COUNT(*) "
            "FROM standing_segments s JOIN enterprise_facts f "
            "ON f.set_id = s.set_id AND f.uscc = s.uscc "
            "WHERE s.set_id = (SELECT id FROM projection_sets WHERE state = 'live') "
            f"AND s.valid_from <= ? AND s.valid_until > ?{where} "
            "GROUP BY 1, 2, 3, 4, 5",
            params,
        )
    doc: dict[str, Any] = {
        "as_of": day, "enterprises": 0, "by_status": dict.fromkeys(stats.STATUSES, 0),
        "by_class": dict.fromkeys(stats.CLASSES, 0), "reward_list": 0, "punishment_list": 0,
        "verification_due": 0,
    }
    for st, cls, reward, punishment, due_now, n in rows:
        n = int(n)
        doc["enterprises"] += n
        doc["by_status"][st] += n
        doc["by_class"][cls] += n
        doc["reward_list"] += n if reward else 0
        doc["punishment_list"] += n if punishment else 0
        doc["verification_due"] += n if st == "committed" and due_now else 0
    doc["rectification_overdue"] = doc["by_status"]["overdue"]
    return doc


def month_ends(first: str, count: int) -> list[str]:
    from datetime import date, timedelta

    y, m = int(first[:4]), int(first[5:])
    out = []
    for _ in range(count):
        y2, m2 = (y + 1, 1) if m == 12 else (y, m + 1)
        out.append((date(y2, m2, 1) - timedelta(days=1)).isoformat())
        y, m = y2, m2
    return out


def measure(s: Services, kind: str, repeat: int = 200) -> list[Result]:
    today = today_cst().isoformat()
    results = []
    with s.db.reading() as tx:
        district = tx.value("SELECT district FROM enterprise_facts GROUP BY district "
                            "ORDER BY COUNT(*) DESC LIMIT 1")
    cases = [
        ("stats as of today", today, None, None),
        (f"stats as of {PAST}", PAST, None, None),
        ("stats, district + type", today, district, "hotel"),
    ]
    for name, day, d, p in cases:
        def ledger_call(day: str = day, d: str | None = d, p: str | None = p) -> Any:
            with s.db.reading() as tx:
                return stats.stats(tx, day, d, p)

        assert ledger_call() == direct_counts(s, day, d, p), name  # the same numbers
        mine = latency_ms(ledger_call, repeat)
        base = latency_ms(lambda day=day, d=d, p=p: direct_counts(s, day, d, p), 20, warmup=2)
        results.append(Result(name, kind, mine["p50"], base["p50"], "ms p50",
                              higher_is_better=False,
                              note="baseline: count the segments valid on the day"))
    last = today[:7]
    y, m = int(last[:4]), int(last[5:]) - 59
    while m < 1:
        y, m = y - 1, m + 12
    first = f"{y:04d}-{m:02d}"

    def series() -> Any:
        with s.db.reading() as tx:
            return stats.monthly(tx, first, last)

    def series_directly() -> Any:
        return [direct_counts(s, day) for day in month_ends(first, 60)]

    got, direct = series(), series_directly()
    for month, counted in zip(got, direct, strict=True):
        assert month["by_class"] == counted["by_class"], month["month"]
        assert month["punishment_list"] == counted["punishment_list"]
    mine = latency_ms(series, 50)
    start = time.perf_counter()
    series_directly()
    base = (time.perf_counter() - start) * 1000
    results.append(Result("monthly series, 60 months", kind, mine["p50"], base, "ms p50",
                          higher_is_better=False,
                          note="baseline: the direct count at each month's end (no events)"))
    return results


def run(kind: str, enterprises: int) -> tuple[int, list[Result]]:
    with fresh_store(kind) as settings:
        s = bootstrap(settings, sync_projections=False)
        try:
            seeded = seed_city(s, enterprises, 1)
            if s.db.postgres:
                with s.db.transaction() as tx:
                    tx.execute("ANALYZE")
            return seeded.events, measure(s, kind)
        finally:
            s.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.stats",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--enterprises", type=int, default=14_000)
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    if args.store == "postgres" and (problem := postgres_problem()):
        print(f"postgres: not available ({problem})")
        return 1
    events, results = run(args.store, args.enterprises)
    print(f"{args.store}: {args.enterprises:,} enterprises, {events:,} events")
    print("| scenario | ledger | baseline | ratio |\n|---|---:|---:|---:|")
    for r in results:
        print(f"| {r.scenario} | {r.ledger:.2f} ms | {r.baseline:.2f} ms | {r.ratio:.0f}× |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump([r.__dict__ for r in results], f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
