"""A pipelined transaction reads each query's own rows, however the server flushes.

In PostgreSQL's pipeline mode the server sends results when its output buffer fills
(about 8 KB) or when asked. A cursor takes the results of every statement it queued as
they arrive; when the server flushed a batch of INSERT results just as a SELECT was
sent on the same cursor, the SELECT's fetch read "INSERT 0 1" instead of its rows (a
CI run failed on it, seeding a city). Here a few hundred INSERTs fill the buffer while
the client pauses before the SELECT, so the flush lands in that window."""

from __future__ import annotations

import time

from ledger.bootstrap import Services


def test_a_query_after_many_inserts_reads_its_own_rows(services: Services) -> None:
    with services.db.transaction(write=True) as tx:
        tx.execute("CREATE TABLE pipeline_probe (x INTEGER)")
    expected = 0
    for n in range(290, 350, 3):  # around the number of results that fill 8 KB
        with services.db.transaction(write=True, pipeline=True) as tx:
            for _ in range(n):
                tx.execute("INSERT INTO pipeline_probe (x) VALUES (?)", (n,))
            expected += n
            time.sleep(0.005)  # the server flushes while the client is away
            assert tx.value("SELECT count(*) FROM pipeline_probe") == expected
            tx.many("INSERT INTO pipeline_probe (x) VALUES (?)", [(n,)] * 3)
            expected += 3
            assert tx.all("SELECT max(x), count(*) FROM pipeline_probe") == [(n, expected)]
