"""The change feed: every event in log order, resumable from any position."""

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response

from api.deps import Limit, ReadFrom, ReadKey, personal
from api.docs import READ, problems
from api.schemas import Feed

router = APIRouter(prefix="/v1", tags=["feed"])

MAX_POSITION = 2**63 - 1


@router.get(
    "/feed",
    response_model=Feed,
    summary="Events after a log position, in log order",
    responses=problems(*READ),
)
def read_feed(
    key: ReadKey,
    view: ReadFrom,
    after: Annotated[
        int,
        Query(ge=0, le=MAX_POSITION,
              description="the last position you have (0 for the beginning)"),
    ] = 0,
    limit: Limit = 100,
) -> Response:
    """Keep a copy in sync: start at `after=0`, follow `next_after` while it is not null,
    then poll again with `after` = the position of the last event you stored. Positions
    are gap-free and never reused. Personal data only for keys with audit:read."""
    events, next_after = view.reads.feed(after, limit, personal(key))
    return JSONResponse({"events": events, "next_after": next_after})
