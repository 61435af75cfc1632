"""The ledger's values, one parser each: a USCC, a day (China Standard Time), a moment
(an RFC 3339 timestamp with its offset), a district code and the range of years the
ledger computes with. The API's schemas, the CLI, the aggregate and the queries all
parse with these, so each value means the same everywhere and each refusal names its
field and one reason (`InvalidInput(field, reason)`).

- USCC (GB 32100-2015): exactly what `stdnum.cn.uscc` accepts, with its reasons
  `length`, `format`, `checksum`; returned compact and upper case. The HTTP API takes
  the 18-character form only (either case, no separators): `USCC_PATTERN`.
- Day: `YYYY-MM-DD`, a calendar date; anything else `format`.
- Moment: `YYYY-MM-DDTHH:MM:SS[.ffffff]` then `Z` or `±HH:MM` within ±14:00; a date
  or time with no offset at all is `offset`, every other form `format`. Kept as given
  (`Moment.text`), never rewritten.
- District: six ASCII digits (`format`).
- Years 1900-2999 for days and moments (`range`): every policy date stays computable.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from typing import TypeVar

from stdnum.cn import uscc as _stdnum_uscc
from stdnum.exceptions import InvalidChecksum, InvalidLength, ValidationError

from ledger.errors import InvalidInput

# -- USCC ------------------------------------------------------------------------------------

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # no I, O, S, V, Z
USCC_CHARS = frozenset(ALPHABET)
USCC_LENGTH = 18
_LETTERS = ALPHABET[10:]
# The API's form: positions 1-8 digits (stdnum's rule), 9-18 of the alphabet, either case.
USCC_PATTERN = f"^[0-9]{{8}}[0-9{_LETTERS}{_LETTERS.lower()}]{{10}}$"
_USCC_FORM = re.compile(USCC_PATTERN[1:-1], re.ASCII)


@lru_cache(maxsize=8192)
def _validated_uscc(value: str) -> str:
    """stdnum's validation, remembered for valid codes (a partner asks about the same
    enterprises again and again); an invalid one raises, and is not remembered."""
    return str(_stdnum_uscc.validate(value))


def uscc(value: object, field: str = "uscc") -> str:
    """The compact upper-case code, or `InvalidInput` with stdnum's reason: `length`,
    `format` or `checksum` (separators and surrounding spaces are tolerated)."""
    if not isinstance(value, str):
        raise InvalidInput(field, "format", f"{field}: must be a string")
    try:
        return _validated_uscc(value)
    except InvalidLength:
        raise InvalidInput(field, "length", f"{field}: must be 18 characters") from None
    except InvalidChecksum:
        raise InvalidInput(field, "checksum", f"{field}: check character is wrong") from None
    except ValidationError:
        raise InvalidInput(field, "format", f"{field}: has characters a USCC cannot hold") from None


def uscc_form(value: object, field: str = "uscc") -> str:
    """A USCC as the HTTP API takes it (`USCC_PATTERN`: 18 characters, no separators),
    compact and upper case; a value of that form is refused only for its checksum."""
    if not isinstance(value, str):
        raise InvalidInput(field, "format", f"{field}: must be a string")
    if len(value) != USCC_LENGTH:
        raise InvalidInput(field, "length", f"{field}: must be 18 characters")
    if _USCC_FORM.fullmatch(value) is None:
        raise InvalidInput(
            field, "format", f"{field}: 8 digits, then 10 characters of {ALPHABET}"
        )
    return uscc(value, field)


_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))  # 1, 3, 9, 27, 19, ...
_VALUE = {c: i for i, c in enumerate(ALPHABET)}


def check_character(body: str) -> str:
    """The 18th character of the code whose first 17 characters (upper case) are
    ``body``: alphabet[(31 - sum(value * 3^i mod 31) mod 31) mod 31]."""
    total = sum(_VALUE[c] * w for c, w in zip(body, _WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def uscc_problem(value: object) -> str | None:
    """The reason a code is invalid, or None when it is valid."""
    try:
        uscc(value)
    except InvalidInput as e:
        return e.reason
    return None


def is_compact_uscc(value: str) -> bool:
    """18 characters of the alphabet, upper case (a stored code; no checksum test)."""
    return len(value) == USCC_LENGTH and set(value) <= USCC_CHARS


# -- years -------------------------------------------------------------------------------------

MIN_YEAR, MAX_YEAR = 1900, 2999
YEAR_PATTERN = "(19|2[0-9])[0-9]{2}"  # MIN_YEAR..MAX_YEAR


D = TypeVar("D", bound=date)


def in_years(value: D, field: str) -> D:
    """A date or moment whose year the ledger computes with (display periods and
    deadlines stay within four-digit years in any offset)."""
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise InvalidInput(field, "range", f"{field}: the year must lie in {MIN_YEAR}-{MAX_YEAR}")
    return value


# -- days ----------------------------------------------------------------------------------------

CST = timezone(timedelta(hours=8), "CST")
ONE_DAY = timedelta(days=1)
_DATE = "[0-9]{4}-[0-9]{2}-[0-9]{2}"
DAY_PATTERN = f"^{YEAR_PATTERN}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"
_DAY = re.compile(_DATE, re.ASCII)


def day(value: object, field: str) -> date:
    """A calendar day written `YYYY-MM-DD` (or a `date`), in the years 1900-2999."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return in_years(value, field)
    if not isinstance(value, str):
        raise InvalidInput(field, "type", f"{field}: must be a YYYY-MM-DD date")
    try:
        if _DAY.fullmatch(value) is None:
            raise ValueError
        found = date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(field, "format", f"{field}: not a YYYY-MM-DD date") from None
    return in_years(found, field)


def cst_date(moment: datetime) -> date:
    """The calendar day of a moment in China Standard Time."""
    return moment.astimezone(CST).date()


def today_cst(now: datetime | None = None) -> date:
    return cst_date(now or datetime.now(timezone.utc))


def day_of(moment: str) -> str:
    """The CST calendar day (ISO) of a stored timestamp with offset (a +08:00 moment
    carries its CST day in front)."""
    if moment.endswith("+08:00") and moment[10:11] == "T":
        return moment[:10]
    return cst_date(datetime.fromisoformat(moment)).isoformat()


def add_months(start: date, months: int) -> date:
    """Calendar-month arithmetic, clamped: 2025-01-31 + 1 month = 2025-02-28."""
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def add_years(start: date, years: int) -> date:
    return add_months(start, 12 * years)


# -- moments ---------------------------------------------------------------------------------

MAX_OFFSET = timedelta(hours=14)
_TIME = "([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,6})?"
_OFFSET = "(Z|[+-](0[0-9]|1[0-3]):[0-5][0-9]|[+-]14:00)"
MOMENT_PATTERN = DAY_PATTERN[:-1] + "T" + _TIME + _OFFSET + "$"  # RFC 3339, as the server takes it
_MOMENT = re.compile(
    f"{_DATE}T[0-9]{{2}}:[0-9]{{2}}:[0-9]{{2}}(\\.[0-9]{{1,6}})?(Z|[+-][0-9]{{2}}:[0-5][0-9])",
    re.ASCII,
)
RFC_3339 = "YYYY-MM-DDTHH:MM:SS[.ffffff] with Z or an offset within ±14:00"


@dataclass(frozen=True, slots=True)
class Moment:
    """A moment as given (`text`, stored unchanged) and as an aware datetime (`at`)."""

    text: str
    at: datetime


def moment(value: object, field: str) -> Moment:
    """An RFC 3339 timestamp with a UTC offset (`Z` or ±HH:MM within ±14:00), or an
    aware `datetime`; a timestamp without an offset is `offset`, any other form
    `format`, a year outside 1900-2999 `range`."""
    if isinstance(value, datetime):
        offset = value.utcoffset()
        if offset is None:
            raise InvalidInput(field, "offset", f"{field}: needs a UTC offset (e.g. +08:00)")
        if offset % timedelta(minutes=1) or abs(offset) > MAX_OFFSET:
            raise InvalidInput(field, "format", f"{field}: the offset must be ±HH:MM within ±14:00")
        return Moment(value.isoformat(), in_years(value, field))
    if not isinstance(value, str):
        raise InvalidInput(field, "type", f"{field}: must be an RFC 3339 timestamp")
    if _MOMENT.fullmatch(value) is not None:
        try:
            at = datetime.fromisoformat(value)
        except ValueError:  # no such day or time
            pass
        else:
            if -MAX_OFFSET <= at.utcoffset() <= MAX_OFFSET:  # type: ignore[operator]
                return Moment(value, in_years(at, field))
    elif _naive(value):
        raise InvalidInput(
            field, "offset", f"{field}: needs a UTC offset, as in 2025-01-02T09:00:00+08:00"
        )
    raise InvalidInput(field, "format", f"{field}: not an RFC 3339 timestamp ({RFC_3339})")


def _naive(value: str) -> bool:
    """A date or time of day with no offset at all (its own reason: `offset`)."""
    try:
        return datetime.fromisoformat(value).tzinfo is None
    except ValueError:
        return False


# -- districts ---------------------------------------------------------------------------------

DISTRICT_PATTERN = "^[0-9]{6}$"
_DISTRICT = re.compile("[0-9]{6}", re.ASCII)


def district(value: object, field: str = "district") -> str:
    """An administrative division code: six ASCII digits (Songbei District: 230109)."""
    if not (isinstance(value, str) and _DISTRICT.fullmatch(value)):
        raise InvalidInput(field, "format", f"{field}: must be a 6-digit division code")
    return value
