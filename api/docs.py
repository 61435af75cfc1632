"""OpenAPI helpers: the problem responses of each route, request bodies that are parsed
after authentication, and the schemas they refer to."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from api.errors import PROBLEM
from api.schemas import (
    BanCreate,
    CommitmentCreate,
    ErasureRequest,
    InspectionCreate,
    LicenceCreate,
    LookupRequest,
    Problem,
    RectificationCreate,
    RepairCreate,
)

REF = "#/components/schemas/{model}"
PROBLEM_REF = {"$ref": REF.format(model="Problem")}

_RETRY_AFTER = {
    "Retry-After": {
        "description": "seconds to wait before retrying",
        "schema": {"type": "integer", "minimum": 1},
    }
}
PROBLEMS: dict[int, tuple[str, dict[str, Any]]] = {
    401: ("Missing, unknown or revoked API key.", {
        "WWW-Authenticate": {"description": "the Bearer challenge", "schema": {"type": "string"}},
    }),
    403: ("The API key lacks the scope this operation needs.", {}),
    404: ("No enterprise with this USCC.", {}),
    409: ("A rule of the domain would be broken (the rule is in `rule` and `detail`), "
          "or concurrent writes kept winning for 5 s.", {}),
    412: ("If-Match names a version other than the enterprise's.", {
        "ETag": {"description": "the enterprise's current version", "schema": {"type": "string"}},
    }),
    413: ("The body is larger than 1 MB.", {}),
    415: ("The body is not application/json.", {}),
    422: ("Invalid input: `errors` names each bad field and the reason.", {}),
    429: ("The API key is past its rate limit.", _RETRY_AFTER),
    503: ("The store is unavailable; retry later.", {}),
}


def problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    """Response documentation for problem statuses (application/problem+json)."""
    docs: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        description, headers = PROBLEMS[code]
        doc: dict[str, Any] = {
            "description": description,
            "content": {PROBLEM: {"schema": PROBLEM_REF}},
        }
        if headers:
            doc["headers"] = headers
        docs[code] = doc
    return docs


AUTH = (401, 403, 429)
READ = (*AUTH, 422, 503)
WRITE = (*AUTH, 404, 409, 412, 413, 415, 422, 503)


def body_doc(model: type[BaseModel], description: str | None = None) -> dict[str, Any]:
    """``openapi_extra`` for a route whose body is parsed by `deps.json_body`."""
    content: dict[str, Any] = {"schema": {"$ref": REF.format(model=model.__name__)}}
    extra = model.model_config.get("json_schema_extra")
    examples = extra.get("examples") if isinstance(extra, dict) else None
    if isinstance(examples, list) and examples:
        content["examples"] = {f"example{i + 1}": {"value": v} for i, v in enumerate(examples)}
    body: dict[str, Any] = {"required": True, "content": {"application/json": content}}
    if description:
        body["description"] = description
    return {"requestBody": body}


BODY_MODELS: tuple[type[BaseModel], ...] = (
    LicenceCreate, CommitmentCreate, InspectionCreate, RectificationCreate, BanCreate,
    RepairCreate, LookupRequest, ErasureRequest, Problem,
)


def not_null(schema: dict[str, Any]) -> dict[str, Any]:
    """An optional parameter is one that may be left out (``required: false``), never
    one sent as null: ``anyOf: [X, null]`` becomes X, keeping title and description."""
    options = schema.get("anyOf")
    if not options or {"type": "null"} not in options:
        return schema
    rest = [o for o in options if o != {"type": "null"}]
    if len(rest) != 1:
        return schema
    merged = {k: v for k, v in schema.items() if k != "anyOf"}
    merged.update(rest[0])
    return merged


LEDGER_POSITION = {
    "description": "the log position the answer reflects (at least `min_position` when "
    "given): the read position of the database that answered, primary or replica",
    "schema": {"type": "integer", "minimum": 0},
}


def ledger_position_header(operation: dict[str, Any]) -> None:
    """Every response of a read (one taking ``min_position``) carries Ledger-Position."""
    for code, response in operation.get("responses", {}).items():
        if code.startswith("2") or code == "404":
            response.setdefault("headers", {})["Ledger-Position"] = LEDGER_POSITION


def install(app: FastAPI) -> None:
    """Generate the schema once, adding the models that routes refer to by reference."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description,
            routes=app.routes, tags=app.openapi_tags, servers=app.servers,
        )
        _, defs = models_json_schema(
            [(m, "validation") for m in BODY_MODELS], ref_template=REF
        )
        for item in schema.get("paths", {}).values():
            for operation in item.values():
                for parameter in operation.get("parameters", []):
                    parameter["schema"] = not_null(parameter.get("schema", {}))
                if any(p.get("name") == "min_position" for p in operation.get("parameters", [])):
                    ledger_position_header(operation)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for name, definition in defs.get("$defs", {}).items():
            components.setdefault(name, definition)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
