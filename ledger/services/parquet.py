"""``ledger export parquet``: the log and the live read models as Parquet files for
analysts' tools (DuckDB, pandas, Spark), written in batches (constant memory).

- ``events.parquet``: one row per event in log order: ``position, uscc, type, version,
  occurred_at, recorded_at`` (timestamps, UTC, microseconds) and ``data`` (JSON text,
  as the feed gives it to a ``credit:read`` key: `redact` leaves out personal fields).
- ``standings.parquet``: one row per enterprise licensed by ``as_of``: the standing
  fields of ``GET /v1/enterprises/{uscc}/standing`` (dates as dates, ``records`` a list
  of structs), no personal data.
- ``segments.parquet``: the live set's timelines, one row per range
  ``valid_from <= day < valid_until`` with the standing's fields and ``standing`` (JSON).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from ledger.projections.queries import check_day, live_set
from ledger.services.redaction import redact
from ledger.storage.db import Database
from ledger.storage.eventlog import EventLog

BATCH = 5000


def _schemas() -> dict[str, Any]:
    import pyarrow as pa

    record = pa.struct([
        ("id", pa.string()), ("kind", pa.string()), ("severity", pa.string()),
        ("since", pa.date32()), ("until", pa.date32()), ("repairable", pa.bool_()),
        ("repairable_from", pa.date32()),
    ])
    standing = [
        ("status", pa.string()), ("credit_class", pa.string()), ("hygiene_grade", pa.string()),
        ("on_reward_list", pa.bool_()), ("on_punishment_list", pa.bool_()),
        ("records", pa.list_(record)), ("verification_due", pa.date32()),
        ("rectification_deadline", pa.date32()), ("version", pa.int64()),
        ("position", pa.int64()),
    ]
    place = [
        ("uscc", pa.string()), ("name", pa.string()), ("place_type", pa.string()),
        ("district", pa.string()),
    ]
    moment = pa.timestamp("us", tz="UTC")
    return {
        "events": pa.schema([
            ("position", pa.int64()), ("uscc", pa.string()), ("type", pa.string()),
            ("version", pa.int64()), ("occurred_at", moment), ("recorded_at", moment),
            ("data", pa.string()),
        ]),
        "standings": pa.schema([*place, *standing, ("as_of", pa.date32())]),
        "segments": pa.schema([
            *place, ("valid_from", pa.date32()), ("valid_until", pa.date32()), *standing,
            ("reward_since", pa.date32()), ("standing", pa.string()),
        ]),
    }


@dataclass(frozen=True)
class ParquetSummary:
    events: int
    standings: int
    segments: int
    as_of: str


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _records(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {**r, "since": _day(r["since"]), "until": _day(r["until"]),
         "repairable_from": _day(r.get("repairable_from"))}
        for r in records
    ]


def _standing_fields(st: dict[str, Any]) -> dict[str, Any]:
    return {
        "status": st["status"], "credit_class": st["credit_class"],
        "hygiene_grade": st["hygiene_grade"], "on_reward_list": st["on_reward_list"],
        "on_punishment_list": st["on_punishment_list"], "records": _records(st["records"]),
        "verification_due": _day(st["verification_due"]),
        "rectification_deadline": _day(st["rectification_deadline"]),
        "version": st["version"], "position": st["position"],
    }


def _events(db: Database, log: EventLog, upto: int) -> Iterator[list[dict[str, Any]]]:
    after = 0
    while after < upto:
        with db.reading() as tx:
            events = log.read(tx, after, min(BATCH, upto - after))
        if not events:
            return
        after = events[-1].position
        yield [
            {
                "position": e.position, "uscc": e.uscc, "type": e.type, "version": e.version,
                "occurred_at": datetime.fromisoformat(e.occurred_at),
                "recorded_at": datetime.fromisoformat(e.recorded_at),
                # as the feed gives it to a partner: personal fields left out (one place)
                "data": json.dumps(
                    redact(e.public(), personal=False)["data"],
                    ensure_ascii=False, separators=(",", ":"),
                ),
            }
            for e in events
        ]


def _standings(db: Database, set_id: str, as_of: str) -> Iterator[list[dict[str, Any]]]:
    after = ""
    while True:
        with db.reading() as tx:
            rows = tx.all(
                # walks the segments' primary key in USCC order (driving from the facts,
                # SQLite would search the segments by uscc > ? for each enterprise)
                "SELECT s.uscc, f.name, f.place_type, f.district, s.standing "
                "FROM standing_segments s JOIN enterprise_facts f ON f.set_id = s.set_id "
                "AND f.uscc = s.uscc WHERE s.set_id = ? AND s.uscc > ? "
                "AND s.valid_from <= ? AND s.valid_until > ? ORDER BY s.uscc LIMIT ?",
                (set_id, after, as_of, as_of, BATCH),
            )
        if not rows:
            return
        after = rows[-1][0]
        yield [
            {"uscc": u, "name": n, "place_type": p, "district": d,
             **_standing_fields(json.loads(doc)), "as_of": date.fromisoformat(as_of)}
            for u, n, p, d, doc in rows
        ]


def _segments(db: Database, set_id: str) -> Iterator[list[dict[str, Any]]]:
    after = ("", "")
    while True:
        with db.reading() as tx:
            rows = tx.all(
                "SELECT s.uscc, f.name, f.place_type, f.district, s.valid_from, s.valid_until, "
                "s.standing FROM standing_segments s JOIN enterprise_facts f "
                "ON f.set_id = s.set_id AND f.uscc = s.uscc WHERE s.set_id = ? "
                "AND (s.uscc > ? OR (s.uscc = ? AND s.valid_from > ?)) "
                "ORDER BY s.uscc, s.valid_from LIMIT ?",
                (set_id, after[0], after[0], after[1], BATCH),
            )
        if not rows:
            return
        after = (rows[-1][0], rows[-1][4])
        batch = []
        for u, n, p, d, valid_from, valid_until, doc in rows:
            st = json.loads(doc)
            batch.append({
                "uscc": u, "name": n, "place_type": p, "district": d,
                "valid_from": date.fromisoformat(valid_from),
                "valid_until": date.fromisoformat(valid_until),
                **_standing_fields(st), "reward_since": _day(st.get("reward_since")),
                "standing": doc,
            })
        yield batch


def export_parquet(db: Database, log: EventLog, out: Path, as_of: str) -> ParquetSummary:
    """Write the three files into ``out`` (created if missing); each is written to a
    temporary name and renamed once complete."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    as_of = check_day(as_of)
    out.mkdir(parents=True, exist_ok=True)
    schemas = _schemas()
    with db.reading() as tx:
        upto = log.head(tx)
        set_id = live_set(tx)
    sources = {
        "events": _events(db, log, upto),
        "standings": _standings(db, set_id, as_of) if set_id else iter(()),
        "segments": _segments(db, set_id) if set_id else iter(()),
    }
    written: dict[str, int] = {}
    for name, batches in sources.items():
        schema = schemas[name]
        final, partial = out / f"{name}.parquet", out / f".{name}.parquet.partial"
        count = 0
        with pq.ParquetWriter(partial, schema, compression="zstd") as writer:
            for rows in batches:
                writer.write_table(pa.Table.from_pylist(rows, schema=schema))
                count += len(rows)
        partial.replace(final)
        written[name] = count
    return ParquetSummary(written["events"], written["standings"], written["segments"], as_of)
