"""Reads: plain query functions over the LIVE projection set's read models.

Every function takes a `Tx` from ``db.transaction()`` and answers from indexed range
lookups on ``standing_segments`` (``valid_from <= as_of < valid_until``) and
``enterprise_facts``; nothing here replays events. Dates are ``YYYY-MM-DD`` (CST).

- ``standing`` returns None for an unknown USCC and also for an ``as_of`` before the
  enterprise's licence day (it was not in the ledger yet).
- A standing's ``version`` and ``position`` are those of the enterprise's last event
  that occurred on or before ``as_of`` (the events the standing reflects), so for
  today they are the enterprise's current version and the position of its last event.
- Lists are ordered by USCC and paged by an opaque cursor (the last USCC of a page,
  urlsafe base64); the supervision queue is ordered by due date, oldest first.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import date
from typing import Any

from ledger import values
from ledger.errors import InvalidInput
from ledger.storage.db import Tx

MAX_LIMIT = 1000
STANDING_FIELDS = (
    "status", "credit_class", "hygiene_grade", "on_reward_list", "on_punishment_list",
    "records", "verification_due", "rectification_deadline",
)
_LIVE = "SELECT id FROM projection_sets WHERE state = 'live'"


# -- helpers ------------------------------------------------------------------------------


def live_set(tx: Tx) -> str | None:
    """The id of the live projection set (None before the first start)."""
    return tx.value(_LIVE)


def check_day(value: str, field: str = "as_of") -> str:
    """A ``YYYY-MM-DD`` day in the years the ledger computes with (`ledger.values`)."""
    return values.day(value, field).isoformat()


def check_limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput("limit", "range", f"limit: must be an integer from 1 to {MAX_LIMIT}")
    return limit


def encode_cursor(*parts: str) -> str:
    raw = "|".join(parts).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, parts: int) -> list[str]:
    """The parts of an opaque cursor; InvalidInput when it was not made by us."""
    bad = InvalidInput("cursor", "format", "cursor: malformed (use next_cursor as returned)")
    if not isinstance(cursor, str) or not cursor or len(cursor) > 200:
        raise bad
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise bad from None
    found = raw.split("|")
    if len(found) != parts:
        raise bad
    uscc = found[-1]
    if not values.is_compact_uscc(uscc):
        raise bad
    if parts == 2:
        try:
            date.fromisoformat(found[0])
        except ValueError:
            raise bad from None
    return found


STANDING_DOCUMENT = (
    "uscc", "name", "place_type", "district", *STANDING_FIELDS, "version", "position", "as_of",
)


def document(
    identity: dict[str, Any], standing: dict[str, Any], as_of: str
) -> dict[str, Any]:
    """THE standing document (contract.md): the same shape whether it comes from the
    read models (``standing``) or from a fold of the events (time travel). ``identity``
    holds ``uscc, name, place_type, district, legal_representative``; ``standing`` the
    policy's answer with the ``version`` and ``position`` of the last event it
    reflects. Personal fields are removed by ``ledger.services.redaction.redact``."""
    doc: dict[str, Any] = {
        "uscc": identity["uscc"], "name": identity["name"],
        "place_type": identity["place_type"], "district": identity["district"],
    }
    for key in STANDING_FIELDS:
        doc[key] = standing[key]
    doc["version"] = standing["version"]
    doc["position"] = standing["position"]
    doc["as_of"] = as_of
    doc["legal_representative"] = identity.get("legal_representative")
    return doc


def _public_standing(row: Any, as_of: str) -> dict[str, Any]:
    uscc, name, place_type, district, facts, segment = row
    identity = {
        "uscc": uscc, "name": name, "place_type": place_type, "district": district,
        "legal_representative": json.loads(facts)["legal_representative"],
    }
    return document(identity, json.loads(segment), as_of)


_STANDING_SQL = (
    "SELECT f.uscc, f.name, f.place_type, f.district, f.facts, s.standing "
    "FROM enterprise_facts f JOIN standing_segments s "
    "ON s.set_id = f.set_id AND s.uscc = f.uscc AND s.valid_from <= ? AND s.valid_until > ? "
    "WHERE f.set_id = ({live}) AND f.uscc {match}"
)


# -- standings ----------------------------------------------------------------------------


def standing(tx: Tx, uscc: str, as_of: str) -> dict[str, Any] | None:
    """One enterprise's credit standing at the end of ``as_of``; None when the USCC is
    unknown or ``as_of`` is before its licence."""
    as_of = check_day(as_of)
    row = tx.one(_STANDING_SQL.format(live=_LIVE, match="= ?"), (as_of, as_of, uscc))
    return None if row is None else _public_standing(row, as_of)


def standings(tx: Tx, usccs: list[str], as_of: str) -> dict[str, dict[str, Any]]:
    """Standings of many enterprises (up to a few thousand) in a few queries, by USCC;
    those unknown (or not yet licensed on ``as_of``) are absent."""
    as_of = check_day(as_of)
    wanted = list(dict.fromkeys(usccs))
    found: dict[str, dict[str, Any]] = {}
    for i in range(0, len(wanted), 500):
        chunk = wanted[i : i + 500]
        sql = _STANDING_SQL.format(live=_LIVE, match=f"IN ({','.join('?' * len(chunk))})")
        for row in tx.all(sql, (as_of, as_of, *chunk)):
            found[row[0]] = _public_standing(row, as_of)
    return found


# -- the joint lists ----------------------------------------------------------------------


def _list_rows(
    tx: Tx, flag: str, as_of: str, place_type: str | None, district: str | None,
    limit: int, cursor: str | None,
) -> tuple[list[Any], str | None]:
    as_of = check_day(as_of)
    limit = check_limit(limit)
    after = decode_cursor(cursor, 1)[0] if cursor is not None else ""
    where, params = "", [as_of, as_of, after]
    if place_type is not None:
        where += " AND f.place_type = ?"
        params.append(place_type)
    if district is not None:
        where += " AND f.district = ?"
        params.append(district)
    # unfiltered: walks the flag's partial index of segments in USCC order; filtered:
    # walks the enterprises of that district/type in USCC order (migration 005), so
    # a page costs about the same at any size of the ledger
    by = "f" if where else "s"
    rows = tx.all(
        "SELECT s.uscc, f.name, f.place_type, f.district, s.standing "
        "FROM standing_segments s JOIN enterprise_facts f "
        "ON f.set_id = s.set_id AND f.uscc = s.uscc "
        f"WHERE s.set_id = ({_LIVE}) AND s.{flag} = 1 "
        f"AND s.valid_from <= ? AND s.valid_until > ? AND s.uscc > ?{where} "
        f"ORDER BY {by}.uscc LIMIT ?",
        (*params, limit + 1),
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, encode_cursor(rows[-1][0]) if more else None


def punishment_list(
    tx: Tx, as_of: str, place_type: str | None = None, district: str | None = None,
    limit: int = 100, cursor: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """The joint punishment (black) list at the end of ``as_of``: one page and the
    cursor of the next (None at the end)."""
    rows, next_cursor = _list_rows(
        tx, "on_punishment", as_of, place_type, district, limit, cursor
    )
    items = []
    for uscc, name, ptype, dist, doc in rows:
        p = json.loads(doc)["punishment"]
        items.append({
            "uscc": uscc, "name": name, "place_type": ptype, "district": dist,
            "kind": p["kind"], "since": p["since"], "until": p["until"],
            "reason": p["reason"], "decision_no": p["decision_no"],
        })
    return items, next_cursor


def reward_list(
    tx: Tx, as_of: str, place_type: str | None = None, district: str | None = None,
    limit: int = 100, cursor: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """The joint reward (incentive, red) list at the end of ``as_of``; ``since`` is the
    day the enterprise qualified."""
    rows, next_cursor = _list_rows(tx, "on_reward", as_of, place_type, district, limit, cursor)
    items = [
        {
            "uscc": uscc, "name": name, "place_type": ptype, "district": dist,
            "since": json.loads(doc)["reward_since"],
        }
        for uscc, name, ptype, dist, doc in rows
    ]
    return items, next_cursor


# -- the supervision queue ----------------------------------------------------------------


def supervision_queue(
    tx: Tx, today: str, horizon_days: int, limit: int = 100, cursor: str | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    """Enterprises whose first verification or rectification deadline is past or falls
    within ``horizon_days`` of ``today``, oldest due date first (then by USCC)."""
    today = check_day(today, "today")
    limit = check_limit(limit)
    if isinstance(horizon_days, bool) or not isinstance(horizon_days, int) or horizon_days < 0:
        raise InvalidInput("horizon_days", "range", "horizon_days: must be 0 or more")
    start = date.fromisoformat(today)
    until = date.fromordinal(min(start.toordinal() + horizon_days, date.max.toordinal()))
    after_due, after_uscc = decode_cursor(cursor, 2) if cursor is not None else ("", "")
    rows = tx.all(
        "SELECT uscc, name, place_type, district, due_kind, due_on FROM enterprise_facts "
        f"WHERE set_id = ({_LIVE}) AND due_on IS NOT NULL AND due_on <= ? "
        "AND (due_on > ? OR (due_on = ? AND uscc > ?)) "
        "ORDER BY due_on, uscc LIMIT ?",
        (until.isoformat(), after_due, after_due, after_uscc, limit + 1),
    )
    more = len(rows) > limit
    items = []
    for uscc, name, ptype, dist, kind, due_on in rows[:limit]:
        overdue = (start - date.fromisoformat(due_on)).days
        if kind == "rectification":
            status = "rectifying" if today <= due_on else "overdue"
        else:
            status = "committed"
        items.append({
            "uscc": uscc, "name": name, "place_type": ptype, "district": dist,
            "due_kind": kind, "due_on": due_on, "status": status,
            "days_overdue": max(overdue, 0),
        })
    last = items[-1] if items else None
    return items, encode_cursor(last["due_on"], last["uscc"]) if more and last else None


# -- search -------------------------------------------------------------------------------


def search(tx: Tx, q: str, limit: int = 20) -> list[dict[str, Any]]:
    """Enterprises by exact USCC or by a case-insensitive substring of the name,
    ordered by name."""
    limit = check_limit(limit)
    q = (q or "").strip()
    if not q:
        return []
    columns = "SELECT uscc, name, place_type, district FROM enterprise_facts "
    exact = tx.all(columns + f"WHERE set_id = ({_LIVE}) AND uscc = ?", (q.upper(),))
    pattern = "%" + q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    rows = exact + [
        row
        for row in tx.all(
            columns + f"WHERE set_id = ({_LIVE}) AND lower(name) LIKE ? ESCAPE '\\' "
            "ORDER BY name, uscc LIMIT ?",
            (pattern, limit),
        )
        if not exact or row[0] != exact[0][0]
    ][: limit - len(exact)]
    return [
        {"uscc": u, "name": n, "place_type": p, "district": d} for u, n, p, d in rows
    ]


def in_ledger(tx: Tx, uscc: str) -> bool:
    """Whether the live set holds the enterprise at all (at any date)."""
    return tx.value(
        f"SELECT 1 FROM enterprise_facts WHERE set_id = ({_LIVE}) AND uscc = ?", (uscc,)
    ) is not None
