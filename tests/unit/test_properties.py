"""Property-based tests: random command sequences on one enterprise, with random valid
and invalid-ish arguments, never produce a history that breaks a rule of domain.md.

``check_history`` below is an independent statement of the rules, written for the
test from domain.md (it shares no code with the aggregate). After each command:

- the history collected so far (or stored, at the application level) passes it;
- a command is accepted exactly when its input is valid and the history with its
  events appended would still pass it; otherwise it is refused with InvalidInput or
  RuleViolation and nothing is recorded.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ledger.aggregates.enterprise import Enterprise
from ledger.errors import InvalidInput, RuleViolation

HARBIN = timezone(timedelta(hours=8))
SKEW = timedelta(minutes=5)
START = datetime(2025, 1, 2, 9, 0, tzinfo=HARBIN)
USCC = "922301094JURQ283F3"


@dataclass
class Ev:
    type: str
    at: datetime
    recorded: datetime
    data: dict[str, Any] = field(default_factory=dict)


class Broken(AssertionError):
    pass


def rule(ok: bool, what: str) -> None:
    if not ok:
        raise Broken(what)


def plus_months(day: date, months: int) -> date:
    y, m = divmod(day.month - 1 + months, 12)
    year, month = day.year + y, m + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def check_history(history: list[Ev]) -> None:
    """Raise Broken naming the first rule of domain.md the history breaks."""
    rule(bool(history) and history[0].type == "Licensed", "Licensed comes first")
    commitments: list[date] = []
    order: tuple[int, date] | None = None  # (version of the inspection, deadline)
    records: dict[str, dict[str, Any]] = {}
    banned = False
    previous: datetime | None = None

    def close(day: date, fixed: bool) -> None:
        nonlocal order
        if fixed:
            for r in records.values():
                r["fixed"] = True
        if order is not None and day > order[1]:
            records[f"rectification_overdue-{order[0]}"] = {
                "since": order[1] + timedelta(days=1), "fixed": fixed, "repaired": False,
            }
        order = None

    for version, ev in enumerate(history, start=1):
        rule(not banned, "Banned is terminal")
        rule(previous is None or ev.at >= previous, "never before the previous event")
        rule(ev.at <= ev.recorded + SKEW, "never more than 5 minutes after recorded_at")
        previous = ev.at
        day = ev.at.astimezone(HARBIN).date()
        if ev.type == "Licensed":
            rule(version == 1, "Licensed only once")
        elif ev.type == "Committed":
            commitments.append(day)
        elif ev.type == "Inspected":
            rule(bool(commitments), "Inspected needs a commitment")
            rule(0 <= ev.data["score"] <= 100, "score 0-100")
            outcome = ev.data["outcome"]
            rule(outcome in ("compliant", "rectify", "ban"), "known outcome")
            close(day, fixed=outcome == "compliant")
            if outcome == "rectify":
                deadline = date.fromisoformat(ev.data["rectification_deadline"])
                rule(deadline > day, "rectify needs a deadline after the inspection date")
                order = (version, deadline)
            if outcome == "ban":
                following = history[version] if version < len(history) else None
                rule(following is not None and following.type == "Banned"
                     and following.at == ev.at, "a ban outcome is stored with its Banned")
        elif ev.type == "Rectified":
            rule(order is not None, "Rectified needs an open order")
            close(day, fixed=True)
        elif ev.type == "Banned":
            banned, order = True, None
        elif ev.type == "CreditRepaired":
            r = records.get(ev.data["record"])
            rule(r is not None, "a repairable record")
            assert r is not None
            rule(not r["repaired"], "repaired once")
            rule(day >= plus_months(r["since"], 3), "minimum publicity period passed")
            rule(day < plus_months(r["since"], 12), "record not expired")
            rule(r["fixed"], "problem rectified")
            rule(any(c >= r["since"] for c in commitments), "a commitment after the record")
            r["repaired"] = True
        else:
            raise Broken(f"unknown event {ev.type}")


# -- random commands ----------------------------------------------------------------------------

def weighted(*pairs: tuple[Any, int]) -> st.SearchStrategy[Any]:
    return st.sampled_from([value for value, weight in pairs for _ in range(weight)])


# mostly valid and in order, with now and then an argument or a moment that breaks a rule
KINDS = weighted(("commit", 4), ("inspect", 5), ("rectify", 4), ("repair", 4), ("ban", 1))
STEPS = weighted((timedelta(days=-1), 1), (timedelta(minutes=-1), 1), (timedelta(0), 1),
                 (timedelta(hours=1), 2), (timedelta(days=1), 2), (timedelta(days=10), 3),
                 (timedelta(days=20), 3), (timedelta(days=45), 3), (timedelta(days=100), 2))
ZONES = weighted((HARBIN, 6), (timezone.utc, 2), (timezone(timedelta(hours=-5)), 2), (None, 1))
LAGS = weighted((timedelta(minutes=-6), 1), (timedelta(minutes=-5), 1), (timedelta(0), 2),
                (timedelta(days=2), 4), (timedelta(days=400), 4))  # ledger's clock - occurred_at
SCORES = weighted((0, 1), (45, 2), (60, 2), (75, 2), (90, 3), (100, 2), (101, 1), (-1, 1))
OUTCOMES = weighted(("compliant", 5), ("rectify", 6), ("ban", 1))
GAPS = weighted((None, 1), (-1, 1), (0, 1), (1, 3), (14, 6), (30, 4))  # deadline - its day


@dataclass
class Command:
    kind: str
    at: datetime  # aware; shown naive when ``naive``
    naive: bool
    now: datetime
    args: dict[str, Any]

    @property
    def occurred_at(self) -> str:
        return (self.at.replace(tzinfo=None) if self.naive else self.at).isoformat()

    def valid_input(self) -> bool:
        if self.naive:
            return False
        if self.kind != "inspect":
            return True
        a = self.args
        if not 0 <= a["score"] <= 100:
            return False
        if a["outcome"] == "rectify":
            deadline = a["rectification_deadline"]
            return deadline is not None and date.fromisoformat(deadline) > self.day
        return a["rectification_deadline"] is None

    @property
    def day(self) -> date:
        return self.at.astimezone(HARBIN).date()

    def events(self) -> list[Ev]:
        """The events this command would record, if accepted."""
        def ev(kind: str, **data: Any) -> Ev:
            return Ev(kind, self.at, self.now, data)

        a = self.args
        if self.kind == "commit":
            return [ev("Committed")]
        if self.kind == "inspect":
            inspected = ev("Inspected", score=a["score"], outcome=a["outcome"],
                           rectification_deadline=a["rectification_deadline"])
            return [inspected, ev("Banned")] if a["outcome"] == "ban" else [inspected]
        if self.kind == "rectify":
            return [ev("Rectified")]
        if self.kind == "ban":
            return [ev("Banned")]
        return [ev("CreditRepaired", record=a["record"])]


def draw_command(data: st.DataObject, cursor: datetime, history: list[Ev]) -> Command:
    kind = data.draw(KINDS)
    at = cursor + data.draw(STEPS)
    zone = data.draw(ZONES)
    shown = at.astimezone(zone or HARBIN)
    now = at + data.draw(LAGS)
    args: dict[str, Any] = {}
    if kind == "inspect":
        args["score"] = data.draw(SCORES)
        args["outcome"] = data.draw(OUTCOMES)
        gap = data.draw(GAPS)
        if args["outcome"] == "rectify" or data.draw(st.integers(0, 19)) == 0:
            day = at.astimezone(HARBIN).date()
            args["rectification_deadline"] = (
                None if gap is None else (day + timedelta(days=gap)).isoformat()
            )
        else:
            args["rectification_deadline"] = None
    elif kind == "repair":
        known = sorted({f"rectification_overdue-{v}" for v in range(1, len(history) + 1)
                        if history[v - 1].type == "Inspected"})
        args["record"] = data.draw(
            st.sampled_from(known) if known and data.draw(st.integers(0, 4))
            else st.sampled_from(["rectification_overdue-3", "rectification_overdue-9",
                                  "banned-4"])
        )
    return Command(kind, shown, zone is None, now, args)


def expected(command: Command, history: list[Ev]) -> type[Exception] | None:
    if not command.valid_input():
        return InvalidInput
    try:
        check_history(history + command.events())
    except Broken:
        return RuleViolation
    return None


def run_on_aggregate(e: Enterprise, c: Command) -> None:
    a = c.args
    if c.kind == "commit":
        e.commit(occurred_at=c.occurred_at, signatory="Wang Li", now=c.now)
    elif c.kind == "inspect":
        e.inspect(occurred_at=c.occurred_at, inspector="Zhao", score=a["score"],
                  outcome=a["outcome"], rectification_deadline=a["rectification_deadline"],
                  now=c.now)
    elif c.kind == "rectify":
        e.rectify(occurred_at=c.occurred_at, verified_by="Zhao", now=c.now)
    elif c.kind == "ban":
        e.ban(occurred_at=c.occurred_at, reason="decision", now=c.now)
    else:
        e.repair(occurred_at=c.occurred_at, record=a["record"], approved_by="Sun", now=c.now)


def as_ev(event: Any, recorded: datetime) -> Ev:
    data = {k: getattr(event, k) for k in ("score", "outcome", "rectification_deadline",
                                           "record") if hasattr(event, k)}
    return Ev(type(event).__name__, datetime.fromisoformat(event.occurred_at), recorded, data)


def same(recorded: list[Ev], predicted: list[Ev]) -> bool:
    return [(e.type, e.at, e.data) for e in recorded] == [(e.type, e.at, e.data)
                                                          for e in predicted]


# -- the checker itself ----------------------------------------------------------------------


def test_the_checker_catches_a_broken_history():
    lic = Ev("Licensed", START, START)
    com = Ev("Committed", START + timedelta(days=1), START + timedelta(days=1))
    check_history([lic, com])
    with pytest.raises(Broken, match="needs a commitment"):
        check_history([lic, Ev("Inspected", START, START, {"score": 90, "outcome": "compliant",
                                                          "rectification_deadline": None})])
    with pytest.raises(Broken, match="terminal"):
        check_history([lic, Ev("Banned", START, START), com])
    with pytest.raises(Broken, match="previous"):
        check_history([lic, Ev("Committed", START - timedelta(seconds=1), START)])
    with pytest.raises(Broken, match="5 minutes"):
        check_history([lic, Ev("Committed", START + SKEW * 2, START)])
    with pytest.raises(Broken, match="repairable record"):
        check_history([lic, com, Ev("CreditRepaired", com.at, com.at, {"record": "x-3"})])


# -- the aggregate ---------------------------------------------------------------------------


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), length=st.integers(1, 30))
def test_random_commands_on_the_aggregate_keep_every_rule(data, length):
    e = Enterprise.license(
        uscc=USCC, name="Riverside Bathhouse", place_type="bathhouse", address="1 Road",
        district="230109", legal_representative="Li", occurred_at=START.isoformat(), now=START,
    )
    history = [as_ev(ev, START) for ev in e.collect_events()]
    cursor = START
    for _ in range(length):
        command = draw_command(data, cursor, history)
        cursor = command.at
        want = expected(command, history)
        version = e.version
        try:
            run_on_aggregate(e, command)
        except (InvalidInput, RuleViolation) as refused:
            assert want is type(refused), (command, refused, want)
            assert e.version == version and e.collect_events() == []
            event(f"refused {command.kind}: {getattr(refused, 'rule', 'invalid input')}")
            continue
        assert want is None, (command, want)
        event(f"accepted {command.kind}")
        new = [as_ev(ev, command.now) for ev in e.collect_events()]
        assert same(new, command.events())
        history += new
        check_history(history)
