"""SIGKILL of a real ``ledger serve`` under load, on both stores: 8 clients each send
15 commitments with idempotent retries while the server is killed 3 times (at any
moment: mid-write, mid-checkpoint) and restarted. Nothing acknowledged is lost, nothing
is applied twice, no key is left stuck, the read models and the hash tree reach the head
and ``ledger audit verify`` passes. On SQLite the server runs two worker processes on
one file, and no client ever sees "database is locked" as a 500."""

from __future__ import annotations

import time
from pathlib import Path

from ledger.settings import Settings
from tests.faults.harness import (
    LedgerServer,
    Load,
    check_store,
    make_token,
    wait_caught_up,
)

KILLS = 3


def test_sigkill_under_load_loses_and_doubles_nothing(
    store_settings: Settings, tmp_path: Path
) -> None:
    settings = store_settings
    token = make_token(settings)
    workers = 1 if settings.is_postgres else 2
    server = LedgerServer(settings, workers=workers, log=tmp_path / "serve.log")
    server.start()
    load = Load(url=lambda: server.url, token=token, clients=8, per_client=15, pace=0.01)
    try:
        threads = load.run()
        total = load.clients * (load.per_client + 1)
        for kill in range(KILLS):
            target = (kill + 1) * load.clients * load.per_client // (KILLS + 1)
            while load.done() < target and any(t.is_alive() for t in threads):
                time.sleep(0.01)
            server.kill()
            time.sleep(0.2)
            server.start()
        for t in threads:
            t.join(120)
        wait_caught_up(server)
    finally:
        server.stop()
    figures = check_store(settings, load)
    assert figures["events"] == total
    print(f"\nSIGKILL x{KILLS} ({'postgresql' if settings.is_postgres else 'sqlite'}, "
          f"{workers} worker(s)): {len(load.acked)} commitments acknowledged, "
          f"lost {figures['lost']}, doubled {figures['doubled']}; answers {dict(load.statuses)}")
