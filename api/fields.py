"""The ledger's values as the HTTP API declares and checks them, in one place.

Each type states in OpenAPI what `ledger.values` accepts (a USCC's pattern and length,
RFC 3339 moments and `YYYY-MM-DD` days with the years 1900-2999 in their patterns,
division codes), so a request valid by the schema is refused only for a USCC's check
character, a day that is not in the calendar, or a rule of the domain. Bodies are
checked by the types themselves; path and query parameters by `api.deps` with the same
parsers (after the key: 401/403 come first), and each refusal names the field and the
reason.
"""

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from ledger import values
from ledger.errors import InvalidInput

EXAMPLE_USCC = "91350200776049653A"

USCC_SCHEMA: dict[str, Any] = {
    "pattern": values.USCC_PATTERN, "minLength": values.USCC_LENGTH,
    "maxLength": values.USCC_LENGTH,
}
MOMENT_SCHEMA: dict[str, Any] = {"format": "date-time", "pattern": values.MOMENT_PATTERN}
DAY_SCHEMA: dict[str, Any] = {"format": "date", "pattern": values.DAY_PATTERN}
DISTRICT_SCHEMA: dict[str, Any] = {"pattern": values.DISTRICT_PATTERN}
USCC_TEXT = ("Unified Social Credit Code (GB 32100-2015): 8 digits, then 10 characters of "
             f"{values.ALPHABET} (either case), the last a check character")
MOMENT_TEXT = f"RFC 3339: {values.RFC_3339}"


def checked(parse: Callable[[Any, str], Any], keep: bool = False) -> AfterValidator:
    """A pydantic validator running a `ledger.values` parser: its refusal becomes an
    error of the parser's reason (`length`, `format`, `checksum`, `offset`, `range`);
    the value is the parser's, or with ``keep`` the text as given (as the idempotency
    hash of a body has always seen it)."""

    def check(value: Any) -> Any:
        try:
            parsed = parse(value, "value")
        except InvalidInput as e:
            raise PydanticCustomError(
                e.reason, "{detail}", {"detail": str(e).split(": ", 1)[-1]}
            ) from None
        return value if keep else parsed

    return AfterValidator(check)


# -- in bodies ---------------------------------------------------------------------------------

Uscc = Annotated[
    str,
    Field(description=USCC_TEXT + "; returned compact, upper case", examples=[EXAMPLE_USCC],
          json_schema_extra=USCC_SCHEMA),
]  # in answers: always compact and upper case
UsccIn = Annotated[Uscc, checked(values.uscc_form, keep=True)]  # the domain compacts it
Moment = Annotated[str, Field(json_schema_extra=MOMENT_SCHEMA), checked(values.moment, keep=True)]
Day = Annotated[
    str, Field(json_schema_extra=DAY_SCHEMA, examples=["2026-03-01"]),
    checked(values.day, keep=True),
]
District = Annotated[
    str,
    Field(description="administrative division code (6 digits)", examples=["230109"],
          json_schema_extra=DISTRICT_SCHEMA),
    checked(values.district),
]

# -- in paths and queries (parsed in the route, after the key: see api.deps) -----------------------

UsccPath = Annotated[
    str,
    Path(description=USCC_TEXT, examples=[EXAMPLE_USCC], json_schema_extra=USCC_SCHEMA),
]
DayQuery = Annotated[
    str | None,
    Query(description="the end of this day, China Standard Time (YYYY-MM-DD; default today)",
          json_schema_extra=DAY_SCHEMA, examples=["2026-01-01"]),
]
DistrictQuery = Annotated[  # checked by its pattern (a 422 `format`)
    str | None,
    Query(description="only this division code", pattern=values.DISTRICT_PATTERN,
          examples=["230109"]),
]

