"""The ledger's own connection to its database, for the service's tables and fast reads
of the event log. One small interface over SQLite and PostgreSQL; SQL is written once
with ``?`` placeholders."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from ledger.settings import Settings


@lru_cache(maxsize=1024)
def to_pyformat(sql: str) -> str:
    return sql.replace("%", "%%").replace("?", "%s")


class Tx:
    """A transaction's cursor: ``execute``, ``one``, ``all``, ``many``."""

    def __init__(self, cursor: Any, postgres: bool, pipelined: bool = False) -> None:
        self._cursor = cursor
        self._postgres = postgres
        self._pipelined = pipelined  # PostgreSQL pipeline mode: no COPY

    @property
    def postgres(self) -> bool:
        """The dialect, for the few queries that differ (JSON functions)."""
        return self._postgres

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        if self._postgres:
            sql = to_pyformat(sql)
            if self._pipelined:
                # A new cursor for each statement: in pipeline mode a cursor takes the
                # results of every statement it queued as they arrive, so an earlier
                # INSERT's result, flushed by the server while this statement is sent,
                # would land on it after this statement reset it, and a fetch would
                # read "INSERT 0 1" instead of rows (reproduced by
                # tests/store/test_pipeline_cursors.py). No server-side prepared
                # statements inside a pipeline either.
                cursor = self._cursor.connection.cursor(row_factory=self._cursor.row_factory)
                cursor.execute(sql, params, prepare=False)
                return cursor
        self._cursor.execute(sql, params)
        return self._cursor

    def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        # executemany rides an open pipeline and reads no rows back
        self._cursor.executemany(to_pyformat(sql) if self._postgres else sql, rows)

    def one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.execute(sql, params).fetchone()

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return list(self.execute(sql, params).fetchall())

    def value(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = self.one(sql, params)
        return None if row is None else row[0]

    def bulk_insert(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        """Insert many rows at once: COPY on PostgreSQL (several times faster than
        executemany there), executemany on SQLite. ``table``/``columns`` are trusted."""
        if not rows:
            return
        names = ", ".join(columns)
        if self._copies(rows):
            with self._cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        marks = ", ".join("?" * len(columns))
        self.many(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)

    def _copies(self, rows: Sequence[Sequence[Any]]) -> bool:
        """Whether ``rows`` go through COPY: PostgreSQL, many rows (COPY costs extra
        round trips) and no pipeline (COPY has no pipeline mode)."""
        return self._postgres and len(rows) >= 50 and not self._pipelined

    def bulk_add(
        self, table: str, columns: Sequence[str], key: int, rows: Sequence[Sequence[Any]]
    ) -> None:
        """Insert rows whose first ``key`` columns are a unique key; where that key is
        taken, add the other columns to the stored ones. Many rows on PostgreSQL: COPY
        into a temporary table and one upsert from it (row-by-row upserts cost ten times
        more there); else one upsert per row. ``table``/``columns`` are trusted."""
        if not rows:
            return
        names = ", ".join(columns)
        adds = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in columns[key:])
        upsert = f"ON CONFLICT ({', '.join(columns[:key])}) DO UPDATE SET {adds}"
        if self._copies(rows):
            staged = f"{table}_added"
            self.execute(
                f"CREATE TEMPORARY TABLE IF NOT EXISTS {staged} "
                f"(LIKE {table}) ON COMMIT DELETE ROWS"
            )
            self.bulk_insert(staged, columns, rows)
            self.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {staged} {upsert}")
            self.execute(f"TRUNCATE {staged}")
            return
        marks = ", ".join("?" * len(columns))
        self.many(f"INSERT INTO {table} ({names}) VALUES ({marks}) {upsert}", rows)


def reconnect_quickly() -> None:
    """psycopg_pool retries a failed connection after 1 s, then 2, 4, 8 ...: after a
    minute of outage a pool could wait half a minute more once PostgreSQL is back. Here
    (for every pool of the process, the event store's too) the retries come every
    0.1 s at first, growing to at most 0.5 s."""
    from psycopg_pool import base

    attempt = base.AttemptWithBackoff
    if getattr(attempt, "_ledger_quick", False):
        return
    original = attempt.update_delay

    def update_delay(self: Any, now: float) -> None:
        original(self, now)
        self.delay = min(self.delay, 0.5)

    attempt.INITIAL_DELAY = 0.1
    attempt.DELAY_BACKOFF = 1.5
    attempt.update_delay = update_delay  # type: ignore[method-assign]
    attempt._ledger_quick = True  # type: ignore[attr-defined]


class Database:
    """Connections for the service; ``transaction(write=True)`` takes the write lock
    up front on SQLite (``BEGIN IMMEDIATE``) so writers queue instead of deadlocking."""

    def __init__(
        self, settings: Settings, *, pool_timeout: float = 10.0, connect_timeout: int = 5
    ) -> None:
        """``pool_timeout``/``connect_timeout``: how long a caller waits for a connection
        (a replica's are short: a read then falls back to the primary)."""
        self.settings = settings
        self.postgres = settings.is_postgres
        self.dialect = "postgresql" if self.postgres else "sqlite"
        # the database clock in epoch seconds, in SQL (leases compare with it, so that
        # workers on several machines share one clock)
        self.epoch_now = (
            "EXTRACT(EPOCH FROM clock_timestamp())::float8" if self.postgres
            else "((julianday('now') - 2440587.5) * 86400.0)"
        )
        self._local = threading.local()
        self._pool: Any = None
        if self.postgres:
            from psycopg_pool import ConnectionPool

            reconnect_quickly()
            kwargs: dict[str, Any] = {"autocommit": True, "connect_timeout": connect_timeout}
            if settings.database_schema:
                kwargs["options"] = f"-c search_path={settings.database_schema}"
            self._pool = ConnectionPool(
                settings.postgres_conninfo,
                min_size=1,
                max_size=settings.pool_size,
                kwargs=kwargs,
                timeout=pool_timeout,  # an unreachable server is reported in seconds, not 30
                # a connection broken by a restart, failover or pg_terminate_backend is
                # found at checkout and replaced, rather than failing the request
                check=ConnectionPool.check_connection,
                open=True,
            )

    # -- connections -------------------------------------------------------------------------

    def _sqlite(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.settings.sqlite_path, isolation_level=None, check_same_thread=False,
                timeout=30,
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
        return conn

    @contextmanager
    def transaction(self, write: bool = False, pipeline: bool = False) -> Iterator[Tx]:
        """With ``pipeline`` (PostgreSQL), statements are sent without waiting for each
        result: a transaction costs a round trip per result it reads, plus one to
        commit. For the short write transactions on the hot path (catch-ups)."""
        if self.postgres:
            with self._pool.connection() as conn:
                if pipeline:
                    with conn.pipeline(), conn.transaction(), conn.cursor() as cur:
                        yield Tx(cur, True, pipelined=True)
                else:
                    with conn.transaction(), conn.cursor() as cur:
                        yield Tx(cur, True)
            return
        conn = self._sqlite()
        cur = conn.cursor()
        cur.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            yield Tx(cur, False)
        except BaseException:
            conn.rollback()
            raise
        else:
            conn.commit()
        finally:
            cur.close()

    @contextmanager
    def reading(self) -> Iterator[Tx]:
        """Statements outside an explicit transaction, each its own snapshot: for read
        paths of one statement (a key lookup, a standing), one round trip each on
        PostgreSQL instead of three (BEGIN, the statement, COMMIT)."""
        if self.postgres:
            with self._pool.connection() as conn, conn.cursor() as cur:
                yield Tx(cur, True)
            return
        cur = self._sqlite().cursor()
        try:
            yield Tx(cur, False)
        finally:
            cur.close()

    def lock(self, tx: Tx, key: int) -> None:
        """A lock held to the end of the transaction (SQLite's write lock already is one)."""
        if self.postgres:
            tx.execute("SELECT pg_advisory_xact_lock(?)", (key,))

    def create_schema(self) -> None:
        """The PostgreSQL schema named by ``LEDGER_DATABASE_SCHEMA``, if missing."""
        if self.postgres and self.settings.database_schema:
            with self.transaction(write=True) as tx:
                tx.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.settings.database_schema}"')

    def unavailable(self, timeout: float = 2.0) -> str | None:
        """Why the store does not answer within ``timeout`` seconds, or None if it does."""
        try:
            if self.postgres:
                with self._pool.connection(timeout=timeout) as conn:
                    conn.execute("SELECT 1")
            else:
                self._sqlite().execute("SELECT 1")
        except Exception as e:  # noqa: BLE001 - reported, not raised
            return (str(e).splitlines() or [type(e).__name__])[0] or type(e).__name__
        return None

    def ping(self) -> bool:
        try:
            with self.transaction() as tx:
                return tx.value("SELECT 1") == 1
        except Exception:
            return False

    def close_thread(self) -> None:
        """Close the calling thread's SQLite connection (for worker threads that end)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
