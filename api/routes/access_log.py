"""The access log of partner reads, for auditors."""

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from api.deps import AuditKey, Limit, StateDep, query_moment, query_uscc
from api.docs import READ, problems
from api.fields import MOMENT_SCHEMA, MOMENT_TEXT, USCC_SCHEMA
from api.schemas import AccessLogPage
from ledger.services.access import stamp

router = APIRouter(prefix="/v1/audit", tags=["audit"])

Moment = Annotated[
    str | None,
    Query(description=MOMENT_TEXT, json_schema_extra=MOMENT_SCHEMA,
          examples=["2026-01-01T00:00:00+08:00"]),
]


@router.get(
    "/access-log",
    response_model=AccessLogPage,
    summary="Who read what, and when",
    responses=problems(*READ),
)
def access_log(
    request: Request,
    key: AuditKey,
    state: StateDep,
    key_name: Annotated[
        str | None, Query(alias="key", max_length=64, description="only this API key's reads")
    ] = None,
    uscc: Annotated[
        str | None,
        Query(description="only reads of this enterprise (its USCC)",
              json_schema_extra=USCC_SCHEMA),
    ] = None,
    since: Moment = None,
    until: Moment = None,
    limit: Limit = 100,
    cursor: Annotated[
        str | None,
        Query(pattern=r"^[0-9]{1,18}$", description="next_cursor of the previous page"),
    ] = None,
) -> Response:
    """Every partner read (standings, lookups, lists, feed, audit), oldest first: the
    key's name, the route and target, the status, the USCCs concerned and the time
    (UTC). Reads are written in batches within a fraction of a second."""
    code = query_uscc(uscc) if uscc is not None else None
    start, end = query_moment(since, "since"), query_moment(until, "until")
    items, next_id = state.access_log.query(
        key_name=key_name, uscc=code, since=stamp(start) if start else None,
        until=stamp(end) if end else None, after_id=int(cursor) if cursor else 0, limit=limit,
    )
    return JSONResponse(
        {"items": items, "next_cursor": str(next_id) if next_id is not None else None}
    )
