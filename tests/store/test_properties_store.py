"""The random command sequences of tests/unit/test_properties.py, through the
application on SQLite."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ledger.errors import InvalidInput, RuleViolation
from tests.unit.test_properties import (
    START,
    Command,
    Ev,
    check_history,
    draw_command,
    expected,
    same,
)

# -- the application, on SQLite ----------------------------------------------------------------


def run_on_ledger(ledger: Any, uscc: str, c: Command) -> Any:
    a = c.args
    if c.kind == "commit":
        return ledger.commit(uscc, committed_at=c.occurred_at, signatory="Wang Li")
    if c.kind == "inspect":
        return ledger.inspect(uscc, inspected_at=c.occurred_at, inspector="Zhao",
                              score=a["score"], outcome=a["outcome"],
                              rectification_deadline=a["rectification_deadline"])
    if c.kind == "rectify":
        return ledger.rectify(uscc, rectified_at=c.occurred_at, verified_by="Zhao")
    if c.kind == "ban":
        return ledger.ban(uscc, banned_at=c.occurred_at, reason="decision")
    return ledger.repair(uscc, repaired_at=c.occurred_at, record=a["record"], approved_by="Sun")


def stored_history(services: Any, uscc: str) -> tuple[int, list[Ev]]:
    with services.db.transaction() as tx:
        head = services.log.head(tx)
        events = services.log.of_enterprise(tx, uscc)
    return head, [
        Ev(e.type, datetime.fromisoformat(e.occurred_at), datetime.fromisoformat(e.recorded_at),
           {k: e.data[k] for k in ("score", "outcome", "rectification_deadline", "record")
            if k in e.data})
        for e in events
    ]


@pytest.mark.sqlite_only
@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data(), length=st.integers(1, 25))
def test_random_commands_through_the_ledger_keep_every_rule(services, clock, data, length):
    from tests.factories import licence, random_uscc

    uscc = random_uscc()
    clock.now = START
    services.ledger.license(**licence(uscc, licensed_at=START.isoformat()))
    cursor = START
    for _ in range(length):
        _, history = stored_history(services, uscc)
        command = draw_command(data, cursor, history)
        cursor = command.at
        want = expected(command, history)
        clock.now = command.now
        before = stored_history(services, uscc)
        try:
            written = run_on_ledger(services.ledger, uscc, command)
        except (InvalidInput, RuleViolation) as refused:
            assert want is type(refused), (command, refused, want)
            assert stored_history(services, uscc) == before
            event(f"refused {command.kind}: {getattr(refused, 'rule', 'invalid input')}")
            continue
        assert want is None, (command, want)
        event(f"accepted {command.kind}")
        head, history = stored_history(services, uscc)
        assert (written.version, written.position) == (len(history), head)
        assert same(history[len(before[1]):], command.events())
        assert all(e.recorded == command.now for e in history[len(before[1]):])
        check_history(history)
