"""Who sees personal data: the one place that removes it from what is read.

The personal fields name a natural person. A reader without ``audit:read`` (partners,
the feed, the public pages) gets documents with them removed: from the top level of a
standing and from the ``data`` of an event. Every read path calls ``redact``; change
what it hides here and nowhere else.
"""

from __future__ import annotations

from typing import Any

PERSONAL_FIELDS: tuple[str, ...] = ("legal_representative",)


def redact(doc: dict[str, Any], personal: bool) -> dict[str, Any]:
    """``doc`` (a standing or an event, as read) as a reader may see it: unchanged
    with ``personal`` (a key with audit:read), else without personal fields. Never
    modifies ``doc``."""
    if personal:
        return doc
    out = {k: v for k, v in doc.items() if k not in PERSONAL_FIELDS}
    data = out.get("data")
    if isinstance(data, dict) and any(k in data for k in PERSONAL_FIELDS):
        out["data"] = {k: v for k, v in data.items() if k not in PERSONAL_FIELDS}
    return out
