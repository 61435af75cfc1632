"""PostgreSQL going away under a running ``ledger serve`` (on a cluster of the test's
own, so nothing else is disturbed): restarts (fast and immediate, i.e. a crash) and
connections killed with ``pg_terminate_backend``, while 8 clients write with
idempotent retries. The server is never restarted: its pools reconnect, the follower,
the checkpointer and LISTEN resume, ``/healthz`` is 503 while the store is away and 200
after; nothing acknowledged is lost, nothing is applied twice, the read models and the
hash tree reach the head and ``ledger audit verify`` passes. Prints the time from
PostgreSQL being back to the first acknowledged write."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx

from ledger.settings import Settings
from tests.faults.harness import (
    LedgerServer,
    Load,
    check_store,
    make_token,
    p50_max,
    wait_caught_up,
)
from tests.support.pgcluster import PgCluster


def cluster_settings(cluster: PgCluster) -> Settings:
    return Settings(database_url=cluster.url, pool_size=6)


def said_recovered(log: Path) -> None:
    """Each background job that failed while PostgreSQL was away logged it (with one
    traceback, not one a second) and, last, that it recovered; a request answered 503
    meanwhile is no crash (no traceback from the server)."""
    import re

    last: dict[str, str] = {}
    tracebacks = 0
    for line in log.read_text().splitlines():
        tracebacks += line.startswith("Traceback")
        found = re.search(r"(projection catch-up|audit follower|access log flush) "
                          r"(failed; retrying|recovered after|still failing)", line)
        if found:
            last[found[1]] = found[2]
    assert all(state == "recovered after" for state in last.values()), last
    assert tracebacks <= 3 * 3 * 2, tracebacks  # jobs x outages, and a kind change each
    assert "Exception in ASGI application" not in log.read_text()


def test_postgres_restarts_under_load(pg_cluster: PgCluster, tmp_path: Path) -> None:
    settings = cluster_settings(pg_cluster)
    token = make_token(settings)
    server = LedgerServer(settings, log=tmp_path / "serve.log")
    server.start()
    load = Load(url=lambda: server.url, token=token, clients=8, per_client=15, pace=0.02)
    recoveries: list[float] = []
    down_health: list[int] = []
    try:
        threads = load.run()
        for i, mode in enumerate(("fast", "immediate", "immediate")):
            target = (i + 1) * load.clients * load.per_client // 4
            while load.done() < target and any(t.is_alive() for t in threads):
                time.sleep(0.01)
            pg_cluster.stop(mode)
            try:
                down_health.append(httpx.get(server.url + "/healthz", timeout=15).status_code)
            except httpx.HTTPError:
                down_health.append(0)
            time.sleep(0.5)
            pg_cluster.start()
            back = time.monotonic()
            while not any(t >= back for t in list(load.ack_times)):
                if not any(t.is_alive() for t in threads):
                    break
                time.sleep(0.005)
            recoveries.append(min(t for t in load.ack_times if t >= back) - back)
        for t in threads:
            t.join(120)
        wait_caught_up(server)
        assert server.health().status_code == 200
    finally:
        server.stop()
    assert down_health == [503, 503, 503], down_health
    said_recovered(tmp_path / "serve.log")
    figures = check_store(settings, load)
    assert figures["events"] == load.clients * (load.per_client + 1)
    p50, worst = p50_max(recoveries)
    print(f"\nPostgreSQL restarted x3 (fast, immediate, immediate) under load: "
          f"lost {figures['lost']}, doubled {figures['doubled']}; first write after "
          f"PostgreSQL is back: p50 {p50:.2f} s, max {worst:.2f} s "
          f"({', '.join(f'{r:.2f}' for r in recoveries)}); answers {dict(load.statuses)}")


def test_terminated_connections_under_load(pg_cluster: PgCluster, tmp_path: Path) -> None:
    settings = cluster_settings(pg_cluster)
    token = make_token(settings)
    server = LedgerServer(settings, log=tmp_path / "serve.log")
    server.start()
    load = Load(url=lambda: server.url, token=token, clients=8, per_client=15, pace=0.01)
    terminated = 0
    try:
        threads = load.run()
        stop = threading.Event()

        def killer() -> None:
            nonlocal terminated
            rounds = 0
            while not stop.wait(0.7) and rounds < 8:
                terminated += pg_cluster.terminate_backends()
                rounds += 1

        k = threading.Thread(target=killer, daemon=True)
        k.start()
        for t in threads:
            t.join(120)
        stop.set()
        k.join()
        wait_caught_up(server)
    finally:
        server.stop()
    figures = check_store(settings, load)
    assert terminated >= 8
    assert figures["events"] == load.clients * (load.per_client + 1)
    print(f"\npg_terminate_backend: {terminated} connections killed under load: "
          f"lost {figures['lost']}, doubled {figures['doubled']}; answers {dict(load.statuses)}")


def test_failover_to_a_promoted_standby_under_load(pg_cluster: PgCluster, tmp_path: Path) -> None:
    """The server's URL lists the primary and a synchronous standby; the primary dies
    (immediate stop) and the standby is promoted: writes go on, nothing acknowledged is
    lost (synchronous replication), nothing is doubled, no restart of the server."""
    standby = pg_cluster.make_standby()
    try:
        pg_cluster.psql("ALTER SYSTEM SET synchronous_standby_names = '*'")
        pg_cluster.psql("SELECT pg_reload_conf()")
        url = (f"postgresql://postgres@127.0.0.1:{pg_cluster.port},127.0.0.1:{standby.port}"
               "/postgres?target_session_attrs=read-write")
        settings = Settings(database_url=url, pool_size=6)
        token = make_token(settings)
        server = LedgerServer(settings, log=tmp_path / "serve.log")
        server.start()
        load = Load(url=lambda: server.url, token=token, clients=8, per_client=15, pace=0.02)
        try:
            threads = load.run()
            while load.done() < load.clients * load.per_client // 3:
                time.sleep(0.01)
            pg_cluster.stop("immediate")
            standby.promote()
            back = time.monotonic()
            for t in threads:
                t.join(120)
            wait_caught_up(server)
        finally:
            server.stop()
        recovery = min(t for t in load.ack_times if t >= back) - back
        figures = check_store(settings, load)
        assert figures["events"] == load.clients * (load.per_client + 1)
        print(f"\nFailover to the promoted standby under load: lost {figures['lost']}, "
              f"doubled {figures['doubled']}; first write {recovery:.2f} s after the "
              f"promotion; answers {dict(load.statuses)}")
    finally:
        standby.cleanup()
