"""Where a read is served: the primary, or a hot standby (``LEDGER_REPLICA_URL``).

One primary takes every write; PostgreSQL's streaming replication copies the log, the
read models and the hash tree to the standby, where they are always in a state the
primary committed (the read models are written in the events' own transaction, or by
the follower in later ones: either way one ``position`` per set says what they hold).

- ``ReadSide``: the read services (standings, lists, feed, audit) over one database,
  and that database's read position: the lower of the live projection set's position
  and the hash tree's size (``Ledger-Position``: the answer reflects the log up to it).
- ``ReadSides.choose(min_position)``: the replica when it is up and has reached
  ``min_position`` (polled every few ms for up to ``LEDGER_REPLICA_WAIT`` seconds),
  else the primary. A replica that fails (down, or a query cancelled by recovery) never
  fails a read: the read runs again on the primary, and a down replica is probed in
  the background until it answers again.
- ``ReadSides.replica_health()``: the replica's state, positions and lag for /healthz.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ledger.audit.service import Audit
from ledger.services.reads import Reads
from ledger.services.standing import Standings
from ledger.storage.db import Database

T = TypeVar("T")
logger = logging.getLogger("ledger.replica")

POSITION_SQL = (
    "SELECT (SELECT position FROM projection_sets WHERE state = 'live'), "
    "(SELECT size FROM audit_tree WHERE id = 1)"
)
REPLAY_SQL = (
    "SELECT pg_is_in_recovery(), "
    "CASE WHEN NOT pg_is_in_recovery() THEN 0 "
    "WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 "
    "ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) END, "
    "CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() ELSE false END"
)
# Seconds a read position is reused without asking the database again. Any position
# read earlier is a true lower bound (read models only move forward), and this process's
# own writes raise it at once (``ReadSide.reached``), so a client reading through the
# process it wrote through sees its write's position without sending ``min_position``.
FRESH = 0.1
POLL = 0.003  # seconds between polls of the replica's position while a read waits
PROBE = 1.0  # seconds between probes of a replica that failed


def replica_failure(error: BaseException) -> bool:
    """Errors of the replica's database, after which the primary answers the read."""
    try:
        import psycopg
    except ImportError:  # pragma: no cover  (SQLite-only installs have no replica)
        return False
    return isinstance(error, psycopg.Error)


def replica_down(error: BaseException) -> bool:
    """A failure of the replica's connection or server (no SQLSTATE: refused, timed out,
    closed; class 08; shutting down or starting: 57P01-57P03), not of one query (a
    statement cancelled by a replay conflict, 40001 or 57014, or a table a migration
    has not brought yet): reads leave the replica until a probe reaches it again."""
    import psycopg

    if not isinstance(error, psycopg.OperationalError):
        return False
    state = getattr(error, "sqlstate", None)
    return state is None or state.startswith("08") or state in ("57P01", "57P02", "57P03")


@dataclass
class ReadSide:
    """The read services over one database."""

    name: str  # "primary" or "replica"
    db: Database
    standing: Standings
    reads: Reads
    audit: Audit
    _position: int = 0
    _asked_at: float = float("-inf")
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def position(self, fresh: bool = False) -> int:
        """The log position this database's read models and hash tree both include.
        Read at most every ``FRESH`` seconds unless ``fresh``: a position read earlier is
        still a true lower bound (read models only move forward)."""
        now = time.monotonic()
        if not fresh and now - self._asked_at < FRESH:
            return self._position
        with self.db.reading() as tx:
            live, tree = tx.one(POSITION_SQL)
        position = min(int(live or 0), int(tree or 0))
        with self._lock:
            if now >= self._asked_at:
                self._position, self._asked_at = max(position, self._position), now
        return position

    def reached(self, position: int) -> None:
        """This database's read models and tree include ``position`` (a write of this
        process returned): the remembered position rises to it, without I/O."""
        with self._lock:
            self._position = max(self._position, position)

    def cached(self) -> int | None:
        """The read position if read within ``FRESH`` seconds (no I/O), else None."""
        return self._position if time.monotonic() - self._asked_at < FRESH else None

    def head(self) -> int:
        """The last position of this database's log."""
        with self.db.reading() as tx:
            return int(self.standing.log.head(tx) or 0)

    def wait_for(self, min_position: int, deadline: float) -> int | None:
        """This side's position once it reaches ``min_position``; None past ``deadline``."""
        position = self.position()
        while position < min_position:
            if time.monotonic() >= deadline:
                return None
            time.sleep(POLL)
            position = self.position(fresh=True)
        return position


class ReadView:
    """Where one request reads: ``side`` (and its ``position``), with the primary to
    answer instead should the replica fail during the read. ``standing``, ``reads`` and
    ``audit`` are the chosen side's services, each call guarded that way.

    ``ReadSides.deferred`` makes a view that chooses at its first use (``choose``, which
    may read a position or wait): a route that runs in the thread pool then chooses
    there, in the same thread hop as its query, rather than in one of its own."""

    def __init__(
        self, sides: ReadSides, side: ReadSide | None, position: int = 0,
        min_position: int | None = None,
    ) -> None:
        self.sides = sides
        self._side = side
        self._position = position
        self._min_position = min_position
        self._used = False  # by the request (a 422 chose a side, perhaps, but read nothing)

    def _chosen(self) -> ReadSide:
        self._used = True
        if self._side is None:
            view = self.sides.choose(self._min_position)
            self._side, self._position = view.side, view.position
        return self._side

    @property
    def side(self) -> ReadSide:
        return self._chosen()

    @property
    def position(self) -> int:
        self._chosen()
        return self._position

    def known_position(self) -> int:
        """``position`` once chosen; before (a deferred view the request never used,
        such as a 422's), the last position the side it would pick was known at: a true
        lower bound still, got without I/O."""
        if self._side is not None:
            return self._position
        return self.sides.current()._position

    @property
    def served_by(self) -> str:
        return self.side.name

    def answered_by(self) -> str | None:
        """The side that answered (None when the request never read through the view)."""
        return self._side.name if self._used and self._side is not None else None

    def run(self, call: Callable[[ReadSide], T]) -> T:
        """``call(side)``; on a replica failure, marked and run again on the primary."""
        side = self._chosen()
        if side is self.sides.primary:
            return call(side)
        try:
            return call(side)
        except Exception as e:
            if not replica_failure(e):
                raise
            if replica_down(e):
                self.sides.failed(e)
            self._side = self.sides.primary
            self._position = self._side.position()
            return call(self._side)

    @property
    def standing(self) -> Standings:
        return _Guarded(self, "standing")  # type: ignore[return-value]

    @property
    def reads(self) -> Reads:
        return _Guarded(self, "reads")  # type: ignore[return-value]

    @property
    def audit(self) -> Audit:
        return _Guarded(self, "audit")  # type: ignore[return-value]


class _Guarded:
    """A service's methods, each run through ``ReadView.run``."""

    def __init__(self, view: ReadView, service: str) -> None:
        self._view = view
        self._service = service

    def __getattr__(self, name: str) -> Any:
        def method(*args: Any, **kwargs: Any) -> Any:
            return self._view.run(
                lambda side: getattr(getattr(side, self._service), name)(*args, **kwargs)
            )

        return method


class ReadSides:
    """The primary's read side and, when configured, the replica's."""

    def __init__(self, primary: ReadSide, replica: ReadSide | None, wait: float) -> None:
        self.primary = primary
        self.replica = replica
        self.wait = wait
        self.error: str | None = None  # the replica's last failure, while it is down
        self._down = False
        self._lock = threading.Lock()
        self._prober: threading.Thread | None = None
        self._closed = threading.Event()

    @property
    def replica_up(self) -> bool:
        return self.replica is not None and not self._down

    def current(self) -> ReadSide:
        """The side a read goes to first: the replica when there is one and it is up."""
        return self.replica if self.replica is not None and not self._down else self.primary

    def choose_cached(self, min_position: int | None = None) -> ReadView | None:
        """``choose`` without I/O when the side it would pick has a fresh position that
        is enough (most reads, on the event loop); None when that needs the database."""
        side = self.current()
        at = side.cached()
        if at is None or (min_position is not None and at < min_position):
            return None
        return ReadView(self, side, at)

    def deferred(self, min_position: int | None = None) -> ReadView:
        """``choose_cached`` when that needs no I/O, else a view that calls ``choose`` at
        its first use (in the caller's thread)."""
        return self.choose_cached(min_position) or ReadView(self, None, 0, min_position)

    def choose(self, min_position: int | None = None) -> ReadView:
        """The replica when up and at ``min_position`` within the wait, else the primary
        (itself waited for, up to the same deadline, should it not be there yet: its
        read models may trail a write another process just made). A ``min_position``
        past the head of the primary's log is not waited for: the primary answers at
        once, and its ``Ledger-Position`` says how far the answer goes."""
        deadline = time.monotonic() + self.wait
        replica = self.replica if self.replica_up else None
        at = None if replica is None else self._on_replica(replica.position)
        if replica is not None and at is not None and (min_position is None or at >= min_position):
            return ReadView(self, replica, at)
        if min_position is None:
            return ReadView(self, self.primary, self.primary.position())
        beyond = min_position > self.primary.head()  # no one will get there soon
        if replica is not None and at is not None and not beyond:
            reached = self._on_replica(lambda: replica.wait_for(min_position, deadline))
            if reached is not None:
                return ReadView(self, replica, reached)
        position = self.primary.position()
        if position < min_position and not beyond:
            position = self.primary.wait_for(min_position, deadline) or position
        if position < min_position:  # the primary says how far it is: the header shows it
            position = self.primary.position(fresh=True)
        return ReadView(self, self.primary, position)

    def _on_replica(self, call: Callable[[], int | None]) -> int | None:
        """``call()`` against the replica; None when the replica fails (marked down when
        its connection or server did)."""
        try:
            return call()
        except Exception as e:
            if not replica_failure(e):
                raise
            if replica_down(e):
                self.failed(e)
            return None

    # -- a replica that fails ----------------------------------------------------------------

    def failed(self, error: BaseException) -> None:
        """Stop reading from the replica; probe it in the background until it answers."""
        with self._lock:
            self.error = str(error).splitlines()[0] if str(error) else type(error).__name__
            if self._down:
                return
            self._down = True
            logger.warning("replica failed (%s); reads go to the primary", self.error)
            self._prober = threading.Thread(
                target=self._probe, name="ledger-replica-probe", daemon=True
            )
            self._prober.start()

    def _probe(self) -> None:
        assert self.replica is not None
        while not self._closed.wait(PROBE):
            try:
                self.replica.position(fresh=True)
            except Exception as e:
                self.error = str(e).splitlines()[0] if str(e) else type(e).__name__
                continue
            with self._lock:
                self._down, self.error = False, None
            logger.warning("replica answers again; reads go to it")
            return

    # -- /healthz ----------------------------------------------------------------------------

    def replica_health(self) -> dict[str, Any] | None:
        """None without a replica; else its state (``ok``, ``lagging``, ``paused``,
        ``down``), its read position and the primary's, the lag in positions and in
        seconds of replay (0 when it has replayed all it received)."""
        if self.replica is None:
            return None
        try:
            primary = self.primary.position(fresh=True)
        except Exception:
            primary = None
        report: dict[str, Any] = {
            "state": "down", "position": None, "primary_position": primary, "lag": None,
            "lag_seconds": None, "detail": self.error,
        }
        if self._down:
            return report
        try:
            position = self.replica.position(fresh=True)
            with self.replica.db.reading() as tx:
                recovering, seconds, paused = tx.one(REPLAY_SQL)
        except Exception as e:
            if replica_failure(e) and replica_down(e):
                self.failed(e)
            report["detail"] = self.error or str(e).splitlines()[0]
            return report
        lag = max(0, primary - position) if primary is not None else None
        state = "paused" if paused else "lagging" if lag else "ok"
        return {
            "state": state, "position": position, "primary_position": primary, "lag": lag,
            "lag_seconds": round(float(seconds or 0), 3), "in_recovery": bool(recovering),
            "detail": None,
        }

    def close(self) -> None:
        self._closed.set()
