"""Scenarios on a seeded city: projection rebuild, read queries and time travel.

Each ledger figure has a baseline measured in the same process on the same store:
the rebuild against reading and decoding the same events; the read queries against
reading the same number of rows by key; time travel against the library replaying
the same aggregate from its events.
"""

from __future__ import annotations

import random
import time
from datetime import date, datetime, timedelta, timezone
from typing import Any

from bench.common import Result, latency_ms, rate
from ledger.aggregates.enterprise import Enterprise, enterprise_id
from ledger.bootstrap import Services
from ledger.projections import queries
from ledger.services.demo import seed_city, uscc_for
from ledger.values import CST, today_cst

PAST = "2024-06-30"  # "as of a date": a day in the middle of the city's history
LONG_SEED = 777_777  # the seed whose first USCC is the 10,000-event enterprise


def seed(s: Services, enterprises: int, seed_no: int = 1) -> int:
    """The demo city; returns the number of events written."""
    return seed_city(s, enterprises, seed_no, batch_events=5_000).events


def long_history(s: Services, events: int = 10_000) -> str:
    """One enterprise with ``events`` events (renewed commitments and inspections every
    few hours since 2021), saved in chunks through the aggregate."""
    uscc = uscc_for(LONG_SEED, 0)
    now = s.ledger.clock()
    stamp = now.astimezone(timezone.utc)
    t = datetime(2021, 1, 5, 9, 0, tzinfo=CST)
    e = Enterprise.license(
        uscc=uscc, name="Daoli Zhongyang Street Grand Bathhouse", place_type="bathhouse",
        address="1 Zhongyang Street, Daoli District, Harbin", district=uscc[2:8],
        legal_representative="Zhao Min", occurred_at=t, now=now,
    )
    e.commit(occurred_at=t + timedelta(hours=1), signatory="Zhao Min", now=now)
    rng = random.Random(10_000)
    while e.version < events:
        t += timedelta(hours=4)
        if e.version % 10 == 0:
            e.commit(occurred_at=t, signatory="Zhao Min", channel="qr", now=now)
        else:
            e.inspect(occurred_at=t, inspector="Liu Qiang (Daoli, badge 0231)",
                      score=rng.randint(88, 100), outcome="compliant", now=now)
        if len(e.pending_events) >= 1_000 or e.version >= events:
            pending = e.collect_events()
            for event in pending:
                object.__setattr__(event, "timestamp", stamp)
            s.ledger.save(*pending)
    s.projections.catch_up()
    return uscc


def rebuild(s: Services, kind: str) -> Result:
    with s.db.transaction() as tx:
        head = s.log.head(tx)
    start = time.perf_counter()
    after, decoded = 0, 0
    while True:
        with s.db.transaction() as tx:
            events = s.log.read(tx, after, 20_000)
        if not events:
            break
        decoded += len(events)
        after = events[-1].position
    raw = rate(decoded, time.perf_counter() - start)
    start = time.perf_counter()
    s.projections.rebuild(s.settings.policy, swap=True)
    built = rate(head, time.perf_counter() - start)
    return Result("projection rebuild", kind, built, raw, "ev/s",
                  note=f"{head:,} events; baseline: read + decode the same events")


def reads(s: Services, kind: str, repeat: int = 200) -> list[Result]:
    today = today_cst().isoformat()
    with s.db.transaction() as tx:
        set_id = queries.live_set(tx)
        usccs = [r[0] for r in tx.all(
            "SELECT uscc FROM enterprise_facts WHERE set_id = ? ORDER BY uscc", (set_id,)
        )]
        head = s.log.head(tx)
    rng = random.Random(5)
    results: list[Result] = []

    def run(sql_call: Any) -> Any:
        with s.db.transaction() as tx:
            return sql_call(tx)

    def one_row(tx: Any) -> Any:
        return tx.one("SELECT uscc, name, facts FROM enterprise_facts WHERE set_id = ? "
                      "AND uscc = ?", (set_id, rng.choice(usccs)))

    ledger = latency_ms(lambda: run(lambda tx: queries.standing(tx, rng.choice(usccs), today)),
                        repeat)
    base = latency_ms(lambda: run(one_row), repeat)
    results.append(Result("standing (query)", kind, ledger["p50"], base["p50"], "ms p50",
                          higher_is_better=False, note="baseline: one row by key"))

    def page(tx: Any) -> Any:
        return tx.all("SELECT uscc, name, place_type, district FROM enterprise_facts "
                      "WHERE set_id = ? AND uscc > ? ORDER BY uscc LIMIT 100",
                      (set_id, rng.choice(usccs[: len(usccs) // 2])))

    for name, func in (("reward", queries.reward_list), ("punishment", queries.punishment_list)):
        ledger = latency_ms(lambda f=func: run(lambda tx: f(tx, PAST, limit=100)), repeat)
        base = latency_ms(lambda: run(page), repeat)
        results.append(Result(f"{name} list page as of {PAST}", kind, ledger["p50"],
                              base["p50"], "ms p50", higher_is_better=False,
                              note="100 items; baseline: 100 rows by key range"))

    sample = rng.sample(usccs, min(1000, len(usccs)))

    def by_key(tx: Any) -> Any:
        rows = []
        for i in range(0, len(sample), 500):
            chunk = sample[i : i + 500]
            rows += tx.all("SELECT uscc, name, facts FROM enterprise_facts WHERE set_id = ? "
                           f"AND uscc IN ({','.join('?' * len(chunk))})", (set_id, *chunk))
        return rows

    ledger = latency_ms(lambda: run(lambda tx: queries.standings(tx, sample, today)), 30)
    base = latency_ms(lambda: run(by_key), 30)
    results.append(Result("bulk lookup of 1000", kind, ledger["p50"], base["p50"], "ms p50",
                          higher_is_better=False, note="baseline: 1000 rows by key"))

    def feed(tx: Any) -> Any:
        return [e.public() for e in s.log.read(tx, rng.randrange(max(head - 100, 1)), 100)]

    ledger = latency_ms(lambda: run(feed), repeat)
    base = latency_ms(lambda: s.ledger.recorder.select_notifications(
        start=rng.randrange(1, max(head - 100, 2)), limit=100), repeat)
    results.append(Result("feed page of 100", kind, ledger["p50"], base["p50"], "ms p50",
                          higher_is_better=False, note="baseline: library select_notifications"))
    return results


def travel(s: Services, uscc: str, as_of: str, known_at: datetime) -> Any:
    """What ``GET /v1/enterprises/{uscc}/standing?as_of=&known_at=`` computes (the
    standing service's fold from the stored time-travel states)."""
    return s.standing.known(uscc, as_of, known_at)


def time_travel(s: Services, kind: str, uscc: str, repeat: int = 10) -> Result:
    known_at = datetime.now(timezone.utc)
    ledger = latency_ms(lambda: travel(s, uscc, "2023-06-30", known_at), repeat, warmup=1)
    base = latency_ms(lambda: s.ledger.repository.get(enterprise_id(uscc)), repeat, warmup=1)
    return Result("time travel, 10k-event enterprise", kind, ledger["p50"], base["p50"],
                  "ms p50", higher_is_better=False,
                  note="as_of + known_at; baseline: the library replays the aggregate")


def today() -> date:
    return today_cst()
