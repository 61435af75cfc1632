"""A background job's failures during an outage: one traceback, then a line a minute,
then one line when it recovers (ledger.storage.outage)."""

from __future__ import annotations

import logging

from ledger.storage.outage import Failures

logger = logging.getLogger("test.outage")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def fail(failures: Failures, error: Exception) -> None:
    try:
        raise error
    except Exception:
        failures.failed()


def said(caplog) -> list[tuple[str, str, bool]]:
    lines = [(r.levelname, r.getMessage(), r.exc_info is not None) for r in caplog.records]
    caplog.clear()
    return lines


def test_an_outage_logs_one_traceback_a_line_a_minute_and_its_end(caplog):
    caplog.set_level(logging.INFO, logger="test.outage")
    clock = Clock()
    failures = Failures(logger, "catch-up", every=60, clock=clock)
    failures.succeeded()
    assert said(caplog) == []  # nothing to say while all is well
    fail(failures, ConnectionError("server closed\n the connection"))
    assert said(caplog) == [("ERROR", "catch-up failed; retrying", True)]
    for _ in range(59):  # one a second for 59 s: silent
        clock.now += 1
        fail(failures, ConnectionError("server closed the connection"))
    assert said(caplog) == []
    clock.now += 1
    fail(failures, ConnectionError("server closed\n the connection"))
    assert said(caplog) == [("WARNING", "catch-up still failing after 60 s (61 attempts): "
                             "ConnectionError: server closed the connection", False)]
    clock.now += 59
    fail(failures, ConnectionError("again"))
    assert said(caplog) == []
    clock.now += 1
    fail(failures, ConnectionError("again"))
    assert [m for _, m, _ in said(caplog)] == [
        "catch-up still failing after 120 s (63 attempts): ConnectionError: again"]
    clock.now += 5
    failures.succeeded()
    assert said(caplog) == [
        ("WARNING", "catch-up recovered after 125 s (63 failed attempts)", False)]
    failures.succeeded()
    assert said(caplog) == []


def test_a_failure_of_another_kind_or_after_recovery_logs_its_traceback(caplog):
    caplog.set_level(logging.INFO, logger="test.outage")
    clock = Clock()
    failures = Failures(logger, "flush", clock=clock)
    fail(failures, ConnectionError("down"))
    fail(failures, ValueError("a bug"))  # not the outage: shown in full at once
    fail(failures, ValueError("a bug"))
    assert said(caplog) == [("ERROR", "flush failed; retrying", True)] * 2
    failures.succeeded()
    assert said(caplog) == [("WARNING", "flush recovered after 0 s (3 failed attempts)", False)]
    fail(failures, ConnectionError("down again"))
    assert said(caplog) == [("ERROR", "flush failed; retrying", True)]
