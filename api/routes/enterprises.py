"""Regulator writes (one per business fact) and an enterprise's standing.

A write runs the application's command and answers once the projections include
it. With an ``Idempotency-Key`` the first response is stored with the key and a
repeat gets it back; with ``If-Match`` the command runs only on that version.
"""


import json
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from api.deps import (
    AsOf,
    ReadFrom,
    ReadKey,
    StateDep,
    UsccPath,
    WriteKey,
    json_body,
    path_uscc,
    personal,
    query_day,
    query_moment,
    read_subjects,
)
from api.docs import READ, WRITE, body_doc, problems
from api.errors import ApiProblem
from api.fields import MOMENT_SCHEMA, MOMENT_TEXT
from api.schemas import (
    BanCreate,
    CommitmentCreate,
    InspectionCreate,
    LicenceCreate,
    RectificationCreate,
    RepairCreate,
    Standing,
    Written,
)
from ledger.errors import InvalidInput
from ledger.services.access import ApiKey, IdempotentReplay, StoredResponse, request_hash
from ledger.services.application import Written as WrittenResult
from ledger.storage.hooked import InTx

router = APIRouter(prefix="/v1/enterprises", tags=["enterprises"])

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key", min_length=1, max_length=255, pattern=r"^[\x21-\x7E]+$",
        description="a unique token per intended write (e.g. a UUID): a repeat with the same "
        "key and body returns the first response and stores nothing new",
    ),
]
IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match", max_length=64, pattern=r'^(W/)?"?[0-9]{1,18}"?$',
        description='`"<version>"` from an ETag: the write runs only on that version '
        "(412 otherwise)",
    ),
]

WRITE_HEADERS = {
    "ETag": {"description": 'the enterprise\'s version after the write, `"<version>"`',
             "schema": {"type": "string"}},
}
WRITTEN = {"description": "Stored, and included in the projections.", "headers": WRITE_HEADERS}


def parse_if_match(value: str | None) -> int | None:
    if value is None:
        return None
    tag = value.strip().removeprefix("W/").strip('"')
    if not (tag.isascii() and tag.isdigit()) or len(tag) > 18:
        raise InvalidInput("If-Match", "format", 'If-Match: must be an ETag like "3"')
    return int(tag)


def written_response(written: WrittenResult) -> StoredResponse:
    body = {
        "uscc": written.uscc,
        "version": written.version,
        "position": written.position,
        "events": [e.public() for e in written.events],
    }
    return StoredResponse(
        201,
        json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        {"ETag": f'"{written.version}"',
         "Location": f"/v1/enterprises/{written.uscc}/standing"},
    )


def respond(stored: StoredResponse, replayed: bool = False) -> Response:
    headers = dict(stored.headers)
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return Response(stored.body, status_code=stored.status, headers=headers,
                    media_type="application/json")


def write(
    state: StateDep,
    request: Request,
    key: ApiKey,
    idempotency_key: str | None,
    if_match: str | None,
    body: BaseModel,
    command: Callable[[int | None, InTx | None], WrittenResult],
) -> Response:
    """Run ``command(expected_version, in_tx)`` once per idempotency key: the key's
    record and response are stored by ``in_tx`` in the transaction of the events."""
    expected = parse_if_match(if_match)
    if idempotency_key is None:
        written = command(expected, None)
        state.metrics.events.inc(len(written.events))
        return respond(written_response(written))
    digest = request_hash(
        request.method, request.url.path, if_match or "", body=body.model_dump(mode="json")
    )
    stored = state.idempotency.find(key.name, idempotency_key, digest)
    if stored is not None:
        return respond(stored, replayed=True)
    hook = state.idempotency.in_tx(
        key.name, idempotency_key, digest,
        lambda events: written_response(WrittenResult(
            events[-1].uscc, events[-1].version, events[-1].position, events)),
    )
    try:
        written = command(expected, hook)
    except IdempotentReplay as done:  # a concurrent duplicate stored first
        return respond(done.response, replayed=True)
    except Exception as error:
        # a duplicate that stored first makes this one lose its race or break a rule:
        # answer with the first response; otherwise nothing was stored, the error stands
        try:
            stored = state.idempotency.find(key.name, idempotency_key, digest)
        except Exception:  # noqa: BLE001 - the store is away: the first error stands
            stored = None
        if stored is None:
            raise error from None
        return respond(stored, replayed=True)
    state.metrics.events.inc(len(written.events))
    return respond(written_response(written))


def fields(body: BaseModel) -> dict[str, Any]:
    return body.model_dump()


# -- writes --------------------------------------------------------------------------------


@router.post(
    "",
    status_code=201,
    response_model=Written,
    summary="License an enterprise (it enters the ledger)",
    responses={201: {**WRITTEN, "headers": {
        **WRITE_HEADERS,
        "Location": {"description": "the new enterprise's standing", "schema": {"type": "string"}},
    }}, **problems(*WRITE)},
    openapi_extra=body_doc(LicenceCreate),
)
def license_enterprise(
    request: Request,
    key: WriteKey,
    body: Annotated[LicenceCreate, json_body(LicenceCreate, "ledger:write")],
    state: StateDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Record a business licence. A USCC already licensed: 409 (`licensed_once`)."""
    return write(state, request, key, idempotency_key, None, body,
                 lambda _, in_tx: state.services.ledger.license(**fields(body), in_tx=in_tx))


def enterprise_write(
    path: str, model: type[BaseModel], summary: str, method: str, doc: str
) -> None:
    """Declare ``POST /v1/enterprises/{uscc}/<path>`` running ``ledger.<method>`` (a
    commitment: ``letters.commit``, the one command that owns committing through a
    letter), decided again when another write came first (without If-Match)."""

    def route(
        request: Request,
        key: WriteKey,
        body: Annotated[model, json_body(model, "ledger:write")],  # type: ignore[valid-type]
        state: StateDep,
        uscc: UsccPath,
        idempotency_key: IdempotencyKey = None,
        if_match: IfMatch = None,
    ) -> Response:
        code = path_uscc(uscc)
        if method == "commit":  # retries itself, checking the letter again
            commit = state.services.letters.commit
            return write(state, request, key, idempotency_key, if_match, body,
                         lambda expected, in_tx: commit(code, expected_version=expected,
                                                        in_tx=in_tx, **fields(body)))
        command = getattr(state.services.ledger, method)
        return write(state, request, key, idempotency_key, if_match, body,
                     lambda expected, in_tx: command(code, expected_version=expected, in_tx=in_tx,
                                                     **fields(body)))

    route.__name__ = f"{method}_enterprise"
    route.__doc__ = doc
    router.add_api_route(
        f"/{{uscc}}/{path}", route, methods=["POST"], status_code=201, response_model=Written,
        summary=summary, responses={201: WRITTEN, **problems(*WRITE)},
        openapi_extra=body_doc(model),
    )


enterprise_write(
    "commitments", CommitmentCreate, "Record a commitment", "commit",
    "The enterprise submitted its commitment letter (QR scan or counter). Refused once banned, "
    "and when a commitment through the same `letter_id` is already recorded (a letter is used "
    "once: 409 `letter_used`).",
)
enterprise_write(
    "inspections", InspectionCreate, "Record an inspection", "inspect",
    "An on-site verification: outcome `rectify` needs a `rectification_deadline` after the "
    "inspection date; outcome `ban` also bans the enterprise (both events are stored together).",
)
enterprise_write(
    "rectifications", RectificationCreate, "Record a verified rectification", "rectify",
    "Needs an open rectification order; a late rectification stays on the record.",
)
enterprise_write(
    "bans", BanCreate, "Ban the enterprise", "ban",
    "Banned is terminal: every later write on the enterprise is refused.",
)
enterprise_write(
    "repairs", RepairCreate, "Repair an adverse record (credit repair)", "repair",
    "Needs a repairable record past its minimum publicity period, the problem rectified and "
    "a commitment made after the record started.",
)


# -- standing ------------------------------------------------------------------------------

STANDING_HEADERS = {
    "ETag": {"description": 'the enterprise\'s version, `"<version>"`',
             "schema": {"type": "string"}},
}


async def known_at_scope(request: Request, key: ReadKey) -> None:
    """known_at needs audit:read: checked with the key, before any parameter."""
    if "known_at" in request.query_params and not key.has("audit:read"):
        raise ApiProblem(
            403, "forbidden", f"known_at needs the scope audit:read, which API key "
            f"{key.name!r} lacks", required_scope="audit:read",
        )


@router.get(
    "/{uscc}/standing",
    response_model=Standing,
    summary="An enterprise's credit standing as of a date",
    responses={200: {"description": "The standing.", "headers": STANDING_HEADERS},
               **problems(*READ, 404)},
)
def get_standing(
    request: Request,
    key: ReadKey,
    _scope: Annotated[None, Depends(known_at_scope)],
    state: StateDep,
    view: ReadFrom,
    uscc: UsccPath,
    as_of: AsOf = None,
    known_at: Annotated[
        str | None,
        Query(
            description="audit:read only: the standing computed from the events recorded at "
            f"or before this moment ({MOMENT_TEXT})",
            json_schema_extra=MOMENT_SCHEMA,
            examples=["2026-01-01T12:00:00+08:00"],
        ),
    ] = None,
) -> Response:
    """Status, credit class, hygiene grade, list membership and active records at the end
    of `as_of` (China Standard Time). Personal data only for keys with audit:read."""
    code = path_uscc(uscc)
    read_subjects(request, code)
    day = query_day(as_of, "as_of", state.today())
    moment = query_moment(known_at, "known_at")
    doc = view.standing.standing(code, day, known_at=moment, personal=personal(key))
    return JSONResponse(doc, headers={"ETag": f'"{doc["version"]}"'})
