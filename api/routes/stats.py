"""Statistics: counts as of a date and a month-by-month series, filtered by district
and place type (the read model of ledger/projections/stats.py; the dashboard draws the
same numbers)."""

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from api.deps import AsOf, ReadFrom, ReadKey, StateDep, query_day
from api.docs import READ, problems
from api.fields import DistrictQuery
from api.schemas import PlaceQuery
from ledger.projections import stats
from ledger.values import YEAR_PATTERN

router = APIRouter(prefix="/v1/stats", tags=["stats"])

MONTH_PATTERN = f"^{YEAR_PATTERN}-(0[1-9]|1[0-2])$"
PlaceFilter = PlaceQuery
DistrictFilter = DistrictQuery


def month_query(description: str, alias: str | None = None) -> object:
    return Query(
        alias=alias, pattern=MONTH_PATTERN, description=description, examples=["2025-06"]
    )


class ByStatus(BaseModel):
    licensed: int
    committed: int
    compliant: int
    rectifying: int
    overdue: int
    banned: int


class ByClass(BaseModel):
    A: int
    B: int
    C: int
    D: int


class Stats(BaseModel):
    as_of: str = Field(examples=["2026-01-01"])
    enterprises: int = Field(description="enterprises licensed on or before the date")
    by_status: ByStatus
    by_class: ByClass
    reward_list: int = Field(description="as many as the reward list serves for the date")
    punishment_list: int = Field(description="as many as the punishment list serves")
    verification_due: int = Field(
        description="first verifications due on or before the date, not yet done"
    )
    rectification_overdue: int = Field(
        description="rectifications whose deadline has passed, not rectified (status overdue)"
    )


class Month(BaseModel):
    month: str = Field(examples=["2025-06"])
    enterprises: int = Field(description="at the end of the month's last day")
    by_class: ByClass
    reward_list: int
    punishment_list: int
    licences: int = Field(description="events that occurred in the month (CST)")
    commitments: int
    inspections: int
    rectifications: int
    bans: int
    repairs: int


class Monthly(BaseModel):
    months: list[Month]


@router.get(
    "",
    response_model=Stats,
    summary="Counts as of a date",
    responses=problems(*READ),
)
def get_stats(
    key: ReadKey,
    state: StateDep,
    view: ReadFrom,
    as_of: AsOf = None,
    district: DistrictFilter = None,
    place_type: PlaceFilter = None,
) -> Response:
    """How many enterprises, by status and credit class, on each list, with a first
    verification due and with a rectification overdue, at the end of `as_of`. The list
    counts equal the number of items the list endpoints serve for the same filters."""
    day = query_day(as_of, "as_of", state.today())
    return JSONResponse(view.reads.stats(day, district, place_type))


@router.get(
    "/monthly",
    response_model=Monthly,
    summary="Month by month: lists and classes at each month's end, events in each month",
    responses=problems(*READ),
)
def get_monthly(
    key: ReadKey,
    state: StateDep,
    view: ReadFrom,
    first: Annotated[
        str | None, month_query("first month, YYYY-MM (default: 11 months before to)", "from")
    ] = None,
    to: Annotated[str | None, month_query("last month, YYYY-MM (default: this month)")] = None,
    district: DistrictFilter = None,
    place_type: PlaceFilter = None,
) -> Response:
    """Each month from `from` to `to` (at most 240): the list and class counts as of the
    month's last day and the events that occurred in it (China Standard Time)."""
    last, start = default_range(state.today(), first, to)
    return JSONResponse({"months": view.reads.monthly(start, last, district, place_type)})


def default_range(today: str, first: str | None, last: str | None) -> tuple[str, str]:
    """``(to, from)``: ``to`` defaults to this month, ``from`` to 11 months before."""
    last = last or today[:7]
    if first is None:
        stats.check_month(last, "to")
        y, m = int(last[:4]), int(last[5:]) - 11
        if m < 1:
            y, m = y - 1, m + 12
        first = f"{y:04d}-{m:02d}"
    return last, first

