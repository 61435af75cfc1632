"""Statistics over the read models: counts as of a date and a month-by-month series.

Kept per projection set as *deltas* of the standing timelines, so a count as of any
day is a sum over a few thousand small rows, never a walk over every enterprise:

- ``stats_day``: for each day, district and place type, how each count changes on that
  day (+1 where a timeline segment starts, -1 where it ends). A segment ``[from,
  until)`` adds 1 to ``enterprises``, to its status and class, and to the lists it is
  on; a committed enterprise counts under ``verification_due`` from the day its first
  verification falls due to the end of that segment.
- ``stats_month``: the same deltas summed per calendar month, plus the number of
  events of each kind that *occurred* in that month (China Standard Time).

The count as of D is the sum of the month rows before D's month and the day rows of
D's month up to D; the series at each month's end is a running sum of the month
rows. The rows change with the segments they mirror, in the same transaction: the live
projection subtracts the old tail of a timeline it replaces and adds the new one
(``StatsDelta``); a rebuild adds whole timelines. So the figures agree with the lists
and standings by construction (the tests check it on both stores).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from ledger.errors import InvalidInput
from ledger.policy.credit import FOREVER
from ledger.storage.db import Tx

STATUSES = ("licensed", "committed", "compliant", "rectifying", "overdue", "banned")
CLASSES = ("A", "B", "C", "D")
# the level columns (counts of enterprises, as of a day), in this order
LEVELS = (
    "enterprises",
    *(f"status_{s}" for s in STATUSES),
    *(f"class_{c.lower()}" for c in CLASSES),
    "reward_list", "punishment_list", "verification_due",
)
ENTERPRISES, REWARD, PUNISHMENT, VERIFICATION = 0, 11, 12, 13
STATUS_AT = {s: 1 + i for i, s in enumerate(STATUSES)}
CLASS_AT = {c: 1 + len(STATUSES) + i for i, c in enumerate(CLASSES)}
# the event columns (events that occurred in a month)
EVENT_KINDS = {
    "Licensed": "licences", "Committed": "commitments", "Inspected": "inspections",
    "Rectified": "rectifications", "Banned": "bans", "CreditRepaired": "repairs",
}
EVENTS = tuple(EVENT_KINDS.values())
EVENT_AT = {kind: i for i, kind in enumerate(EVENT_KINDS)}
MAX_MONTHS = 240
_LIVE = "SELECT id FROM projection_sets WHERE state = 'live'"

Cell = tuple[str, str, str]  # (day or month, district, place_type)
_SHAPES: dict[tuple[str, str, bool, bool], tuple[int, ...]] = {}  # see StatsDelta._shape


class StatsDelta:
    """Changes to a set's statistics, gathered in memory and written in one go."""

    __slots__ = ("days", "events")

    def __init__(self) -> None:
        self.days: dict[Cell, list[int]] = {}
        self.events: dict[Cell, list[int]] = {}

    def __bool__(self) -> bool:
        return bool(self.days or self.events)

    def _add(
        self, day: str, district: str, place_type: str, columns: Iterable[int], n: int
    ) -> None:
        key = (day, district, place_type)
        row = self.days.get(key)
        if row is None:
            row = self.days[key] = [0] * len(LEVELS)
        for c in columns:
            row[c] += n

    def _shape(self, standing: dict[str, Any]) -> tuple[int, ...]:
        """The level columns a standing counts under (one tuple per shape, cached)."""
        status, credit_class = standing["status"], standing["credit_class"]
        reward, punishment = standing["on_reward_list"], standing["on_punishment_list"]
        shape = (status, credit_class, reward, punishment)
        columns = _SHAPES.get(shape)
        if columns is None:
            picked = [ENTERPRISES, STATUS_AT[status], CLASS_AT[credit_class]]
            if reward:
                picked.append(REWARD)
            if punishment:
                picked.append(PUNISHMENT)
            columns = _SHAPES[shape] = tuple(picked)
        return columns

    def segment(
        self, district: str, place_type: str, start: str, until: str, standing: dict[str, Any],
        sign: int = 1,
    ) -> None:
        """Count a timeline segment ``[start, until)`` (``sign`` -1 takes it back)."""
        self.timeline(district, place_type, ((start, until, standing),), sign)

    def timeline(
        self, district: str, place_type: str,
        segments: Iterable[tuple[str, str, dict[str, Any]]], sign: int = 1,
    ) -> None:
        """Count consecutive segments of one enterprise: where one ends and the next
        starts with the same counts (most cuts only change the version), nothing is
        written."""
        before: tuple[int, ...] = ()
        end = ""
        for start, until, standing in segments:
            columns = self._shape(standing)
            if end != start:  # not contiguous (or the first): close what was open
                if before and end != FOREVER:
                    self._add(end, district, place_type, before, -sign)
                before = ()
            if columns is not before:
                key = (start, district, place_type)
                row = self.days.get(key)
                if row is None:
                    row = self.days[key] = [0] * len(LEVELS)
                for c in before:
                    if c not in columns:
                        row[c] -= sign
                for c in columns:
                    if c not in before:
                        row[c] += sign
            due = standing.get("verification_due")
            if due is not None and standing["status"] == "committed":
                since = max(start, due)
                if since < until:
                    self._add(since, district, place_type, (VERIFICATION,), sign)
                    if until != FOREVER:
                        self._add(until, district, place_type, (VERIFICATION,), -sign)
            before, end = columns, until
        if before and end != FOREVER:
            self._add(end, district, place_type, before, -sign)

    def event(self, district: str, place_type: str, day: str, kind: str) -> None:
        """Count an event that occurred on ``day`` (its CST date)."""
        at = EVENT_AT.get(kind)
        if at is None:
            return
        key = (day[:7], district, place_type)
        row = self.events.get(key)
        if row is None:
            row = self.events[key] = [0] * len(EVENTS)
        row[at] += 1

    def events_of(self, district: str, place_type: str, events: Iterable[Any]) -> None:
        """Count an enterprise's events (anything with ``type`` and ``occurred_at``)."""
        from ledger.values import day_of

        counts = self.events
        for e in events:
            at = EVENT_AT.get(e.type)
            if at is None:
                continue
            moment = e.occurred_at
            cst = moment.endswith("+08:00") and moment[10:11] == "T"
            month = moment[:7] if cst else day_of(moment)[:7]
            key = (month, district, place_type)
            row = counts.get(key)
            if row is None:
                row = counts[key] = [0] * len(EVENTS)
            row[at] += 1

    def merge(self, other: StatsDelta) -> None:
        for mine, theirs in ((self.days, other.days), (self.events, other.events)):
            for key, values in theirs.items():
                row = mine.get(key)
                if row is None:
                    mine[key] = list(values)
                else:
                    for i, v in enumerate(values):
                        row[i] += v

    # -- rows ----------------------------------------------------------------------------

    def rows(self, set_id: str) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """The day rows and month rows of these changes (rows of zeros left out)."""
        day_rows = []
        months: dict[Cell, list[int]] = {}
        for (day, district, place_type), values in self.days.items():
            if not any(values):
                continue
            day_rows.append((set_id, day, district, place_type, *values))
            key = (day[:7], district, place_type)
            row = months.get(key)
            if row is None:
                months[key] = list(values) + [0] * len(EVENTS)
            else:
                for i, v in enumerate(values):
                    row[i] += v
        for key, counts in self.events.items():
            row = months.get(key)
            if row is None:
                row = months[key] = [0] * (len(LEVELS) + len(EVENTS))
            for i, v in enumerate(counts):
                row[len(LEVELS) + i] += v
        month_rows = [(set_id, *key, *values) for key, values in months.items() if any(values)]
        day_rows.sort()
        month_rows.sort()
        return day_rows, month_rows

    def write(self, tx: Tx, set_id: str, fresh: bool = False) -> None:
        """Add these changes to the set's rows; ``fresh``: the set has none yet (a
        rebuild), so they are inserted in bulk."""
        day_rows, month_rows = self.rows(set_id)
        day_columns = ("set_id", "day", "district", "place_type", *LEVELS)
        month_columns = ("set_id", "month", "district", "place_type", *LEVELS, *EVENTS)
        if fresh:
            tx.bulk_insert("stats_day", day_columns, day_rows)
            tx.bulk_insert("stats_month", month_columns, month_rows)
            return
        tx.bulk_add("stats_day", day_columns, 4, day_rows)
        tx.bulk_add("stats_month", month_columns, 4, month_rows)


def old_tails(
    tx: Tx, set_id: str, firsts: dict[str, str]
) -> list[tuple[str, str, str, str]]:
    """The stored segments ``(uscc, valid_from, valid_until, standing JSON)`` that reach
    past each enterprise's given day: what a new event's timeline replaces."""
    found: list[tuple[str, str, str, str]] = []
    usccs = list(firsts)
    for i in range(0, len(usccs), 500):
        chunk = usccs[i : i + 500]
        marks = ",".join("?" * len(chunk))
        low = min(firsts[u] for u in chunk)
        for uscc, start, until, doc in tx.all(
            "SELECT uscc, valid_from, valid_until, standing FROM standing_segments "
            f"WHERE set_id = ? AND uscc IN ({marks}) AND valid_until > ?",
            (set_id, *chunk, low),
        ):
            if until > firsts[uscc]:
                found.append((uscc, start, until, doc))
    return found


# -- queries --------------------------------------------------------------------------------


def check_month(value: str, field: str) -> str:
    try:
        if len(value) != 7 or value[4] != "-":
            raise ValueError
        day = date(int(value[:4]), int(value[5:]), 1)
    except (TypeError, ValueError):
        raise InvalidInput(field, "format", f"{field}: not a YYYY-MM month") from None
    if not 1900 <= day.year <= 2999:
        raise InvalidInput(field, "range", f"{field}: the year must lie in 1900-2999")
    return value


def check_filters(district: str | None, place_type: str | None) -> None:
    from ledger.aggregates.enterprise import PLACE_TYPES

    if district is not None and not (len(district) == 6 and district.isdigit()):
        raise InvalidInput("district", "format", "district: must be a 6-digit division code")
    if place_type is not None and place_type not in PLACE_TYPES:
        raise InvalidInput(
            "place_type", "unknown", f"place_type: must be one of {', '.join(PLACE_TYPES)}"
        )


def _where(district: str | None, place_type: str | None) -> tuple[str, list[str]]:
    where, params = "", []
    if district is not None:
        where += " AND district = ?"
        params.append(district)
    if place_type is not None:
        where += " AND place_type = ?"
        params.append(place_type)
    return where, params


def _levels(values: Sequence[int]) -> dict[str, Any]:
    return {
        "enterprises": values[ENTERPRISES],
        "by_status": {s: values[STATUS_AT[s]] for s in STATUSES},
        "by_class": {c: values[CLASS_AT[c]] for c in CLASSES},
        "reward_list": values[REWARD],
        "punishment_list": values[PUNISHMENT],
        "verification_due": values[VERIFICATION],
    }


def stats(
    tx: Tx, as_of: str, district: str | None = None, place_type: str | None = None
) -> dict[str, Any]:
    """Counts at the end of ``as_of`` (live set): enterprises in the ledger, by status
    and class, on each list, verifications due on or before the day and not done,
    rectifications overdue (deadline passed, not rectified: status ``overdue``)."""
    from ledger.projections.queries import check_day

    as_of = check_day(as_of)
    check_filters(district, place_type)
    where, params = _where(district, place_type)
    sums = ", ".join(f"COALESCE(SUM({c}), 0)" for c in LEVELS)
    columns = ", ".join(LEVELS)
    month = as_of[:7]
    row = tx.one(
        f"SELECT {sums} FROM ("
        f"SELECT {columns} FROM stats_month WHERE set_id = ({_LIVE}) AND month < ?{where} "
        "UNION ALL "
        f"SELECT {columns} FROM stats_day WHERE set_id = ({_LIVE}) "
        f"AND day >= ? AND day <= ?{where}) AS d",
        (month, *params, month + "-01", as_of, *params),
    )
    values = [int(v) for v in row]
    doc = {"as_of": as_of, **_levels(values)}
    doc["rectification_overdue"] = doc["by_status"]["overdue"]
    return doc


def month_span(first: str, last: str) -> list[str]:
    y, m = int(first[:4]), int(first[5:])
    out = []
    while f"{y:04d}-{m:02d}" <= last:
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def monthly(
    tx: Tx, first: str, last: str, district: str | None = None, place_type: str | None = None
) -> list[dict[str, Any]]:
    """Each month from ``first`` to ``last`` (YYYY-MM): the list and class counts at the
    end of its last day and the events that occurred in it."""
    first, last = check_month(first, "from"), check_month(last, "to")
    if first > last:
        raise InvalidInput("from", "order", "from: must not be later than to")
    months = month_span(first, last)
    if len(months) > MAX_MONTHS:
        raise InvalidInput(
            "to", "range", f"to: at most {MAX_MONTHS - 1} months later than from"
        )
    check_filters(district, place_type)
    where, params = _where(district, place_type)
    sums = ", ".join(f"SUM({c})" for c in (*LEVELS, *EVENTS))
    rows = tx.all(
        f"SELECT month, {sums} FROM stats_month WHERE set_id = ({_LIVE}) AND month <= ?{where} "
        "GROUP BY month ORDER BY month",
        (last, *params),
    )
    by_month = {r[0]: [int(v) for v in r[1:]] for r in rows}
    running = [0] * len(LEVELS)
    for month in sorted(m for m in by_month if m < first):
        for i, v in enumerate(by_month[month][: len(LEVELS)]):
            running[i] += v
    out = []
    for month in months:
        values = by_month.get(month)
        events = [0] * len(EVENTS)
        if values is not None:
            for i, v in enumerate(values[: len(LEVELS)]):
                running[i] += v
            events = values[len(LEVELS):]
        levels = _levels(running)
        out.append({
            "month": month,
            "enterprises": levels["enterprises"],
            "by_class": levels["by_class"],
            "reward_list": levels["reward_list"],
            "punishment_list": levels["punishment_list"],
            **dict(zip(EVENTS, events, strict=True)),
        })
    return out


def split(
    tx: Tx, as_of: str, by: str, district: str | None = None, place_type: str | None = None
) -> dict[str, dict[str, Any]]:
    """Counts as of a day per district or per place type (``by``), for the dashboard."""
    from ledger.projections.queries import check_day

    if by not in ("district", "place_type"):
        raise InvalidInput("by", "unknown", "by: district or place_type")
    as_of = check_day(as_of)
    check_filters(district, place_type)
    where, params = _where(district, place_type)
    sums = ", ".join(f"COALESCE(SUM({c}), 0)" for c in LEVELS)
    columns = ", ".join((by, *LEVELS))
    month = as_of[:7]
    rows = tx.all(
        f"SELECT {by}, {sums} FROM ("
        f"SELECT {columns} FROM stats_month WHERE set_id = ({_LIVE}) AND month < ?{where} "
        "UNION ALL "
        f"SELECT {columns} FROM stats_day WHERE set_id = ({_LIVE}) "
        f"AND day >= ? AND day <= ?{where}) AS d GROUP BY {by} ORDER BY {by}",
        (month, *params, month + "-01", as_of, *params),
    )
    out = {}
    for key, *values in rows:
        counts = [int(v) for v in values]
        if any(counts):
            out[key] = _levels(counts)
    return out


# -- sets older than the statistics ---------------------------------------------------------


def backfill(db: Any, log: Any) -> list[str]:
    """Compute the statistics of each set that existed before them (``stats_pending``,
    filled by migration 012) from its segments and the events it has applied, under
    the set's lock, so writes meanwhile are not counted twice. Returns the set ids."""
    import json

    from ledger.values import day_of

    with db.reading() as tx:
        pending = [r[0] for r in tx.all("SELECT set_id FROM stats_pending ORDER BY set_id")]
    done = []
    for set_id in pending:
        with db.transaction(write=True) as tx:
            position = tx.value(
                "SELECT position FROM projection_sets WHERE id = ?"
                + (" FOR UPDATE" if db.postgres else ""),
                (set_id,),
            )
            if tx.value("SELECT set_id FROM stats_pending WHERE set_id = ?", (set_id,)) is None:
                continue  # another process did it
            for table in ("stats_day", "stats_month"):
                tx.execute(f"DELETE FROM {table} WHERE set_id = ?", (set_id,))
            delta = StatsDelta()
            cells = {
                uscc: (district, place_type)
                for uscc, district, place_type in tx.all(
                    "SELECT uscc, district, place_type FROM enterprise_facts WHERE set_id = ?",
                    (set_id,),
                )
            }
            cursor = tx.execute(
                "SELECT uscc, valid_from, valid_until, standing FROM standing_segments "
                "WHERE set_id = ?", (set_id,),
            )
            while rows := cursor.fetchmany(10_000):
                for uscc, start, until, doc in rows:
                    delta.segment(*cells[uscc], start, until, json.loads(doc))
            after = 0
            while position is not None and after < position:
                events = log.read(tx, after, 5000)
                if not events:
                    break
                for e in events:
                    if e.position > position:
                        break
                    if e.uscc in cells:
                        delta.event(*cells[e.uscc], day_of(e.occurred_at), e.type)
                after = events[-1].position
            delta.write(tx, set_id, fresh=True)
            tx.execute("DELETE FROM stats_pending WHERE set_id = ?", (set_id,))
        done.append(set_id)
    return done
