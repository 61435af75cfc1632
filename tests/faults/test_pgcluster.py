"""The throwaway PostgreSQL cluster harness itself."""

from __future__ import annotations

import psycopg
import pytest

from tests.support.pgcluster import PgCluster


def test_cluster_restarts_keep_data_and_terminate_drops_connections(
    pg_cluster: PgCluster,
) -> None:
    assert pg_cluster.url.startswith("postgresql://postgres@127.0.0.1:")
    pg_cluster.psql("CREATE TABLE t (x int); INSERT INTO t VALUES (1)")
    conn = psycopg.connect(pg_cluster.url, autocommit=True)
    assert pg_cluster.terminate_backends() >= 1
    with pytest.raises(psycopg.OperationalError):
        conn.execute("SELECT 1")
    conn.close()
    pg_cluster.restart(mode="immediate")
    assert pg_cluster.psql("SELECT x FROM t") == [(1,)]
    pg_cluster.stop()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(pg_cluster.url, connect_timeout=2)
    pg_cluster.start()
    assert pg_cluster.psql("SHOW wal_level") == [("replica",)]


def test_standby_streams_and_promotes(pg_cluster: PgCluster) -> None:
    pg_cluster.psql("CREATE TABLE t (x int); INSERT INTO t VALUES (1)")
    standby = pg_cluster.make_standby()
    try:
        assert standby.port != pg_cluster.port
        assert standby.psql("SELECT pg_is_in_recovery()") == [(True,)]
        pg_cluster.psql("INSERT INTO t VALUES (2)")
        lsn = pg_cluster.psql("SELECT pg_current_wal_lsn()::text")[0][0]
        import time

        for _ in range(200):
            done = standby.psql(
                f"SELECT pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn"
            )[0][0]
            if done:
                break
            time.sleep(0.05)
        assert standby.psql("SELECT count(*) FROM t") == [(2,)]
        pg_cluster.stop("immediate")
        standby.promote()
        standby.psql("INSERT INTO t VALUES (3)")
        assert standby.psql("SELECT pg_is_in_recovery()") == [(False,)]
    finally:
        standby.cleanup()
