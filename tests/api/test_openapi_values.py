"""The OpenAPI document states the ledger's values as `ledger.values` parses them: a
USCC's pattern and length, RFC 3339 moments and days with their patterns, division
codes. No store: the document comes from an app built without one."""

from __future__ import annotations

from typing import Any

import pytest

from api.app import create_app
from ledger import values

DOC = create_app().openapi()
SCHEMAS = DOC["components"]["schemas"]
USCC = {"type": "string", "pattern": values.USCC_PATTERN, "minLength": 18, "maxLength": 18}
MOMENT = {"type": "string", "format": "date-time", "pattern": values.MOMENT_PATTERN}
DAY = {"type": "string", "format": "date", "pattern": values.DAY_PATTERN}


def body(model: str, field: str) -> dict[str, Any]:
    found = SCHEMAS.get(model) or SCHEMAS[f"{model}-Input"]
    prop: dict[str, Any] = found["properties"][field]
    return next((s for s in prop.get("anyOf", []) if s.get("type") == "string"), prop)


def param(path: str, name: str, method: str = "get") -> dict[str, Any]:
    for p in DOC["paths"][path][method]["parameters"]:
        if p["name"] == name:
            return p["schema"]  # type: ignore[no-any-return]
    raise KeyError(name)


def states(schema: dict[str, Any], expected: dict[str, Any]) -> bool:
    return all(schema.get(k) == v for k, v in expected.items())


def test_a_licences_uscc_district_and_moment_are_stated() -> None:
    assert states(body("LicenceCreate", "uscc"), USCC)
    assert states(body("LicenceCreate", "licensed_at"), MOMENT)
    assert states(body("LicenceCreate", "district"), {"pattern": values.DISTRICT_PATTERN})


@pytest.mark.parametrize(
    ("model", "field"),
    [("CommitmentCreate", "committed_at"), ("InspectionCreate", "inspected_at"),
     ("RectificationCreate", "rectified_at"), ("BanCreate", "banned_at"),
     ("RepairCreate", "repaired_at")],
)
def test_every_writes_moment_is_rfc_3339(model: str, field: str) -> None:
    assert states(body(model, field), MOMENT)


def test_a_deadline_is_a_day() -> None:
    assert states(body("InspectionCreate", "rectification_deadline"), DAY)


def test_the_path_and_query_values_are_stated() -> None:
    standing = "/v1/enterprises/{uscc}/standing"
    assert states(param(standing, "uscc"), USCC)
    assert states(param(standing, "as_of"), DAY)
    assert states(param(standing, "known_at"), MOMENT)
    assert states(param("/v1/enterprises/{uscc}/events", "known_at"), MOMENT)
    assert states(param("/v1/enterprises/{uscc}/commitments", "uscc", "post"), USCC)
    assert states(param("/v1/lists/reward", "district"), {"pattern": values.DISTRICT_PATTERN})
