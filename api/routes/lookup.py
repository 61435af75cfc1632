"""Bulk lookup: up to 1000 standings in one request."""

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from api.deps import (
    AsOf,
    ReadFrom,
    ReadKey,
    StateDep,
    json_body,
    personal,
    query_day,
    read_subjects,
)
from api.docs import READ, body_doc, problems
from api.schemas import LookupRequest, LookupResult
from ledger import values
from ledger.errors import InvalidInput

router = APIRouter(prefix="/v1", tags=["standings"])


@router.post(
    "/standings:lookup",
    response_model=LookupResult,
    summary="Standings of up to 1000 enterprises",
    responses=problems(*READ, 413, 415),
    openapi_extra=body_doc(LookupRequest),
)
def lookup_standings(
    request: Request,
    key: ReadKey,
    body: Annotated[LookupRequest, json_body(LookupRequest, "credit:read")],
    state: StateDep,
    view: ReadFrom,
    as_of: AsOf = None,
) -> Response:
    """One standing per enterprise found, in the order sent (duplicates once).
    `not_found` lists valid USCCs the ledger does not hold (or that were not licensed
    yet on `as_of`), `invalid` the strings that are not USCCs, both as sent."""
    day = query_day(as_of, "as_of", state.today())
    codes: dict[str, str] = {}  # as sent -> compact
    invalid: list[str] = []
    for sent in dict.fromkeys(body.usccs):
        try:
            codes[sent] = values.uscc(sent)
        except InvalidInput:
            invalid.append(sent)
    wanted = list(dict.fromkeys(codes.values()))
    read_subjects(request, *wanted)
    found = view.standing.many(wanted, day, personal(key))
    return JSONResponse({
        "results": [found[c] for c in wanted if c in found],
        "not_found": [sent for sent, c in codes.items() if c not in found],
        "invalid": invalid,
    })
