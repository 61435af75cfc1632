"""Live projection lag: how long after an append returns the live read models show it.

A writer appends licences one by one with the projections asynchronous, while the
runner of ``ledger serve`` (``Projections.follow_forever``) follows the log in a thread
and a watcher polls the live set's position. The baseline is the same runner with
the projection's work taken out (it only reads the events and moves its position):
the floor set by polling (SQLite) or NOTIFY (PostgreSQL) and the tracking transaction.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from unittest import mock

from bench.common import Result, fresh_store, percentile
from ledger.bootstrap import bootstrap
from ledger.projections.standing import StandingProjection
from ledger.services.demo import generate


@contextmanager
def without_projection_work() -> Iterator[None]:
    with mock.patch.object(StandingProjection, "apply", lambda self, tx, set_id, events: None):
        yield


def lag_samples(kind: str, appends: int, interval: float) -> list[float]:
    """Append-to-visible delays in milliseconds."""
    with fresh_store(kind) as settings:
        s = bootstrap(settings, sync_projections=False)
        stop = threading.Event()
        seen: dict[int, float] = {}
        follower = threading.Thread(
            target=s.projections.follow_forever, args=(stop, settings.poll_interval), daemon=True
        )

        def watch() -> None:
            last = 0
            while not stop.is_set():
                with s.db.transaction() as tx:
                    position = tx.value(
                        "SELECT position FROM projection_sets WHERE state = 'live'"
                    ) or 0
                if position > last:
                    now = time.perf_counter()
                    for p in range(last + 1, position + 1):
                        seen[p] = now
                    last = position
                time.sleep(0.001)

        watcher = threading.Thread(target=watch, daemon=True)
        follower.start()
        watcher.start()
        written: list[tuple[int, float]] = []
        try:
            for h in generate(31_337, appends, date(2026, 1, 1)):
                w = s.ledger.license(**h.licence, licensed_at=h.licensed_at)
                written.append((w.position, time.perf_counter()))
                time.sleep(interval)
            deadline = time.perf_counter() + 30
            while written[-1][0] not in seen and time.perf_counter() < deadline:
                time.sleep(0.01)
        finally:
            stop.set()
            follower.join(timeout=10)
            watcher.join(timeout=10)
            s.close()
        return [(seen[p] - t) * 1000 for p, t in written if p in seen]


def measure(kind: str, appends: int = 150, interval: float = 0.03) -> list[Result]:
    ledger = lag_samples(kind, appends, interval)
    with without_projection_work():
        base = lag_samples(kind, appends, interval)
    note = f"{appends} appends; baseline: same runner, no projection work"
    return [
        Result(f"live projection lag p{p}", kind, percentile(ledger, p), percentile(base, p),
               "ms", higher_is_better=False, note=note)
        for p in (50, 99)
    ]
