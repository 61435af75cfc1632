"""The statistics' deltas (no I/O): a timeline counts +1 where a segment starts and -1
where it ends, nothing at cuts that change no count, verifications from the day they
fall due, and taking a timeline back leaves nothing."""

from __future__ import annotations

from collections import namedtuple

from ledger.policy.credit import FOREVER
from ledger.projections.stats import CLASS_AT, LEVELS, STATUS_AT, VERIFICATION, StatsDelta

CELL = ("230109", "hotel")


def standing(status="compliant", credit_class="B", reward=False, punishment=False, due=None,
             version=1):
    return {"status": status, "credit_class": credit_class, "on_reward_list": reward,
            "on_punishment_list": punishment, "verification_due": due, "version": version}


def level(delta, day, column):
    return delta.days.get((day, *CELL), [0] * len(LEVELS))[column]


def test_a_cut_that_changes_no_count_writes_nothing():
    delta = StatsDelta()
    delta.timeline(*CELL, [("2025-01-01", "2025-02-01", standing(version=1)),
                           ("2025-02-01", FOREVER, standing(version=2))])
    assert set(delta.days) == {("2025-01-01", *CELL)}
    assert level(delta, "2025-01-01", 0) == 1  # enterprises


def test_a_change_moves_one_count_to_another_on_its_day():
    delta = StatsDelta()
    delta.timeline(*CELL, [("2025-01-01", "2025-03-01", standing("committed")),
                           ("2025-03-01", "2026-03-01", standing("banned", "D", punishment=True)),
                           ("2026-03-01", FOREVER, standing("banned", "B"))])
    row = delta.days[("2025-03-01", *CELL)]
    assert row[STATUS_AT["committed"]] == -1 and row[STATUS_AT["banned"]] == 1
    assert row[CLASS_AT["D"]] == 1 and row[CLASS_AT["B"]] == -1 and row[0] == 0
    later = delta.days[("2026-03-01", *CELL)]
    assert later[CLASS_AT["D"]] == -1 and later[CLASS_AT["B"]] == 1


def test_a_verification_counts_from_the_day_it_falls_due_while_committed():
    delta = StatsDelta()
    delta.timeline(*CELL, [("2025-01-01", "2025-04-01", standing("committed", due="2025-03-02")),
                           ("2025-04-01", FOREVER, standing())])
    assert level(delta, "2025-03-02", VERIFICATION) == 1
    assert level(delta, "2025-04-01", VERIFICATION) == -1
    verified_in_time = StatsDelta()
    verified_in_time.segment(*CELL, "2025-01-01", "2025-03-02",
                             standing("committed", due="2025-03-02"))
    assert all(row[VERIFICATION] == 0 for row in verified_in_time.days.values())


def test_taking_a_timeline_back_leaves_nothing():
    timeline = [("2025-01-01", "2025-03-01", standing("committed", due="2025-02-01")),
                ("2025-03-01", "2025-06-01", standing("rectifying")),
                ("2025-06-01", FOREVER, standing("overdue", "C"))]
    delta = StatsDelta()
    delta.timeline(*CELL, timeline)
    delta.timeline(*CELL, [("2025-02-15", *timeline[0][1:]), *timeline[1:]], -1)
    delta.segment(*CELL, "2025-01-01", "2025-02-15", timeline[0][2], -1)
    day_rows, month_rows = delta.rows("s")
    assert day_rows == [] and month_rows == []


def test_month_rows_sum_the_days_and_count_events():
    Event = namedtuple("Event", "type occurred_at")
    delta = StatsDelta()
    delta.timeline(*CELL, [("2025-01-31", FOREVER, standing("licensed"))])
    delta.events_of(*CELL, [Event("Licensed", "2025-01-31T23:30:00+08:00"),
                            Event("Committed", "2025-01-31T16:30:00+00:00")])  # Feb 1st CST
    days, months = delta.rows("s")
    assert [r[1] for r in days] == ["2025-01-31"]
    (jan, feb) = months
    assert jan[1] == "2025-01" and jan[4] == 1 and jan[4 + len(LEVELS)] == 1  # a licence
    assert feb[1] == "2025-02" and feb[4 + len(LEVELS) + 1] == 1  # a commitment
