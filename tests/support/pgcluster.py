"""A throwaway PostgreSQL cluster for tests that must stop, restart or fail over
PostgreSQL without disturbing the shared server on 5432.

Built from Debian's binaries (``/usr/lib/postgresql/*/bin``) or whatever ``initdb`` is on
``PATH`` (``LEDGER_PG_BIN`` overrides both), run as the ``postgres`` OS user when we are
root, in a temporary directory, on a free port, listening on 127.0.0.1 with trust auth.

    cluster = PgCluster().start()
    cluster.url                     # postgresql://postgres@127.0.0.1:PORT/postgres
    cluster.psql("SELECT 1")        # [(1,)]
    cluster.restart(mode="immediate")
    standby = cluster.make_standby()  # streaming replica, hot standby, started
    standby.promote()
    cluster.cleanup(); standby.cleanup()
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

OS_USER = "postgres"


class PgUnavailable(RuntimeError):
    """The PostgreSQL server binaries (initdb, pg_ctl) are not installed."""


def find_bindir() -> Path:
    """The directory holding initdb and pg_ctl: ``LEDGER_PG_BIN``, Debian's newest
    ``/usr/lib/postgresql/N/bin``, or the one on ``PATH``."""
    override = os.environ.get("LEDGER_PG_BIN")
    candidates: list[Path] = [Path(override)] if override else []
    versions = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    versions.sort(key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    candidates += [Path(p).parent for p in reversed(versions)]
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for d in candidates:
        if (d / "initdb").is_file() and (d / "pg_ctl").is_file():
            return d
    raise PgUnavailable(
        "PostgreSQL server binaries (initdb, pg_ctl) not found; install `postgresql`"
        " or set LEDGER_PG_BIN"
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_root() -> bool:
    return os.geteuid() == 0


class PgCluster:
    """One PostgreSQL cluster in its own temporary directory."""

    def __init__(self, *, port: int | None = None, base_dir: Path | None = None) -> None:
        self.bindir = find_bindir()
        self.port = port or free_port()
        if base_dir is None:
            base_dir = Path(tempfile.mkdtemp(prefix="pgcluster-"))
            self._own_base = True
        else:
            base_dir.mkdir(parents=True, exist_ok=True)
            self._own_base = False
        self.base_dir = base_dir
        self.data_dir = base_dir / "data"
        self.log_file = base_dir / "postgres.log"
        if _as_root():
            pw = pwd.getpwnam(OS_USER)
            os.chown(base_dir, pw.pw_uid, pw.pw_gid)
        os.chmod(base_dir, 0o755)
        self._initialised = False
        self.running = False

    # -- plumbing -------------------------------------------------------------------------

    def _run(self, args: Sequence[str], *, check: bool = True,
             timeout: float = 120) -> subprocess.CompletedProcess[str]:
        cmd = list(args)
        if _as_root():
            cmd = ["runuser", "-u", OS_USER, "--", *cmd]
        proc = subprocess.run(
            cmd, cwd=self.base_dir, capture_output=True, text=True, timeout=timeout,
            env={**os.environ, "LC_ALL": "C.UTF-8", "PGTZ": "UTC"},
        )
        if check and proc.returncode != 0:
            raise RuntimeError(
                f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}\n"
                f"{self.log_tail()}"
            )
        return proc

    def _bin(self, name: str) -> str:
        return str(self.bindir / name)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def _write_conf(self, extra: dict[str, str]) -> None:
        conf = self.data_dir / "postgresql.conf"
        body = "".join(f"{k} = {v}\n" for k, v in extra.items())
        # Appended as the postgres user so the file keeps its owner.
        with open(conf, "a", encoding="utf-8") as f:
            f.write("\n# PgCluster\n" + body)

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def initdb(self) -> PgCluster:
        self._run([self._bin("initdb"), "-D", str(self.data_dir), "-U", "postgres",
                   "--auth=trust", "-E", "UTF8", "--no-sync", "--locale=C"])
        self._write_conf({
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.base_dir}'",
            "wal_level": "replica",
            "max_wal_senders": "5",
            "hot_standby": "on",
            "max_connections": "60",
            "shared_buffers": "16MB",
            "fsync": "off",  # a test cluster dies with its processes, never with the OS
            "full_page_writes": "off",
            "logging_collector": "off",
        })
        self._initialised = True
        return self

    def start(self, timeout: float = 60) -> PgCluster:
        if not self._initialised:
            self.initdb()
        self._run([self._bin("pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log_file),
                   "-w", "-t", str(int(timeout)), "start"], timeout=timeout + 10)
        self.running = True
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 60) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.url, connect_timeout=2, autocommit=True) as c:
                    c.execute("SELECT 1")
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self, mode: str = "fast") -> None:
        if mode not in ("smart", "fast", "immediate"):
            raise ValueError(f"unknown stop mode {mode!r}")
        if not self._initialised:
            return
        self._run([self._bin("pg_ctl"), "-D", str(self.data_dir), "-m", mode, "-w",
                   "-t", "60", "stop"], check=False, timeout=70)
        self.running = False

    def restart(self, mode: str = "fast", *, down_for: float = 0.0) -> None:
        self.stop(mode)
        if down_for:
            time.sleep(down_for)
        self.start()

    def promote(self) -> None:
        """Make a standby the primary (a failover)."""
        self._run([self._bin("pg_ctl"), "-D", str(self.data_dir), "-w", "promote"])

    def make_standby(self) -> PgCluster:
        """A streaming hot standby of this cluster (pg_basebackup -R), started."""
        standby = PgCluster()
        self._run([self._bin("pg_basebackup"), "-D", str(standby.data_dir), "-R",
                   "-X", "stream", "-h", "127.0.0.1", "-p", str(self.port),
                   "-U", "postgres", "--no-sync"])
        standby._write_conf({
            "port": str(standby.port),
            "unix_socket_directories": f"'{standby.base_dir}'",
            "hot_standby": "on",
        })
        standby._initialised = True
        return standby.start()

    def cleanup(self) -> None:
        if self.running or self._initialised:
            self.stop("immediate")
        if self._own_base:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    # -- SQL ------------------------------------------------------------------------------

    def psql(self, sql: str, dbname: str = "postgres") -> list[tuple[Any, ...]]:
        """Run SQL in autocommit; the rows of the last statement, if any."""
        import psycopg

        url = self.url.rsplit("/", 1)[0] + "/" + dbname
        with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
            cur = conn.execute(sql.encode())
            return list(cur.fetchall()) if cur.description else []

    def terminate_backends(self, dbname: str | None = None) -> int:
        """``pg_terminate_backend`` every client connection but this one; how many."""
        where = "" if dbname is None else f" AND datname = '{dbname}'"
        rows = self.psql(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'" + where
        )
        return int(rows[0][0])

    def __enter__(self) -> PgCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()
