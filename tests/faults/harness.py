"""The fault suite's tools: a real ``ledger serve`` in a subprocess that can be killed,
and a load of clients that write commitments with idempotent retries and record what
was acknowledged, so each test can check that nothing acknowledged was lost and no
command was applied twice."""

from __future__ import annotations

import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ledger.bootstrap import bootstrap
from ledger.services.access import ApiKeys
from ledger.settings import Settings
from tests.factories import licence, random_uscc
from tests.support.pgcluster import free_port

ROOT = Path(__file__).resolve().parents[2]


def server_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "LEDGER_DATABASE_URL": settings.database_url,
        "LEDGER_RATE_LIMIT": "100000",
        "LEDGER_CHECKPOINT_INTERVAL": "0.5",  # kills land in checkpoints too
        "LEDGER_POOL_SIZE": "6",
        **extra,
    }
    if settings.database_schema:
        env["LEDGER_DATABASE_SCHEMA"] = settings.database_schema
    return env


def cli(settings: Settings, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ledger.cli", *args], env=server_env(settings), cwd=ROOT,
        capture_output=True, text=True, timeout=timeout,
    )


class LedgerServer:
    """``ledger serve`` in its own process group (so SIGKILL takes every worker)."""

    def __init__(self, settings: Settings, workers: int = 1, log: Path | None = None) -> None:
        self.settings = settings
        self.workers = workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, wait: float = 60) -> None:
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ledger.cli", "serve", "--port", str(self.port),
             "--workers", str(self.workers)],
            env=server_env(self.settings), cwd=ROOT, stdout=out, stderr=out,
            start_new_session=True,
        )
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ledger serve exited {self.proc.returncode}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError("ledger serve did not answer /healthz")

    def kill(self) -> None:
        """SIGKILL, no warning: the process group (uvicorn's workers too)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def health(self) -> httpx.Response:
        return httpx.get(self.url + "/healthz", timeout=5)


def make_token(settings: Settings) -> str:
    services = bootstrap(settings, sync_projections=False)
    try:
        _, token = ApiKeys(services.db).create(
            f"faults-{uuid.uuid4().hex[:8]}", ["ledger:write", "credit:read", "audit:read"]
        )
        return token
    finally:
        services.close()


@dataclass
class Load:
    """``clients`` threads, each licensing its own enterprise and then writing
    ``per_client`` commitments (a unique ``letter_id`` each), every command with its own
    Idempotency-Key and retried on any failure until acknowledged (201)."""

    url: Callable[[], str]
    token: str
    clients: int = 8
    per_client: int = 15
    pace: float = 0.0  # seconds between a client's commands
    deadline: float = 90.0
    acked: dict[str, int] = field(default_factory=dict)  # letter_id -> position
    statuses: Counter[str] = field(default_factory=Counter)
    ack_times: list[float] = field(default_factory=list)  # monotonic time of each 201
    errors: list[str] = field(default_factory=list)
    letters: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, http: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.token}",
                   "Idempotency-Key": str(uuid.uuid4())}
        give_up = time.monotonic() + self.deadline
        while time.monotonic() < give_up:
            try:
                r = http.post(self.url() + path, json=body, headers=headers, timeout=15)
                status = str(r.status_code)
            except httpx.HTTPError as e:
                r, status = None, type(e).__name__
            with self._lock:
                self.statuses[status] += 1
            if r is not None and r.status_code == 201:
                with self._lock:
                    self.ack_times.append(time.monotonic())
                return r.json()  # type: ignore[no-any-return]
            if r is not None and r.status_code not in (409, 429, 500, 502, 503):
                raise AssertionError(f"{path}: {r.status_code} {r.text}")
            time.sleep(random.uniform(0.02, 0.1))
        raise AssertionError(f"{path} never acknowledged in {self.deadline} s")

    def client(self, n: int) -> None:
        try:
            with httpx.Client() as http:
                uscc = random_uscc()
                self.send(http, "/v1/enterprises", licence(uscc))
                for i in range(self.per_client):
                    letter = f"L-{n}-{i}"
                    with self._lock:
                        self.letters.add(letter)
                    body = {"committed_at": "2025-01-05T10:00:00+08:00",
                            "signatory": f"client {n}", "letter_id": letter}
                    got = self.send(http, f"/v1/enterprises/{uscc}/commitments", body)
                    with self._lock:
                        self.acked[letter] = got["position"]
                    if self.pace:
                        time.sleep(self.pace)
        except BaseException as e:  # noqa: BLE001 - reported by check()
            with self._lock:
                self.errors.append(f"client {n}: {e}")

    def run(self) -> list[threading.Thread]:
        threads = [threading.Thread(target=self.client, args=(n,), daemon=True)
                   for n in range(self.clients)]
        for t in threads:
            t.start()
        return threads

    def done(self) -> int:
        with self._lock:
            return len(self.acked)


def check_store(settings: Settings, load: Load) -> dict[str, int]:
    """0 lost, 0 duplicated, read models and hash tree at the head; the figures."""
    assert not load.errors, load.errors
    assert "500" not in load.statuses, f"500s answered: {load.statuses}"
    services = bootstrap(settings, sync_projections=False)
    try:
        with services.db.transaction() as tx:
            head = services.log.head(tx)
            events = services.log.read(tx, 0, head + 10)
        assert [e.position for e in events] == list(range(1, head + 1)), "a gap in the log"
        committed = Counter(e.data.get("letter_id") for e in events if e.type == "Committed")
        doubled = {k: n for k, n in committed.items() if n > 1}
        lost = {k for k in load.acked if committed.get(k, 0) == 0}
        assert not doubled, f"applied twice: {doubled}"
        assert not lost, f"acknowledged but lost: {lost}"
        assert set(committed) == load.letters, "a command was never applied"
        by_letter = {e.data["letter_id"]: e.position for e in events if e.type == "Committed"}
        assert all(by_letter[k] == p for k, p in load.acked.items()), "acked another position"
        for s in services.projections.status():
            if s.state == "live":
                assert s.position == head, f"projection set {s.id} at {s.position} of {head}"
        size, tree_head = services.audit.tree.lag()
        assert size == tree_head == head, f"hash tree at {size} of {head}"
    finally:
        services.close()
    verify = cli(settings, "audit", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    return {"events": head, "lost": len(lost), "doubled": len(doubled)}


def wait_caught_up(server: LedgerServer, timeout: float = 30) -> None:
    """/healthz answers 200 with every live projection set at lag 0."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            r = server.health()
            last = r.text
            if r.status_code == 200 and all(
                p["lag"] == 0 for p in r.json()["projections"] if p["state"] == "live"
            ):
                return
        except httpx.HTTPError as e:
            last = repr(e)
        time.sleep(0.1)
    raise AssertionError(f"read models never caught up: {last}")


def p50_max(values: list[float]) -> tuple[float, float]:
    return statistics.median(values), max(values)
