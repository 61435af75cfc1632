"""The Unified Social Credit Code (GB 32100-2015), validated by `stdnum.cn.uscc`."""

from __future__ import annotations

from stdnum.cn import uscc as _uscc
from stdnum.exceptions import InvalidChecksum, InvalidFormat, InvalidLength, ValidationError

from ledger.errors import InvalidInput


def validate_uscc(value: object, field: str = "uscc") -> str:
    """Return the compact upper-case code, or raise `InvalidInput` naming
    the reason: `length`, `format` or `checksum`."""
    if not isinstance(value, str):
        raise InvalidInput(field, "format", f"{field}: must be a string")
    try:
        return str(_uscc.validate(value))
    except InvalidLength:
        raise InvalidInput(field, "length", f"{field}: must be 18 characters") from None
    except InvalidChecksum:
        raise InvalidInput(field, "checksum", f"{field}: check character is wrong") from None
    except (InvalidFormat, ValidationError):
        raise InvalidInput(field, "format", f"{field}: has characters a USCC cannot hold") from None


def uscc_problem(value: str) -> str | None:
    """The reason a code is invalid, or None when it is valid."""
    try:
        validate_uscc(value)
    except InvalidInput as e:
        return e.reason
    return None
