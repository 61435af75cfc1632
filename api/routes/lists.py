"""The joint punishment (black) and reward (red) lists, filtered and paged."""

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response

from api.deps import AsOf, Limit, ReadFrom, ReadKey, StateDep, query_day
from api.docs import READ, problems
from api.fields import DistrictQuery
from api.schemas import PlaceQuery, PunishmentPage, RewardPage
from ledger import values
from ledger.projections import queries

router = APIRouter(prefix="/v1/lists", tags=["lists"])

PlaceFilter = PlaceQuery
DistrictFilter = DistrictQuery
CURSOR_PATTERN = f"^[{values.ALPHABET}]{{{values.USCC_LENGTH}}}$"  # the USCC alphabet
Cursor = Annotated[
    str | None,
    Query(pattern=CURSOR_PATTERN,
          description="next_cursor of the previous page (the page starts after it)",
          examples=["91440101MA5CJQ4N59"]),
]


def after(cursor: str | None) -> str | None:
    """The API's cursor (18 characters of the USCC alphabet: any of them is a valid
    place to start, so the schema's pattern is the whole check) as the query's own."""
    return queries.encode_cursor(cursor) if cursor is not None else None


def page(items: list[dict[str, object]], next_cursor: str | None) -> Response:
    following = queries.decode_cursor(next_cursor, 1)[0] if next_cursor is not None else None
    return JSONResponse({"items": items, "next_cursor": following})


@router.get(
    "/punishment",
    response_model=PunishmentPage,
    summary="The joint punishment list as of a date",
    responses=problems(*READ),
)
def punishment_list(
    key: ReadKey,
    state: StateDep,
    view: ReadFrom,
    as_of: AsOf = None,
    place_type: PlaceFilter = None,
    district: DistrictFilter = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Response:
    """Enterprises with an active serious record at the end of `as_of`, by USCC, with the
    record's kind, start, end of display, reason and decision number."""
    day = query_day(as_of, "as_of", state.today())
    items, next_cursor = view.reads.punishment_list(
        day, place_type, district, limit, after(cursor)
    )
    return page(items, next_cursor)


@router.get(
    "/reward",
    response_model=RewardPage,
    summary="The joint reward list as of a date",
    responses=problems(*READ),
)
def reward_list(
    key: ReadKey,
    state: StateDep,
    view: ReadFrom,
    as_of: AsOf = None,
    place_type: PlaceFilter = None,
    district: DistrictFilter = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Response:
    """Enterprises on the joint reward (incentive) list at the end of `as_of`, by USCC,
    with the day each qualified."""
    day = query_day(as_of, "as_of", state.today())
    items, next_cursor = view.reads.reward_list(
        day, place_type, district, limit, after(cursor)
    )
    return page(items, next_cursor)
