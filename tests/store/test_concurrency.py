"""Optimistic concurrency on both stores: commands racing on one enterprise never both
succeed on the same version; without an expected version (If-Match) the loser decides
again on the new version until it is stored, with one every loser gets VersionConflict
(412); no event is lost or duplicated, and no log position is burnt by a conflict
(gap-free on PostgreSQL too)."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from ledger.errors import ConcurrentWrite, VersionConflict
from tests.factories import in_clear, licence, random_uscc

THREADS = 16
ATTEMPTS = 5  # successful commits per thread


def log_of(services, uscc):
    with services.db.transaction() as tx:
        return services.log.read(tx, 0, 100_000), services.log.of_enterprise(tx, uscc)


def test_racing_commitments_with_retries_lose_and_duplicate_nothing(services):
    uscc = random_uscc()
    services.ledger.license(**licence(uscc))
    conflicts = Counter()

    def worker(thread: int) -> list[tuple[int, int, str]]:
        done = []
        for attempt in range(ATTEMPTS):
            signatory = f"t{thread}-a{attempt}"
            while True:
                try:
                    written = services.ledger.commit(
                        uscc, committed_at="2025-01-03T09:00:00+08:00", signatory=signatory
                    )
                except ConcurrentWrite:
                    conflicts[thread] += 1
                    continue
                done.append((written.version, written.position, signatory))
                break
        return done

    with ThreadPoolExecutor(THREADS) as pool:
        results = [w for ws in pool.map(worker, range(THREADS)) for w in ws]

    total = THREADS * ATTEMPTS
    versions = sorted(v for v, _, _ in results)
    assert versions == list(range(2, total + 2))  # each version won exactly once
    assert len({p for _, p, _ in results}) == total  # every success has its own position
    everything, mine = log_of(services, uscc)
    assert [e.version for e in mine] == list(range(1, total + 2))
    stored = {(e.version, e.position, in_clear(services, e, "signatory")) for e in mine[1:]}
    assert stored == set(results)  # what the winners were told is exactly what is stored
    assert [e.position for e in everything] == list(range(1, total + 2))  # no gap, no loss
    live = services.projections.live()
    assert live is not None and live.position == total + 1


class Barrier:
    """The ledger's clock, reached once each command has loaded the enterprise: every
    racer waits there until all have loaded the same version, then all decide and save."""

    def __init__(self, clock, parties: int) -> None:
        self.clock = clock
        self.barrier = threading.Barrier(parties, timeout=60)
        self.racing = threading.local()

    def __call__(self):
        if getattr(self.racing, "on", False):
            self.barrier.wait()
        return self.clock()


def test_of_racers_on_one_version_with_if_match_exactly_one_wins_and_no_position_is_burnt(
    services, clock
):
    uscc = random_uscc()
    services.ledger.license(**licence(uscc))
    services.ledger.commit(uscc, committed_at="2025-01-03T09:00:00+08:00", signatory="W")
    services.ledger.clock = gate = Barrier(clock, THREADS)

    def race(racer: int):
        gate.racing.on = True
        try:
            return services.ledger.inspect(
                uscc, inspected_at="2025-02-01T10:00:00+08:00", inspector=f"inspector {racer}",
                score=90, outcome="compliant", expected_version=2,
            )
        except VersionConflict as lost:
            return lost

    with ThreadPoolExecutor(THREADS) as pool:
        outcomes = list(pool.map(race, range(THREADS)))

    winners = [o for o in outcomes if not isinstance(o, VersionConflict)]
    losers = [o for o in outcomes if isinstance(o, VersionConflict)]
    assert len(winners) == 1 and len(losers) == THREADS - 1
    assert (winners[0].version, winners[0].position) == (3, 3)
    # every loser is told its If-Match no longer holds (412), never "concurrent write" (409)
    assert not any(isinstance(lost, ConcurrentWrite) for lost in losers)
    assert {(lost.expected, lost.actual) for lost in losers} == {(2, 3)}
    assert all(uscc in str(lost) for lost in losers)
    everything, mine = log_of(services, uscc)
    assert [(e.version, e.type) for e in mine] == [(1, "Licensed"), (2, "Committed"),
                                                   (3, "Inspected")]
    assert mine[2].data["inspector"] == winners[0].events[0].data["inspector"]
    assert [e.position for e in everything] == [1, 2, 3]

    services.ledger.clock = clock  # the next write takes the next position: nothing burnt
    written = services.ledger.commit(uscc, committed_at="2025-02-02T10:00:00+08:00",
                                     signatory="W")
    assert (written.version, written.position) == (4, 4)


def test_racing_licences_of_one_uscc_license_it_once(services, clock):
    from ledger.errors import RuleViolation

    uscc = random_uscc()
    start = threading.Barrier(8, timeout=60)

    def race(racer: int):
        start.wait()
        try:
            return services.ledger.license(**licence(uscc, name=f"Racer {racer}"))
        except RuleViolation as refused:
            return refused

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(race, range(8)))
    refused = [o for o in outcomes if isinstance(o, RuleViolation)]
    assert len(refused) == 7 and {r.rule for r in refused} == {"licensed_once"}
    everything, mine = log_of(services, uscc)
    assert [e.type for e in mine] == ["Licensed"]
    assert [e.position for e in everything] == [1]
    assert services.ledger.license(**licence(random_uscc())).position == 2  # none burnt


def test_racers_without_if_match_are_decided_again_until_all_are_stored(services, clock):
    uscc = random_uscc()
    services.ledger.license(**licence(uscc))

    class Once(Barrier):  # the first attempts all load version 1, then race again freely
        def __call__(self):
            moment = super().__call__()
            self.racing.on = False
            return moment

    services.ledger.clock = gate = Once(clock, 20)

    def race(racer: int):
        gate.racing.on = True
        return services.ledger.commit(
            uscc, committed_at="2025-01-03T09:00:00+08:00", signatory=f"racer {racer}"
        )

    with ThreadPoolExecutor(20) as pool:
        outcomes = list(pool.map(race, range(20)))
    assert sorted(w.version for w in outcomes) == list(range(2, 22))
    everything, mine = log_of(services, uscc)
    assert len(mine) == 21 and [e.position for e in everything] == list(range(1, 22))
