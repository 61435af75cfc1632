"""Statistics (ledger/projections/stats.py) against the lists, the standings and the
events written, on both stores: counts as of several dates and filters, written
event by event (the live projection replacing timeline tails) and in bulk, after a
rebuild, and after the one-off backfill of sets older than the statistics."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timezone

import pytest

from ledger.errors import InvalidInput
from ledger.projections import queries, stats
from ledger.services.demo import generate, seed_city
from ledger.values import day_of
from tests.factories import licence, random_uscc

UNTIL = date(2026, 1, 1)
DAYS = ["2021-06-30", "2022-03-15", "2023-01-31", "2024-06-30", "2025-02-28", "2025-12-31",
        "2026-01-01", "2027-06-30"]


def whole_list(services, func, day, **filters):
    items, cursor = [], None
    while True:
        with services.db.transaction() as tx:
            page, cursor = func(tx, day, limit=1000, cursor=cursor, **filters)
        items += page
        if cursor is None:
            return items


def expected_counts(services, day, district=None, place_type=None):
    """The figures counted one enterprise at a time from the standings."""
    with services.db.transaction() as tx:
        usccs = [r[0] for r in tx.all(
            "SELECT uscc FROM enterprise_facts WHERE set_id = (SELECT id FROM projection_sets "
            "WHERE state = 'live')"
        )]
        standings = queries.standings(tx, usccs, day)
    picked = [
        s for s in standings.values()
        if (district is None or s["district"] == district)
        and (place_type is None or s["place_type"] == place_type)
    ]
    by_status = Counter(s["status"] for s in picked)
    by_class = Counter(s["credit_class"] for s in picked)
    return {
        "as_of": day,
        "enterprises": len(picked),
        "by_status": {k: by_status.get(k, 0) for k in stats.STATUSES},
        "by_class": {k: by_class.get(k, 0) for k in stats.CLASSES},
        "reward_list": sum(s["on_reward_list"] for s in picked),
        "punishment_list": sum(s["on_punishment_list"] for s in picked),
        "verification_due": sum(
            1 for s in picked
            if s["status"] == "committed" and s["verification_due"] and s["verification_due"] <= day
        ),
        "rectification_overdue": by_status.get("overdue", 0),
    }


def stats_of(services, day, **filters):
    with services.db.transaction() as tx:
        return stats.stats(tx, day, **filters)


def write_event_by_event(services, enterprises, seed):
    """A demo city saved one event at a time in the order the events occurred, each
    followed by a catch-up: every later event replaces the tail of a timeline."""
    now = services.ledger.clock()
    stamp = now.astimezone(timezone.utc)
    events = [e for h in generate(seed, enterprises, UNTIL) for e in h.build(now).collect_events()]
    events.sort(key=lambda e: (datetime.fromisoformat(str(e.occurred_at)), e.originator_version))
    for event in events:
        object.__setattr__(event, "timestamp", stamp)
        services.ledger.save(event)
        services.projections.catch_up()
    return len(events)


def test_figures_agree_with_the_lists_and_the_standings(services):
    seed_city(services, 150, seed=3, until=UNTIL)
    with services.db.transaction() as tx:
        districts = [r[0] for r in tx.all(
            "SELECT district FROM enterprise_facts GROUP BY district ORDER BY COUNT(*) DESC"
        )]
    filter_sets = [{}, {"district": districts[0]}, {"place_type": "hotel"},
                   {"district": districts[0], "place_type": "barbershop"},
                   {"district": "230199"}]
    seen_lists = 0
    for day in DAYS:
        for filters in filter_sets:
            got = stats_of(services, day, **filters)
            assert got == expected_counts(services, day, **filters), (day, filters)
            punished = whole_list(services, queries.punishment_list, day, **filters)
            rewarded = whole_list(services, queries.reward_list, day, **filters)
            assert got["punishment_list"] == len(punished) == got["by_class"]["D"]
            assert got["reward_list"] == len(rewarded) == got["by_class"]["A"]
            assert sum(got["by_class"].values()) == got["enterprises"]
            assert sum(got["by_status"].values()) == got["enterprises"]
            seen_lists += len(punished) + len(rewarded)
    assert seen_lists > 0
    assert stats_of(services, "2020-01-01")["enterprises"] == 0


def test_written_event_by_event_the_figures_equal_a_rebuild_and_the_standings(services):
    write_event_by_event(services, 40, seed=5)
    live = {day: stats_of(services, day) for day in DAYS}
    for day in DAYS:
        assert live[day] == expected_counts(services, day), day
    assert any(v["by_status"]["overdue"] or v["punishment_list"] for v in live.values())
    with services.db.transaction() as tx:
        series = stats.monthly(tx, "2021-01", "2026-12")
    services.projections.rebuild("v1", swap=True)
    for day in DAYS:
        assert stats_of(services, day) == live[day], day
    with services.db.transaction() as tx:
        assert stats.monthly(tx, "2021-01", "2026-12") == series


def test_the_monthly_series_counts_the_events_written_and_the_month_ends(services):
    seed_city(services, 120, seed=4, until=UNTIL)
    with services.db.transaction() as tx:
        events = services.log.read(tx, 0, 100_000)
        series = stats.monthly(tx, "2021-01", "2026-01")
        hotels = stats.monthly(tx, "2021-01", "2026-01", place_type="hotel")
    kinds = dict(stats.EVENT_KINDS)
    written = Counter((day_of(e.occurred_at)[:7], kinds[e.type]) for e in events)
    assert len(series) == 61 and series[0]["month"] == "2021-01"
    assert series[-1]["month"] == "2026-01"
    for month in series:
        for kind in stats.EVENTS:
            assert month[kind] == written.get((month["month"], kind), 0), (month["month"], kind)
    assert sum(m["licences"] for m in series) == 120
    hotel_licences = sum(1 for e in events if e.type == "Licensed"
                         and e.data["place_type"] == "hotel")
    assert sum(m["licences"] for m in hotels) == hotel_licences
    for month in series[::7]:
        y, m = int(month["month"][:4]), int(month["month"][5:])
        last = (date(y + m // 12, m % 12 + 1, 1).toordinal() - 1)
        day = date.fromordinal(last).isoformat()
        at_end = stats_of(services, day)
        assert month["enterprises"] == at_end["enterprises"]
        assert month["by_class"] == at_end["by_class"]
        assert month["reward_list"] == at_end["reward_list"]
        assert month["punishment_list"] == at_end["punishment_list"]


def test_sets_older_than_the_statistics_are_backfilled_once(services):
    seed_city(services, 60, seed=6, until=UNTIL)
    before = {day: stats_of(services, day) for day in DAYS}
    with services.db.transaction() as tx:
        series = stats.monthly(tx, "2021-01", "2026-01")
    live = services.projections.live()
    assert live is not None
    with services.db.transaction(write=True) as tx:  # as migration 012 leaves an old store
        tx.execute("DELETE FROM stats_day")
        tx.execute("DELETE FROM stats_month")
        tx.execute("INSERT INTO stats_pending (set_id) VALUES (?)", (live.id,))
    assert stats_of(services, "2025-12-31")["enterprises"] == 0
    assert stats.backfill(services.db, services.log) == [live.id]
    assert stats.backfill(services.db, services.log) == []
    for day in DAYS:
        assert stats_of(services, day) == before[day]
    with services.db.transaction() as tx:
        assert stats.monthly(tx, "2021-01", "2026-01") == series


def test_a_discarded_set_leaves_no_statistics(services):
    seed_city(services, 10, seed=7, until=UNTIL)
    built = services.projections.rebuild("v2", swap=False)
    with services.db.transaction() as tx:
        assert tx.value("SELECT COUNT(*) FROM stats_day WHERE set_id = ?", (built,)) > 0
    services.projections.discard(built)
    with services.db.transaction() as tx:
        assert tx.value("SELECT COUNT(*) FROM stats_day WHERE set_id = ?", (built,)) == 0
        assert tx.value("SELECT COUNT(*) FROM stats_month WHERE set_id = ?", (built,)) == 0


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda tx: stats.stats(tx, "2025-13-01"), "as_of"),
        (lambda tx: stats.stats(tx, "2025-01-01", district="23010"), "district"),
        (lambda tx: stats.stats(tx, "2025-01-01", place_type="sauna"), "place_type"),
        (lambda tx: stats.monthly(tx, "2025-1", "2025-03"), "from"),
        (lambda tx: stats.monthly(tx, "2025-01", "2025-13"), "to"),
        (lambda tx: stats.monthly(tx, "2025-04", "2025-03"), "from"),
        (lambda tx: stats.monthly(tx, "2000-01", "2020-01"), "to"),
    ],
)
def test_bad_input_names_the_field(services, call, field):
    with services.db.transaction() as tx, pytest.raises(InvalidInput) as caught:
        call(tx)
    assert caught.value.field == field


def test_240_months_are_allowed(services):
    with services.db.transaction() as tx:
        months = stats.monthly(tx, "2001-01", "2020-12")
    assert len(months) == 240 and all(m["enterprises"] == 0 for m in months)


def test_due_and_overdue_today_match_the_supervision_queue(services):
    seed_city(services, 30, seed=10, until=UNTIL)
    ledger = services.ledger
    for committed_at in ("2025-09-01", "2025-11-02", "2025-11-03", "2025-12-20"):
        uscc = random_uscc()
        ledger.license(**licence(uscc))
        ledger.commit(uscc, committed_at=f"{committed_at}T10:00:00+08:00", signatory="W")
    for deadline in ("2025-12-31", "2026-01-01", "2026-01-15"):
        uscc = random_uscc()
        ledger.license(**licence(uscc))
        ledger.commit(uscc, committed_at="2025-09-01T10:00:00+08:00", signatory="W")
        ledger.inspect(uscc, inspected_at="2025-10-01T10:00:00+08:00", inspector="Z", score=50,
                       outcome="rectify", rectification_deadline=deadline)
    today = "2026-01-01"  # the ledger's clock in tests
    items, cursor = [], None
    while True:
        with services.db.transaction() as tx:
            page, cursor = queries.supervision_queue(tx, today, 0, limit=1000, cursor=cursor)
        items += page
        if cursor is None:
            break
    got = stats_of(services, today)
    assert got["verification_due"] == sum(1 for i in items if i["due_kind"] == "verification")
    assert got["rectification_overdue"] == sum(1 for i in items if i["status"] == "overdue")
    assert (got["verification_due"], got["rectification_overdue"]) == (2, 1)


@pytest.mark.parametrize("segments", [1, 4])
def test_a_rebuild_in_segments_adds_up_to_the_live_statistics(services, segments):
    seed_city(services, 80, seed=11, until=UNTIL)
    live = {day: stats_of(services, day) for day in DAYS}
    with services.db.transaction() as tx:
        series = stats.monthly(tx, "2021-01", "2026-01")
    services.projections.rebuild("v1", swap=True, segments=segments)
    for day in DAYS:
        assert stats_of(services, day) == live[day], day
    with services.db.transaction() as tx:
        assert stats.monthly(tx, "2021-01", "2026-01") == series
