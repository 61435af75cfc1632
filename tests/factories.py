"""Small factories for random valid inputs."""

from __future__ import annotations

import random
from typing import Any

from ledger.values import ALPHABET, check_character


def random_uscc(rng: random.Random | None = None, district: str = "230109") -> str:
    """A valid USCC of an individual business in the given division (stdnum checks
    the organisation code's own check digit too, so the body is built to pass)."""
    from stdnum.cn import uscc as std

    rng = rng or random.Random()
    while True:
        org = "".join(rng.choice(ALPHABET[:10] + "ABCDEFGHJKLMNPQRTUWXY") for _ in range(9))
        body = "92" + district + org
        code = body + check_character(body)
        if std.is_valid(code):
            return code


def licence(uscc: str, **overrides: object) -> dict[str, object]:
    fields: dict[str, object] = {
        "uscc": uscc,
        "name": "Songbei Riverside Barbershop",
        "place_type": "barbershop",
        "address": "18 Chuangxin Road, Songbei District, Harbin",
        "district": "230109",
        "legal_representative": "Wang Li",
        "licensed_at": "2025-01-02T09:00:00+08:00",
    }
    fields.update(overrides)
    return fields


def in_clear(services: Any, event: Any, field: str) -> str | None:
    """The personal value behind ``event``'s commitment in ``field`` (None once erased),
    checked against the commitment."""
    from ledger.services.privacy import check

    with services.db.transaction() as tx:
        row = tx.one(
            "SELECT value, salt FROM personal_data WHERE position = ? AND field = ?",
            (event.position, field),
        )
    if row is None:
        return None
    assert check(row[0], row[1], event.data[field])
    return str(row[0])
