"""For auditors (scope audit:read): full histories with leaf hashes, signed checkpoints,
the public key, and inclusion and consistency proofs of the log's hash tree
(RFC 9162 §2.1). Thin over ``services.audit``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field, JsonValue

from api.deps import AuditKey, ReadFrom, UsccPath, path_uscc, query_moment, read_subjects
from api.docs import PROBLEM_REF, READ, problems
from api.errors import PROBLEM, ApiProblem
from api.fields import MOMENT_SCHEMA, MOMENT_TEXT
from api.schemas import Event
from ledger.errors import InvalidInput

router = APIRouter(prefix="/v1", tags=["audit"])

HEX: dict[str, JsonValue] = {"pattern": "^[0-9a-f]{64}$"}
MAX_POSITION = 2**63 - 1  # what the stores' 64-bit integers hold
BEYOND_LOG: dict[int | str, dict[str, Any]] = {
    404: {
        "description": "The position or tree size is beyond the log's hash tree now "
        "(`tree_size` in the problem says how far it reaches; ask again later).",
        "content": {PROBLEM: {"schema": PROBLEM_REF}},
    }
}


class AuditEvent(Event):
    enterprise_id: str = Field(
        description="the aggregate's id: UUIDv5 of the USCC (part of the leaf bytes)"
    )
    leaf_hash: str = Field(
        description="SHA-256(0x00 || leaf bytes) as the hash tree holds it, lower-case hex",
        json_schema_extra=HEX,
    )
    personal: dict[str, dict[str, JsonValue]] = Field(
        default_factory=dict,
        description="each personal field of `data` (stored there as the commitment "
        '`"sha256:" + hex(SHA-256(salt || UTF-8 value))`): its value and salt (hex), '
        'or `{"erased": true}` after an erasure',
        examples=[{"legal_representative": {
            "value": "Wang Li", "salt": "000102030405060708090a0b0c0d0e0f"}}],
    )


class History(BaseModel):
    uscc: str
    events: list[AuditEvent] = Field(description="in version order")


class CheckpointOut(BaseModel):
    tree_size: int = Field(description="events covered: log positions 1..tree_size")
    root_hash: str = Field(description="the tree's root, lower-case hex", json_schema_extra=HEX)
    timestamp: str = Field(description="when it was signed (UTC, ISO 8601)",
                           json_schema_extra={"format": "date-time"})
    key_id: str = Field(description="first 16 hex digits of SHA-256 of the raw public key")
    signature: str = Field(
        description="base64 Ed25519 signature over "
        "`ledger-checkpoint/v1\\n<tree_size>\\n<root_hash>\\n<timestamp>\\n`"
    )


class PublicKey(BaseModel):
    key_id: str
    algorithm: str = Field(examples=["ed25519"])
    public_key: str = Field(description="the raw 32-byte Ed25519 public key, base64")


class InclusionProof(BaseModel):
    position: int = Field(description="the event's log position")
    leaf_index: int = Field(description="position - 1")
    tree_size: int
    leaf_hash: str = Field(json_schema_extra=HEX)
    audit_path: list[str] = Field(description="RFC 9162 §2.1.3 audit path, leaf side first")


class ConsistencyProof(BaseModel):
    first: int
    second: int
    proof: list[str] = Field(description="RFC 9162 §2.1.4 consistency proof")


def in_query(e: InvalidInput) -> InvalidInput:
    e.location = "query"  # type: ignore[attr-defined]
    return e


@router.get(
    "/enterprises/{uscc}/events",
    response_model=History,
    summary="An enterprise's full history, as the ledger knew it at a moment",
    responses=problems(*READ, 404),
)
def history(
    request: Request,
    key: AuditKey,
    view: ReadFrom,
    uscc: UsccPath,
    known_at: Annotated[
        str | None,
        Query(description="only events recorded at or before this moment (default: all; "
              f"{MOMENT_TEXT})", json_schema_extra=MOMENT_SCHEMA,
              examples=["2026-01-01T12:00:00+08:00"]),
    ] = None,
) -> dict[str, object]:
    """Every event of the enterprise in version order with its log position and leaf
    hash; prove any of them with `/v1/audit/proofs/inclusion?position=`."""
    code = path_uscc(uscc)
    read_subjects(request, code)
    moment = query_moment(known_at, "known_at")
    return {"uscc": code, "events": view.audit.events(code, moment)}


@router.get(
    "/audit/checkpoint",
    response_model=CheckpointOut,
    summary="The latest signed checkpoint of the log's hash tree",
    responses=problems(*READ, 404),
)
def checkpoint(key: AuditKey, view: ReadFrom) -> dict[str, object]:
    latest = view.audit.latest_checkpoint()
    if latest is None:
        raise ApiProblem(404, "no-checkpoint", "no checkpoint has been signed yet")
    return latest.to_json()


@router.get(
    "/audit/public-key",
    response_model=PublicKey,
    summary="The Ed25519 key that signs checkpoints",
    responses=problems(*READ),
)
def public_key(key: AuditKey, view: ReadFrom) -> dict[str, str]:
    return view.audit.public_key()


@router.get(
    "/audit/proofs/inclusion",
    response_model=InclusionProof,
    summary="Proof that the event at a log position is in the tree of a given size",
    responses={**problems(*READ), **BEYOND_LOG},
)
def inclusion(
    key: AuditKey,
    view: ReadFrom,
    position: Annotated[int, Query(ge=1, le=MAX_POSITION, description="the event's log position")],
    tree_size: Annotated[
        int | None,
        Query(ge=1, le=MAX_POSITION,
              description="the tree to prove against (default: the latest checkpoint's, "
              "or the whole tree now when the event is newer than it)"),
    ] = None,
) -> dict[str, object]:
    """Verify with RFC 9162 §2.1.3.2 against the `root_hash` of a signed checkpoint of
    `tree_size` events. Right after a write (its position beyond the latest
    checkpoint) the proof is against the whole tree now; its `tree_size` is covered by
    the next checkpoint, linked by `/v1/audit/proofs/consistency`. A position or size
    beyond the tree: 404 with the tree's size; `position` > `tree_size`: 422."""
    try:
        return view.audit.inclusion(position, tree_size)
    except InvalidInput as e:
        raise in_query(e) from None


@router.get(
    "/audit/proofs/consistency",
    response_model=ConsistencyProof,
    summary="Proof that a later tree extends an earlier one (nothing rewritten)",
    responses={**problems(*READ), **BEYOND_LOG},
)
def consistency(
    key: AuditKey,
    view: ReadFrom,
    first: Annotated[int, Query(ge=1, le=MAX_POSITION, description="the earlier tree size")],
    second: Annotated[
        int | None,
        Query(ge=1, le=MAX_POSITION,
              description="the later tree size (default: the latest checkpoint's, or the "
              "whole tree now when `first` is larger)"),
    ] = None,
) -> dict[str, object]:
    """Verify with RFC 9162 §2.1.4.2 against the roots of two signed checkpoints."""
    try:
        return view.audit.consistency(first, second)
    except InvalidInput as e:
        raise in_query(e) from None
