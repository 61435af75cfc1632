"""Comparing two projection sets (say the live v1 and a v2 built beside it) as of a day.

Plain queries over the sets' read models (``standing_segments`` joined with
``enterprise_facts``, ``valid_from <= as_of < valid_until``): how many enterprises
each set puts on each list and in each credit class, in total, by district and by
place type, and every enterprise whose list membership or class differs, with both
answers. Both sets are folds of the same events, so they hold the same enterprises.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from typing import IO, Any

from ledger.errors import InvalidInput
from ledger.projections.queries import check_day
from ledger.storage.db import Database, Tx

CLASSES = ("A", "B", "C", "D")
ANSWERS = ("on_reward_list", "on_punishment_list", "credit_class")
CSV_HEADER = ("uscc", *(f"a_{k}" for k in ANSWERS), *(f"b_{k}" for k in ANSWERS))


def _class(tx: Tx, alias: str) -> str:
    """The credit class inside a segment's standing document."""
    if tx.postgres:
        return f"({alias}.standing::json ->> 'credit_class')"
    return f"json_extract({alias}.standing, '$.credit_class')"


def set_info(tx: Tx, name: str) -> dict[str, Any]:
    """A live or ready set by id, ``live`` for the live one, or the name of the policy
    of exactly one of them; InvalidInput otherwise."""
    if name == "live":
        row = tx.one(
            "SELECT id, policy, state, position, parameters FROM projection_sets "
            "WHERE state = 'live'"
        )
    else:
        row = tx.one(
            "SELECT id, policy, state, position, parameters FROM projection_sets "
            "WHERE id = ? AND state IN ('live', 'ready')",
            (name,),
        )
    if row is None:  # a policy's name, when one active set has it
        rows = tx.all(
            "SELECT id, policy, state, position, parameters FROM projection_sets "
            "WHERE policy = ? AND state IN ('live', 'ready')",
            (name,),
        )
        row = rows[0] if len(rows) == 1 else None
    if row is None:
        raise InvalidInput(
            "set", "unknown", f"set: no live or ready projection set {name!r} "
            "(see ledger projections status)"
        )
    return {
        "id": row[0], "policy": row[1], "state": row[2], "position": row[3],
        "parameters": json.loads(row[4]) if row[4] else None,
    }


def _empty() -> dict[str, Any]:
    return {
        "enterprises": 0, "reward_list": 0, "punishment_list": 0,
        "by_class": dict.fromkeys(CLASSES, 0),
    }


def counts(tx: Tx, set_id: str, as_of: str) -> list[tuple[str, str, str, int, int, int]]:
    """``(district, place_type, class, enterprises, on reward, on punishment)`` of one
    set as of the day, one row per group."""
    cls = _class(tx, "s")
    return [
        (r[0], r[1], r[2], int(r[3]), int(r[4] or 0), int(r[5] or 0))
        for r in tx.all(
            f"SELECT f.district, f.place_type, {cls}, COUNT(*), SUM(s.on_reward), "
            "SUM(s.on_punishment) FROM standing_segments s JOIN enterprise_facts f "
            "ON f.set_id = s.set_id AND f.uscc = s.uscc "
            "WHERE s.set_id = ? AND s.valid_from <= ? AND s.valid_until > ? "
            f"GROUP BY f.district, f.place_type, {cls}",
            (set_id, as_of, as_of),
        )
    ]


def differences(tx: Tx, a: str, b: str, as_of: str) -> list[dict[str, Any]]:
    """Every enterprise whose list membership or class differs between sets ``a`` and
    ``b`` as of the day, by USCC, with both answers."""
    ca, cb = _class(tx, "sa"), _class(tx, "sb")
    rows = tx.all(
        "SELECT sa.uscc, f.name, f.district, f.place_type, sa.on_reward, sa.on_punishment, "
        f"{ca}, sb.on_reward, sb.on_punishment, {cb} "
        "FROM standing_segments sa "
        "JOIN standing_segments sb ON sb.set_id = ? AND sb.uscc = sa.uscc "
        "AND sb.valid_from <= ? AND sb.valid_until > ? "
        "JOIN enterprise_facts f ON f.set_id = sa.set_id AND f.uscc = sa.uscc "
        "WHERE sa.set_id = ? AND sa.valid_from <= ? AND sa.valid_until > ? "
        f"AND (sa.on_reward <> sb.on_reward OR sa.on_punishment <> sb.on_punishment "
        f"OR {ca} <> {cb}) ORDER BY sa.uscc",
        (b, as_of, as_of, a, as_of, as_of),
    )
    return [
        {
            "uscc": r[0], "name": r[1], "district": r[2], "place_type": r[3],
            "a": {"on_reward_list": bool(r[4]), "on_punishment_list": bool(r[5]),
                  "credit_class": r[6]},
            "b": {"on_reward_list": bool(r[7]), "on_punishment_list": bool(r[8]),
                  "credit_class": r[9]},
        }
        for r in rows
    ]


def _add(into: dict[str, Any], cls: str, n: int, reward: int, punishment: int) -> None:
    into["enterprises"] += n
    into["reward_list"] += reward
    into["punishment_list"] += punishment
    into["by_class"][cls] = into["by_class"].get(cls, 0) + n


def compare(tx: Tx, a: str, b: str, as_of: str) -> dict[str, Any]:
    """The comparison of sets ``a`` and ``b`` (ids, or ``live``) as of ``as_of``:
    ``{as_of, a, b, totals: {a, b}, by_district: {code: {a, b, moved}},
    by_place_type: {type: {a, b, moved}}, moved: [...]}``."""
    as_of = check_day(as_of)
    set_a, set_b = set_info(tx, a), set_info(tx, b)
    totals = {"a": _empty(), "b": _empty()}
    groups: dict[str, dict[str, dict[str, Any]]] = {"by_district": {}, "by_place_type": {}}
    for side, info in (("a", set_a), ("b", set_b)):
        for district, place_type, cls, n, reward, punishment in counts(tx, info["id"], as_of):
            _add(totals[side], cls, n, reward, punishment)
            for key, value in (("by_district", district), ("by_place_type", place_type)):
                group = groups[key].setdefault(
                    value, {"a": _empty(), "b": _empty(), "moved": 0}
                )
                _add(group[side], cls, n, reward, punishment)
    moved = differences(tx, set_a["id"], set_b["id"], as_of)
    for m in moved:
        groups["by_district"][m["district"]]["moved"] += 1
        groups["by_place_type"][m["place_type"]]["moved"] += 1
    return {
        "as_of": as_of, "a": set_a, "b": set_b, "totals": totals,
        "by_district": dict(sorted(groups["by_district"].items())),
        "by_place_type": dict(sorted(groups["by_place_type"].items())),
        "moved": moved,
    }


def csv_rows(moved: Iterable[dict[str, Any]]) -> Iterable[tuple[Any, ...]]:
    """One row per enterprise that differs: its USCC, then each set's answers."""
    for m in moved:
        yield (
            m["uscc"], *(_cell(m["a"][k]) for k in ANSWERS), *(_cell(m["b"][k]) for k in ANSWERS)
        )


def _cell(value: Any) -> Any:
    return str(value).lower() if isinstance(value, bool) else value


def write_csv(out: IO[str], moved: Iterable[dict[str, Any]]) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    writer.writerows(csv_rows(moved))


def compare_sets(db: Database, a: str, b: str, as_of: str) -> dict[str, Any]:
    """`compare` in a transaction of its own, one snapshot (for the CLI and the pages)."""
    with db.transaction() as tx:
        return compare(tx, a, b, as_of)


def active_sets(db: Database) -> list[dict[str, Any]]:
    """The live set and the ready sets beside it: what can be compared."""
    with db.reading() as tx:
        rows = tx.all(
            "SELECT id, policy, state FROM projection_sets WHERE state IN ('live', 'ready') "
            "ORDER BY CASE WHEN state = 'live' THEN 0 ELSE 1 END, created_at"
        )
    return [{"id": r[0], "policy": r[1], "state": r[2]} for r in rows]
