"""Who sees personal data: the one place that removes it from what is read.

The personal fields name a natural person; the log stores them only as salted
commitments (``ledger.services.privacy``). A reader without ``audit:read`` (partners,
the feed, the public pages) gets documents without them at the top level of a standing
and with only the commitments in the ``data`` of an event. Every read path calls
``redact``; change what it hides here and nowhere else.
"""

from __future__ import annotations

from typing import Any

PERSONAL_FIELDS: tuple[str, ...] = (
    "legal_representative", "signatory", "inspector", "verified_by",
)


def redact(doc: dict[str, Any], personal: bool) -> dict[str, Any]:
    """``doc`` (a standing or an event, as read) as a reader may see it: unchanged
    with ``personal`` (a key with audit:read), else without the personal fields of a
    standing and with those of an event's ``data`` only as their commitments (a value
    stored in clear before v2 is left out). Never modifies ``doc``."""
    if personal:
        return doc
    out = {k: v for k, v in doc.items() if k not in PERSONAL_FIELDS}
    data = out.get("data")
    if isinstance(data, dict) and any(
        k in data and not is_commitment(data[k]) for k in PERSONAL_FIELDS
    ):
        out["data"] = {
            k: v for k, v in data.items() if k not in PERSONAL_FIELDS or is_commitment(v)
        }
    return out


def is_commitment(value: Any) -> bool:
    """``"sha256:" + 64 lower-case hex digits`` (see ``ledger.services.privacy``)."""
    return (
        isinstance(value, str) and len(value) == 71 and value.startswith("sha256:")
        and all(c in "0123456789abcdef" for c in value[7:])
    )
