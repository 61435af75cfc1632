"""Property-based tests of the whole HTTP API against its own OpenAPI document
(schemathesis, through the ASGI app, on both stores): for generated valid and invalid
requests, no response is a 5xx and every response matches the documented status
codes, media types, headers and schemas. Bounded in examples to stay fast."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from ledger.bootstrap import bootstrap
from ledger.services.access import ApiKeys
from tests.apiclient import START, shared_settings
from tests.conftest import STORES, FixedClock
from tests.factories import licence, random_uscc

EXAMPLES = ("91350200776049653A", "91440101MA5CJQ4N59")  # the USCCs in the documented examples
CHECKS = [
    not_a_server_error, status_code_conformance, content_type_conformance,
    response_headers_conformance, response_schema_conformance, negative_data_rejection,
]
MAX_EXAMPLES = int(os.environ.get("LEDGER_FUZZ_EXAMPLES", "10"))  # per operation and mode


def seed(services: Any) -> None:
    """The documented examples' enterprises exist, so reads and writes get past 404."""
    ledger = services.ledger
    first, second = EXAMPLES
    ledger.license(**licence(first))
    ledger.commit(first, committed_at="2025-01-05T10:00:00+08:00", signatory="Wang Li")
    ledger.inspect(first, inspected_at="2025-01-20T10:00:00+08:00", inspector="Zhao",
                   score=95, outcome="compliant")
    ledger.license(**licence(second, place_type="hotel"))
    ledger.ban(second, banned_at="2025-03-01T10:00:00+08:00", reason="fraud", decision_no="D-1")


@pytest.fixture(scope="module", params=STORES)
def fuzzed_app(request: pytest.FixtureRequest, tmp_path_factory: Any) -> Iterator[Any]:
    with shared_settings(request.param, tmp_path_factory.mktemp("st")) as store:
        services = bootstrap(store, clock=FixedClock(START))
        try:
            seed(services)
            _, token = ApiKeys(services.db).create(
                "fuzzer", ["ledger:write", "credit:read", "audit:read"], rate_limit=1e9
            )
            yield create_app(services=services), {"Authorization": f"Bearer {token}"}
        finally:
            asgi.shutdown_lifespans()  # schemathesis started the app's lifespan on first call
            services.close()


# The document comes from an app with no store (nothing connects at import time); the
# calls go to the app under test, built from the same code.
SCHEMA = schemathesis.openapi.from_dict(create_app().openapi())
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]
CASES = [
    pytest.param(op, mode, id=f"{op.label} {mode.value}")
    for op in OPERATIONS
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if mode.is_positive or op.path_parameters or op.query or op.headers or op.body
]


def cases(operation: Any, mode: GenerationMode) -> st.SearchStrategy[Any]:
    """Schemathesis' cases; positive ones also on the seeded enterprises and, for
    licences, with valid fresh USCCs, so they get past 404 and 422 into the domain."""
    base = operation.as_strategy(generation_mode=mode)
    if not mode.is_positive:
        return base
    options = [base]
    if any(p.name == "uscc" for p in operation.path_parameters):
        options.append(st.sampled_from(EXAMPLES).flatmap(
            lambda uscc: operation.as_strategy(generation_mode=mode,
                                               path_parameters={"uscc": uscc})))
    if operation.label == "POST /v1/enterprises":
        options.append(st.tuples(base, st.randoms(use_true_random=False)).map(fresh_uscc))
    return st.one_of(options)


def fresh_uscc(drawn: tuple[Any, random.Random]) -> Any:
    case, rng = drawn
    if isinstance(case.body, dict):
        case.body["uscc"] = random_uscc(rng)
    return case


# What a schema cannot state: a USCC's check digit, one field against another (a
# deadline after the inspection, position within tree_size), the state of the ledger
# (a moment before the enterprise's previous event or after now), a reused key.
CROSS_FIELD = {"checksum", "reused", "order", "future", "before_previous", "beyond_log"}
SEEN: dict[str, set[str]] = {}


def stated(schema: dict[str, Any], name: str) -> bool:
    """Whether the document gives a parameter of the standing a pattern: USCCs and
    timestamps are the `domain` work on value types; until the document states them,
    such a value refused for its form is that gap, not what this check looks for."""
    operation = schema["paths"]["/v1/enterprises/{uscc}/standing"]["get"]
    found = [p for p in operation["parameters"] if p["name"] == name]
    return bool(found) and "pattern" in found[0].get("schema", {})


USCC_STATED = stated(SCHEMA.raw_schema, "uscc")
MOMENT_STATED = stated(SCHEMA.raw_schema, "known_at")


def refused_only_for_what_a_schema_cannot_state(case: Any, response: Any) -> None:
    """A request valid by the schema is refused only for a domain rule (409), a
    version (412) or a cross-field rule: never a 422 for a single value's form."""
    if response.status_code != 422:
        return
    errors = response.json().get("errors") or []
    for error in errors:
        SEEN.setdefault(error["reason"], set()).add(f"{case.operation.label} {error['field']}")
    single = [
        e for e in errors
        if e["reason"] not in CROSS_FIELD and not cross_field(e)
        and not (is_uscc(e["field"]) and not USCC_STATED)
        and not (e["field"].endswith("_at") and not MOMENT_STATED)
    ]
    assert not single, f"schema-valid request refused: {single} ({case.path_parameters}, " \
        f"{case.query}, {case.body!r})"


def is_uscc(field: str) -> bool:
    return field == "uscc" or field.startswith("usccs")


def cross_field(error: dict[str, str]) -> bool:
    """Errors that name a relation between values rather than one value's form."""
    message = error.get("message", "")
    return any(word in message for word in (
        "after the", "before the", "larger than", "not in a tree", "at or after",
        "on or after", "later than", "earlier than", "previous event", "in the future",
        "requires", "needs", "only with", "without",
    ))


@pytest.mark.parametrize(("operation", "mode"), CASES)
def test_no_5xx_and_every_response_as_documented(
    fuzzed_app: tuple[Any, dict[str, str]], operation: Any, mode: GenerationMode
) -> None:
    app, auth = fuzzed_app

    @given(case=cases(operation, mode))
    @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
    def run(case: Any) -> None:
        response = case.call(app=app, headers=dict(auth))
        case.validate_response(response, checks=CHECKS, headers=dict(auth))
        if mode.is_positive:
            refused_only_for_what_a_schema_cannot_state(case, response)

    run()
    if os.environ.get("LEDGER_FUZZ_REPORT"):
        print(SEEN)
