"""Command throughput: the ledger's commands (load, check the rules, save) against the
`eventsourcing` library saving the very same events directly, one transaction per
command, with 1 and with 32 concurrent writers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import date, datetime, timezone
from typing import Any

from eventsourcing.application import Application

from bench.common import Result, fresh_store, rate
from ledger.bootstrap import bootstrap
from ledger.services.demo import History, generate
from ledger.settings import Settings

ARG = {"commit": "committed_at", "inspect": "inspected_at", "rectify": "rectified_at",
       "ban": "banned_at", "repair": "repaired_at"}
UNTIL = date(2026, 1, 1)


def workload(commands: int, seed: int = 99) -> list[History]:
    """Demo histories holding about ``commands`` commands."""
    chosen, count = [], 0
    for h in generate(seed, 10**7, UNTIL):
        chosen.append(h)
        count += 1 + len(h.steps)
        if count >= commands:
            return chosen
    return chosen


def ledger_calls(h: History) -> list[tuple[str, tuple[Any, ...], dict[str, Any]]]:
    calls = [("license", (), {**h.licence, "licensed_at": h.licensed_at})]
    for step in h.steps:
        calls.append((step.command, (h.uscc,), {ARG[step.command]: step.at, **step.args}))
    return calls


def event_groups(h: History, now: datetime) -> list[list[Any]]:
    """The same history's events, grouped as its commands store them."""
    events = h.build(now).collect_events()
    groups, i = [events[:1]], 1
    for step in h.steps:
        groups.append(events[i : i + step.events])
        i += step.events
    return groups


def run_threads(work: list[Callable[[], None]], writers: int) -> float:
    """Run the callables spread over ``writers`` threads; return the wall time."""
    lanes: list[list[Callable[[], None]]] = [[] for _ in range(writers)]
    for i, w in enumerate(work):
        lanes[i % writers].append(w)
    errors: list[BaseException] = []

    def lane(items: list[Callable[[], None]]) -> None:
        try:
            for item in items:
                item()
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=lane, args=(items,)) for items in lanes]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    return elapsed


def library_env(settings: Settings) -> dict[str, str]:
    env = settings.eventsourcing_env()
    env.pop("APPLICATION_RECORDER_TOPIC", None)  # the library's own recorder, as it comes
    if settings.is_postgres:
        env["PERSISTENCE_MODULE"] = "eventsourcing.postgres"  # the library's own recorder
    return env


def measure(
    kind: str, writers: int, commands: int, sync: bool = False, group_commit: bool = True,
    rounds: int = 3,
) -> Result:
    """The ledger and the library in interleaved rounds (so a busy machine slows both
    alike), each on its own fresh store of ``kind``."""
    histories = workload(commands)
    total = sum(1 + len(h.steps) for h in histories)
    pool = 12 if writers > 1 else 4  # the library's pool may grow to 3x: room for 32 writers
    now = datetime.now(timezone.utc)
    ledger_time = library_time = 0.0
    with fresh_store(kind, pool_size=pool, group_commit=group_commit) as settings, \
            fresh_store(kind, pool_size=pool) as library_settings:
        s = bootstrap(settings, sync_projections=sync)
        app = Application(env=library_env(library_settings))
        try:
            def enterprise(h: History) -> Callable[[], None]:
                def run() -> None:
                    for name, args, kwargs in ledger_calls(h):
                        getattr(s.ledger, name)(*args, **kwargs)
                return run

            def saves(groups: list[list[Any]]) -> Callable[[], None]:
                def run() -> None:
                    for g in groups:
                        app.save(*g)
                return run

            for r in range(rounds):
                part = histories[r::rounds]
                ledger_time += run_threads([enterprise(h) for h in part], writers)
                prepared = [saves(event_groups(h, now)) for h in part]
                library_time += run_threads(prepared, writers)
        finally:
            app.close()
            s.close()
    name = f"commands, {writers} writer{'s' if writers > 1 else ''}"
    if sync:
        name += ", projections synchronous"
    if not group_commit:
        name += ", no group commit"
    return Result(
        name, kind, rate(total, ledger_time), rate(total, library_time), "cmd/s",
        note=f"{total} commands in {rounds} interleaved rounds; baseline: the library "
             "saves the same events",
    )


def scenarios(kind: str, quick: bool = False) -> list[Callable[[], Result]]:
    n = 600 if quick else (3000 if kind == "sqlite" else 2000)
    return [
        lambda: measure(kind, 1, n),
        lambda: measure(kind, 32, n),
        lambda: measure(kind, 32, n, group_commit=False),
        lambda: measure(kind, 1, n // 2, sync=True),
    ]
