"""SQLite: ``kill -9`` of a projection rebuild (at any moment, while another process
keeps writing) and of a checkpoint loses nothing acknowledged; the next rebuild and
checkpoint complete, the live read models reach the head and ``ledger audit verify``
passes."""

from __future__ import annotations

import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ledger.bootstrap import bootstrap
from ledger.settings import Settings
from tests.factories import licence, random_uscc
from tests.faults.harness import ROOT, cli, server_env

pytestmark = pytest.mark.sqlite_only


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store of 1,500 demo enterprises (about 10,600 events), seeded once."""
    path = tmp_path_factory.mktemp("seeded") / "ledger.db"
    done = cli(Settings(database_url=f"sqlite:///{path}"), "demo", "seed",
               "--enterprises", "1500")
    assert done.returncode == 0, done.stderr
    return path


def copy_of(seeded: Path, tmp_path: Path) -> Settings:
    path = tmp_path / "ledger.db"
    shutil.copy(seeded, path)
    return Settings(database_url=f"sqlite:///{path}")


def start(settings: Settings, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "ledger.cli", *args],
                            env=server_env(settings), cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def building(path: str) -> bool:
    with sqlite3.connect(path, timeout=30) as conn:
        return conn.execute(
            "SELECT count(*) FROM projection_sets WHERE state <> 'live'"
        ).fetchone()[0] > 0


def test_kill_9_during_rebuilds_and_checkpoints_loses_nothing(
    seeded: Path, tmp_path: Path
) -> None:
    settings = copy_of(seeded, tmp_path)
    services = bootstrap(settings)  # another process writing all along
    acked: list[int] = []
    stop = threading.Event()

    def writer() -> None:
        uscc = random_uscc()
        services.ledger.license(**licence(uscc))
        n = 0
        while not stop.is_set():
            w = services.ledger.commit(uscc, committed_at="2025-01-05T10:00:00+08:00",
                                       signatory="W", letter_id=f"K-{n}")
            acked.append(w.position)
            n += 1
            time.sleep(0.01)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    rng = random.Random(12)
    kills = 0
    try:
        for _ in range(3):  # mid-rebuild, at a random moment once it is building
            proc = start(settings, "projections", "rebuild", "--swap")
            deadline = time.monotonic() + 30
            while not building(settings.sqlite_path) and proc.poll() is None:
                assert time.monotonic() < deadline
                time.sleep(0.01)
            time.sleep(rng.uniform(0.0, 0.8))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            proc.wait(10)
        for delay in (0.9, 1.2, 1.5):  # a checkpoint, killed at some moment of its run
            proc = start(settings, "audit", "checkpoint")
            time.sleep(delay)
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        assert kills >= 2
        done = cli(settings, "projections", "rebuild", "--swap")
        assert done.returncode == 0, done.stdout + done.stderr
        assert cli(settings, "audit", "checkpoint").returncode == 0
    finally:
        stop.set()
        thread.join(10)
    with services.db.transaction() as tx:
        head = services.log.head(tx)
        events = services.log.read(tx, 0, head + 10)
        ours = [e.position for e in events if e.data.get("letter_id", "").startswith("K-")]
    assert [e.position for e in events] == list(range(1, head + 1))
    assert ours == acked  # every acknowledged write is there, once
    services.projections.catch_up()
    live = services.projections.live()
    assert live is not None and live.position == head
    services.close()
    verify = cli(settings, "audit", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    print(f"\nSQLite kill -9: {kills} rebuilds and 3 checkpoints killed while "
          f"{len(acked)} writes were acknowledged: lost 0, doubled 0")
