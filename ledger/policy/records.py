"""The adverse records of credit publicity (domain.md), shared by the rules and the policy.

A record's id is derived from the event that started it, so it is stable across
rebuilds: ``rectification_overdue-5`` started from the inspection at version 5.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ledger.values import ONE_DAY, add_months


@dataclass(frozen=True)
class RecordKind:
    name: str
    severity: str  # "general" or "serious"
    min_months: int  # shown at least
    max_months: int  # shown at most (display ends by itself)
    repairable: bool


RECTIFICATION_OVERDUE = RecordKind("rectification_overdue", "general", 3, 12, True)
BANNED = RecordKind("banned", "serious", 36, 36, False)
KINDS = {k.name: k for k in (RECTIFICATION_OVERDUE, BANNED)}


def record_id(kind: RecordKind, version: int) -> str:
    return f"{kind.name}-{version}"


def overdue_since(deadline: date) -> date:
    """An overdue record starts the day after a missed deadline."""
    return deadline + ONE_DAY


def display_until(kind: RecordKind, since: date) -> date:
    """End of display (exclusive)."""
    return add_months(since, kind.max_months)


def repairable_from(kind: RecordKind, since: date) -> date:
    return add_months(since, kind.min_months)
