"""Credit policy: the one place where the rules of domain.md's "Credit policy v1"
are written. ``standing(facts, day)`` is a pure function of an enterprise's folded
events and a date; the live projections, time travel and rebuilds all call it.

A policy version is a set of parameters over the same rules (`PARAMETERS`, the
parameters a policy file names); v2 is v1 with a stricter reward list (score 95 and
180 days between the two inspections).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, replace
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

from ledger.errors import InvalidInput
from ledger.policy.facts import Facts, Record, apply, pending_record
from ledger.policy.records import BANNED, KINDS, RECTIFICATION_OVERDUE
from ledger.storage.events import LoggedEvent
from ledger.values import ONE_DAY, add_months, add_years, day_of

FOREVER = "9999-12-31"


# Date arithmetic on ISO strings, cached: a rebuild asks the same few thousand questions
# (a record's end of display, the day three years on) hundreds of thousands of times.


@lru_cache(maxsize=65536)
def _plus_months(day: str, months: int) -> str:
    return add_months(date.fromisoformat(day), months).isoformat()


@lru_cache(maxsize=65536)
def _plus_years(day: str, years: int) -> str:
    return add_years(date.fromisoformat(day), years).isoformat()


@lru_cache(maxsize=65536)
def _plus_days(day: str, days: int) -> str:
    return (date.fromisoformat(day) + timedelta(days=days)).isoformat()


@lru_cache(maxsize=65536)
def _days_between(first: str, second: str) -> int:
    return (date.fromisoformat(second) - date.fromisoformat(first)).days


class Shown(NamedTuple):
    """A record with the dates the policy gives it (computed once per facts)."""

    record: Record
    since: str
    ends: str  # first day no longer shown: end of display or repair
    clean_from: str  # first day it no longer counts against the reward list
    serious: bool
    public: dict[str, Any]


class Known(NamedTuple):
    """What the standing needs of the facts that does not depend on the day."""

    records: list[Shown]
    deadline: str | None
    grade: str | None
    verification_due: str | None
    reward_run: str | None  # second inspection of the run's first qualifying pair


@dataclass(frozen=True)
class Policy:
    """A policy version: the rules of domain.md with these parameters (a policy file
    names them, see `PARAMETERS`; v1 and v2 below are two sets of them)."""

    version: str
    reward_min_score: int = 90
    reward_min_gap_days: int = 90
    reward_clean_years: int = 3
    overdue_min_months: int = RECTIFICATION_OVERDUE.min_months
    overdue_max_months: int = RECTIFICATION_OVERDUE.max_months
    banned_months: int = BANNED.max_months
    hygiene_a: int = 90
    hygiene_b: int = 70
    hygiene_c: int = 60
    grade_min_gap_days: int = 90
    verification_days: int = 60

    # -- the records ---------------------------------------------------------------------------

    def records(self, facts: Facts, day: str) -> list[Record]:
        """Every record started on or before ``day`` (active or not); an open order whose
        deadline has passed counts as an overdue record from the day after it."""
        started = [r for r in facts.records if r.since <= day]
        if facts.order is not None:
            pending = pending_record(*facts.order)
            if pending.since <= day:
                started.append(pending)
        return started

    def display_months(self, kind: str) -> tuple[int, int]:
        """How long a record of ``kind`` is shown at least and at most, in months."""
        if kind == BANNED.name:
            return self.banned_months, self.banned_months
        return self.overdue_min_months, self.overdue_max_months

    def until(self, record: Record) -> str:
        """The end of a record's display (exclusive), repair aside."""
        return _plus_months(record.since, self.display_months(record.kind)[1])

    def ends(self, record: Record) -> str:
        """The first day a record is no longer shown: display end or repair."""
        until = self.until(record)
        return min(until, record.repaired_on) if record.repaired_on else until

    def clean_from(self, record: Record) -> str:
        """The first day on which ``record`` no longer started in the last N years."""
        return _plus_years(record.since, self.reward_clean_years)

    def public_record(self, r: Record) -> dict[str, Any]:
        kind = KINDS[r.kind]
        return {
            "id": r.id,
            "kind": r.kind,
            "severity": kind.severity,
            "since": r.since,
            "until": self.until(r),
            "repairable": kind.repairable,
            "repairable_from": _plus_months(r.since, self.display_months(r.kind)[0])
            if kind.repairable else None,
        }

    # -- what does not depend on the day ---------------------------------------------------------

    def known(self, facts: Facts) -> Known:
        shown = [
            Shown(r, r.since, self.ends(r), self.clean_from(r),
                  KINDS[r.kind].severity == "serious", self.public_record(r))
            for r in self.records(facts, FOREVER)
        ] if facts.records or facts.order is not None else []
        return Known(
            shown,
            facts.order[1] if facts.order is not None else None,
            self.hygiene_grade(facts),
            self.verification_due(facts),
            self.reward_run(facts) if facts.base == "compliant" else None,
        )

    def qualifies(self, earlier: list[Any], later: list[Any]) -> bool:
        """Two consecutive inspections that earn the reward list."""
        return (
            earlier[2] == later[2] == "compliant"
            and min(earlier[1], later[1]) >= self.reward_min_score
            and _days_between(earlier[0], later[0]) >= self.reward_min_gap_days
        )

    def reward_run(self, facts: Facts) -> str | None:
        """While the last two inspections qualify, the day the unbroken run of qualifying
        pairs began earning the list (the second inspection of its first pair): each
        later qualifying inspection keeps an enterprise on the list, so its membership
        dates from there (or from when its last record aged out, see ``standing``)."""
        inspections = facts.inspections
        k = len(inspections) - 1
        if k < 1 or not self.qualifies(inspections[k - 1], inspections[k]):
            return None
        while k >= 2 and self.qualifies(inspections[k - 2], inspections[k - 1]):
            k -= 1
        return str(inspections[k][0])

    def hygiene_grade(self, facts: Facts) -> str | None:
        """From the latest score, once some two inspections lie N days apart."""
        if not facts.inspections or facts.first_inspection_on is None:
            return None
        last_day, score, _ = facts.inspections[-1]
        if _days_between(facts.first_inspection_on, last_day) < self.grade_min_gap_days:
            return None
        return (
            "A" if score >= self.hygiene_a else "B" if score >= self.hygiene_b
            else "C" if score >= self.hygiene_c else None
        )

    def verification_due(self, facts: Facts) -> str | None:
        """First on-site verification: N days after the first commitment, until inspected."""
        if facts.base != "committed" or facts.first_committed_on is None:
            return None
        return _plus_days(facts.first_committed_on, self.verification_days)

    # -- the standing ----------------------------------------------------------------------

    def standing(self, facts: Facts, day: str) -> dict[str, Any]:
        """Standing at the end of ``day`` (ISO date, CST), from facts that hold exactly
        the events that occurred on or before that day."""
        return self._standing(facts.base, self.known(facts), day)

    def _standing(self, base: str, known: Known, day: str) -> dict[str, Any]:
        started = active = known.records  # most enterprises have none: no work then
        serious, general = None, False
        if started:
            started = [s for s in started if s.since <= day]
            active = [s for s in started if day < s.ends]
            serious = next((s for s in active if s.serious), None)
            general = any(not s.serious for s in active)
        status = base
        if base == "rectify":
            status = "rectifying" if known.deadline is not None and day <= known.deadline \
                else "overdue"
        # on the reward list: compliant, the last two inspections qualify, and no record
        # started in the last N years
        reward_since = None
        if status == "compliant" and known.reward_run is not None:
            since = max([known.reward_run, *(s.clean_from for s in started)])
            reward_since = since if since <= day else None
        credit_class = (
            "D" if serious else "C" if general else "A" if reward_since is not None else "B"
        )
        punishment = None
        if serious is not None:
            r = serious.record
            punishment = {
                "kind": r.kind, "since": r.since, "until": serious.ends,
                "reason": r.reason, "decision_no": r.decision_no,
            }
        return {
            "status": status,
            "credit_class": credit_class,
            "hygiene_grade": known.grade,
            "on_reward_list": reward_since is not None,
            "on_punishment_list": punishment is not None,
            "records": [s.public for s in active],
            "verification_due": known.verification_due,
            "rectification_deadline": known.deadline if base == "rectify" else None,
            "reward_since": reward_since,
            "punishment": punishment,
        }

    # -- how the standing moves with no new event ---------------------------------------------

    def breakpoints(self, facts: Facts, after: str, before: str = FOREVER) -> list[str]:
        """The days strictly between ``after`` and ``before`` on which the standing may
        change by itself (a record starts, ends or ages out of the reward window)."""
        return self._breakpoints(self.known(facts), after, before)

    @staticmethod
    def _breakpoints(known: Known, after: str, before: str) -> list[str]:
        days = {d for s in known.records for d in (s.since, s.ends, s.clean_from)}
        return sorted(d for d in days if after < d < before)

    def timeline(
        self, facts: Facts, until: str = FOREVER, extra: dict[str, Any] | None = None
    ) -> list[tuple[str, str, dict[str, Any]]]:
        """Segments ``(valid_from, valid_until, standing)`` from the latest event's day to
        ``until`` (the next event's day, or FOREVER), merged where the standing does
        not change; ``extra`` fields are added to each standing."""
        known = self.known(facts)
        segments: list[tuple[str, str, dict[str, Any]]] = []
        points = [facts.last_on]
        if known.records:
            points.extend(self._breakpoints(known, facts.last_on, until))
        for day in points:
            standing = self._standing(facts.base, known, day)
            if extra:
                standing.update(extra)
            if segments and segments[-1][2] == standing:
                continue
            if segments:
                segments[-1] = (segments[-1][0], day, segments[-1][2])
            segments.append((day, until, standing))
        return segments

    def with_settings(self, verification_days: int) -> Policy:
        return replace(self, verification_days=verification_days)

    # -- as parameters (policy files, and what a projection set keeps) -------------------------

    def parameters(self) -> dict[str, Any]:
        """The policy's parameters as a policy file names them (nested tables)."""
        doc: dict[str, Any] = {}
        for path, (name, _, _) in PARAMETERS.items():
            table = doc
            for key in path[:-1]:
                table = table.setdefault(key, {})
            table[path[-1]] = getattr(self, name)
        return doc

    @classmethod
    def from_parameters(cls, version: str, doc: dict[str, Any], base: Policy) -> Policy:
        """``base`` with the parameters given in ``doc`` (nested tables as in a policy
        file; missing ones keep ``base``'s values); InvalidInput naming an unknown or
        out-of-range parameter."""
        check_version(version)
        changes: dict[str, int] = {}
        for path, value in _flatten(doc):
            dotted = ".".join(path)
            if path not in PARAMETERS:
                raise InvalidInput("policy", "unknown", f"policy file: unknown parameter {dotted}")
            name, low, high = PARAMETERS[path]
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise InvalidInput(
                    "policy", "range", f"policy file: {dotted} must be a whole number "
                    f"from {low} to {high}"
                )
            changes[name] = value
        policy = replace(base, version=version, **changes)
        policy.check()
        return policy

    def check(self) -> None:
        """Parameters that contradict each other."""
        if self.overdue_min_months > self.overdue_max_months:
            raise InvalidInput(
                "policy", "range", "policy file: records.rectification_overdue.min_months "
                "must not exceed max_months"
            )
        if not self.hygiene_a > self.hygiene_b > self.hygiene_c:
            raise InvalidInput("policy", "range", "policy file: hygiene needs A > B > C")


# Each parameter of a policy file: its place in the file -> (field, lowest, highest).
PARAMETERS: dict[tuple[str, ...], tuple[str, int, int]] = {
    ("reward", "min_score"): ("reward_min_score", 0, 100),
    ("reward", "min_days_between"): ("reward_min_gap_days", 0, 3660),
    ("reward", "clean_years"): ("reward_clean_years", 0, 50),
    ("records", "rectification_overdue", "min_months"): ("overdue_min_months", 0, 600),
    ("records", "rectification_overdue", "max_months"): ("overdue_max_months", 1, 600),
    ("records", "banned", "months"): ("banned_months", 1, 600),
    ("hygiene", "A"): ("hygiene_a", 0, 100),
    ("hygiene", "B"): ("hygiene_b", 0, 100),
    ("hygiene", "C"): ("hygiene_c", 0, 100),
    ("verification", "days"): ("verification_days", 1, 3660),
}
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")


def _flatten(doc: dict[str, Any], path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    found: list[tuple[tuple[str, ...], Any]] = []
    for key, value in doc.items():
        if isinstance(value, dict):
            found.extend(_flatten(value, (*path, key)))
        else:
            found.append(((*path, key), value))
    return found


def check_version(version: Any) -> str:
    if not isinstance(version, str) or not _VERSION.match(version):
        raise InvalidInput(
            "policy", "format", "policy file: version must be 1-32 letters, digits, '.', "
            "'_' or '-'"
        )
    return version


def load_policy_file(path: str | Path, base: Policy) -> Policy:
    """A policy from a TOML file: ``version = "..."`` and the parameters of `PARAMETERS`
    (missing ones take ``base``'s, v1's). A built-in version's name may only be used
    with that version's own parameters."""
    try:
        with open(path, "rb") as handle:
            doc = tomllib.load(handle)
    except OSError as e:
        raise InvalidInput("policy_file", "unreadable", f"policy file: {e.strerror}: {path}") \
            from None
    except tomllib.TOMLDecodeError as e:
        raise InvalidInput("policy_file", "format", f"policy file: not TOML ({e})") from None
    if "version" not in doc:
        raise InvalidInput("policy", "missing", "policy file: version is missing")
    version = doc.pop("version")
    policy = Policy.from_parameters(check_version(version), doc, base)
    builtin = POLICIES.get(version)
    if builtin is not None and replace(
        builtin, verification_days=base.verification_days
    ).parameters() != policy.parameters():
        raise InvalidInput(
            "policy", "conflict", f"policy file: version {version} is a built-in policy "
            "with other parameters; name the file's policy otherwise"
        )
    return policy


# The built-in versions are parameter sets over the same rules.
V1 = Policy("v1")
V2 = Policy.from_parameters("v2", {"reward": {"min_score": 95, "min_days_between": 180}}, V1)
POLICIES = {p.version: p for p in (V1, V2)}


def get_policy(version: str) -> Policy:
    try:
        return POLICIES[version]
    except KeyError:
        raise InvalidInput(
            "policy", "unknown", f"policy: unknown version {version!r} "
            f"(known: {', '.join(POLICIES)})"
        ) from None


def evaluate(events: list[LoggedEvent], as_of: str, policy: Policy = V1) -> dict[str, Any] | None:
    """The credit standing of one enterprise at the end of ``as_of`` from its events
    (in version order): the keystone. None before the enterprise was licensed."""
    facts: Facts | None = None
    for event in events:
        day = day_of(event.occurred_at)
        if day > as_of:
            break
        facts = apply(facts, event, day)
    if facts is None:
        return None
    return policy.standing(facts, as_of)


def next_day(day: str) -> str:
    return (date.fromisoformat(day) + ONE_DAY).isoformat()
