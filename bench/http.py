"""HTTP: the ledger's API against a bare FastAPI app, both served by uvicorn on the
loopback in this process and driven by one sequential client with keep-alive, and
against a direct call of the application in the same run (what HTTP, auth, rate
limiting, idempotency bookkeeping, access logging and JSON cost on top).

The bare app saves one `eventsourcing` aggregate per POST (a store of the same kind)
and reads one row by key per GET (from the ledger's own read model table), as in the
contract's performance targets. The ledger's write returns only once the projections
include it; its read is a standing as of today.

    python -m bench.http [--store sqlite|postgres] [--writes N] [--reads N]
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

from eventsourcing.domain import Aggregate
from pydantic import BaseModel

from bench.commands import library_env
from bench.common import Result, fresh_store, rate
from ledger.bootstrap import bootstrap
from ledger.services.demo import generate, seed_city
from ledger.storage.db import Database


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1 in a thread; yields its base URL; stops it after."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", access_log=False,
    ))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the benchmark server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


class Licence(Aggregate):
    def __init__(self, uscc: str, name: str) -> None:
        self.uscc = uscc
        self.name = name


class LicenceIn(BaseModel):
    uscc: str
    name: str


def bare_app(library_settings: Any, read_db: Database, set_id: str) -> Any:
    from eventsourcing.application import Application
    from fastapi import FastAPI, HTTPException

    store: Application[Any] = Application(env=library_env(library_settings))
    app = FastAPI()

    @app.post("/bare", status_code=201)
    def write(body: LicenceIn) -> dict[str, Any]:
        aggregate = Licence(body.uscc, body.name)
        store.save(aggregate)
        return {"id": str(aggregate.id), "version": aggregate.version}

    @app.get("/bare/{uscc}")
    def read(uscc: str) -> dict[str, Any]:
        with read_db.transaction() as tx:
            row = tx.one("SELECT uscc, name, place_type, district FROM enterprise_facts "
                         "WHERE set_id = ? AND uscc = ?", (set_id, uscc))
        if row is None:
            raise HTTPException(404)
        return {"uscc": row[0], "name": row[1], "place_type": row[2], "district": row[3]}

    app.state.store = store
    return app


def timed(calls: list[Any]) -> float:
    start = time.perf_counter()
    for call in calls:
        response = call()
        if response.status_code >= 400:
            raise RuntimeError(f"{response.status_code}: {response.text[:300]}")
    return time.perf_counter() - start


def chunks(items: list[Any], parts: int) -> list[list[Any]]:
    size = -(-len(items) // parts)
    return [items[i:i + size] for i in range(0, len(items), size)]


def measure(kind: str, writes: int = 300, reads: int = 600, rounds: int = 5) -> list[Result]:
    """Rates of the ledger over HTTP, the bare app over HTTP and the application called
    directly, measured in interleaved rounds (so a busy machine slows all three alike)."""
    import httpx

    from api.app import create_app
    from ledger.services.access import ApiKeys
    from ledger.values import today_cst

    with fresh_store(kind) as settings, fresh_store(kind) as library_settings:
        services = bootstrap(settings)
        seed_city(services, 300, seed=3)
        _, token = ApiKeys(services.db).create(
            "bench", ["ledger:write", "credit:read"], rate_limit=1_000_000
        )
        with services.db.transaction() as tx:
            set_id = tx.value("SELECT id FROM projection_sets WHERE state = 'live'")
            usccs = [r[0] for r in tx.all(
                "SELECT uscc FROM enterprise_facts WHERE set_id = ?", (set_id,)
            )]
        bodies = [
            {**h.licence, "licensed_at": h.licensed_at.isoformat()}
            for h in generate(4_242, 2 * writes + 40, date(2026, 1, 1))
        ]
        warm, via_http, via_call = bodies[:40], bodies[40:40 + writes], bodies[40 + writes:]
        picks = [usccs[i % len(usccs)] for i in range(reads)]
        day = today_cst(services.ledger.clock()).isoformat()
        headers = {"Authorization": f"Bearer {token}"}
        spent = dict.fromkeys(("write", "bare write", "call write", "read", "bare read",
                               "call read"), 0.0)
        bare = bare_app(library_settings, services.db, set_id)
        try:
            with serving(create_app(services=services)) as url, serving(bare) as bare_url, \
                    httpx.Client(base_url=url, headers=headers, timeout=30) as client, \
                    httpx.Client(base_url=bare_url, timeout=30) as plain:
                timed([(lambda b=b: client.post("/v1/enterprises", json=b)) for b in warm[:20]])
                timed([(lambda b=b: plain.post("/bare", json={"uscc": b["uscc"],
                                                               "name": b["name"]}))
                       for b in warm[20:]])
                for mine, theirs, direct in zip(
                    chunks(via_http, rounds), chunks(via_http, rounds), chunks(via_call, rounds),
                    strict=True,
                ):
                    spent["write"] += timed(
                        [(lambda b=b: client.post("/v1/enterprises", json=b)) for b in mine])
                    spent["bare write"] += timed(
                        [(lambda b=b: plain.post("/bare", json={"uscc": b["uscc"],
                                                                "name": b["name"]}))
                         for b in theirs])
                    start = time.perf_counter()
                    for body in direct:
                        services.ledger.license(**body)
                    spent["call write"] += time.perf_counter() - start
                for batch in chunks(picks, rounds):
                    spent["read"] += timed(
                        [(lambda u=u: client.get(f"/v1/enterprises/{u}/standing"))
                         for u in batch])
                    spent["bare read"] += timed([(lambda u=u: plain.get(f"/bare/{u}"))
                                                 for u in batch])
                    start = time.perf_counter()
                    for uscc in batch:
                        services.standing.standing(uscc, day)
                    spent["call read"] += time.perf_counter() - start
        finally:
            bare.state.store.close()
            services.close()
        w, r = rate(writes, spent["write"]), rate(reads, spent["read"])
        return [
            Result("HTTP write (licence)", kind, w, rate(writes, spent["bare write"]), "req/s",
                   note="1 sequential client; baseline: bare FastAPI saving one aggregate"),
            Result("HTTP standing read", kind, r, rate(reads, spent["bare read"]), "req/s",
                   note="1 sequential client; baseline: bare FastAPI reading one row by key"),
            Result("HTTP write vs direct call", kind, w, rate(writes, spent["call write"]),
                   "req/s", note="baseline: Ledger.license called in-process"),
            Result("HTTP standing read vs direct call", kind, r,
                   rate(reads, spent["call read"]), "req/s",
                   note="baseline: the route's standing query called in-process"),
        ]


def main(argv: list[str] | None = None) -> int:
    import argparse

    from bench.common import KINDS, postgres_problem, table

    parser = argparse.ArgumentParser(prog="python -m bench.http", description=__doc__)
    parser.add_argument("--store", choices=KINDS, action="append", help="default: both")
    parser.add_argument("--writes", type=int, default=300)
    parser.add_argument("--reads", type=int, default=600)
    args = parser.parse_args(argv)
    results: list[Result] = []
    for kind in args.store or list(KINDS):
        if kind == "postgres" and (problem := postgres_problem()) is not None:
            print(f"postgres: not available ({problem})")
            continue
        results.extend(measure(kind, args.writes, args.reads))
    print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
