"""Dates as the policy sees them: China Standard Time, calendar months."""

from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta, timezone

CST = timezone(timedelta(hours=8), "CST")
ONE_DAY = timedelta(days=1)


def cst_date(moment: datetime) -> date:
    """The calendar day of a moment in China Standard Time."""
    return moment.astimezone(CST).date()


def add_months(day: date, months: int) -> date:
    """Calendar-month arithmetic, clamped: 2025-01-31 + 1 month = 2025-02-28."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def add_years(day: date, years: int) -> date:
    return add_months(day, 12 * years)


def today_cst(now: datetime | None = None) -> date:
    return cst_date(now or datetime.now(timezone.utc))


def day_of(moment: str) -> str:
    """The CST calendar day (ISO) of an ISO timestamp with offset (the ledger stores
    ``isoformat()`` text, so a +08:00 moment carries its CST day in front)."""
    if moment.endswith("+08:00") and moment[10:11] == "T":
        return moment[:10]
    return cst_date(datetime.fromisoformat(moment)).isoformat()
