"""Erasure of personal data (scope ledger:write) and the record of erasures (scope
audit:read). The log, its hash tree and checkpoints are untouched by an erasure."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import (
    AuditKey,
    Limit,
    ServicesDep,
    UsccPath,
    WriteKey,
    json_body,
    path_uscc,
    query_uscc,
)
from api.docs import READ, WRITE, body_doc, problems
from api.fields import USCC_SCHEMA
from api.schemas import ErasureOut, ErasurePage, ErasureRequest
from ledger.services import privacy

router = APIRouter(prefix="/v1", tags=["privacy"])
OPTIONAL_BODY = body_doc(ErasureRequest, "optional: without it, every personal field")
OPTIONAL_BODY["requestBody"]["required"] = False

@router.post(
    "/enterprises/{uscc}/erasure",
    response_model=ErasureOut,
    summary="Erase an enterprise's personal data for good",
    responses=problems(*WRITE),
    openapi_extra=OPTIONAL_BODY,
)
def erase(
    key: WriteKey,
    body: Annotated[ErasureRequest, json_body(ErasureRequest, "ledger:write", optional=True)],
    services: ServicesDep,
    uscc: UsccPath,
) -> dict[str, Any]:
    """Deletes the values and salts of the enterprise's personal fields (`fields`,
    default all) from every table and, on SQLite, from the database files' bytes. The
    events keep their commitments, so `ledger audit verify`, every proof and every
    export still verify; auditors then see `{"erased": true}` for each erased field.
    The erasure itself is recorded (who, when, which fields), never the values."""
    code = path_uscc(uscc)
    done = privacy.erase(services.db, services.log, code, body.fields, key.name)
    return done.to_json()


@router.get(
    "/audit/erasures",
    response_model=ErasurePage,
    summary="Erasures of personal data: who, when, which fields",
    responses=problems(*READ),
)
def erasures(
    key: AuditKey,
    services: ServicesDep,
    uscc: Annotated[
        str | None,
        Query(description="only this enterprise (its USCC)", json_schema_extra=USCC_SCHEMA),
    ] = None,
    limit: Limit = 100,
) -> dict[str, Any]:
    code = query_uscc(uscc) if uscc is not None else None
    return {"items": privacy.erasures(services.db, code, limit)}
