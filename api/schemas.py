"""The HTTP API's request and response models: a small family per resource, with
examples, so OpenAPI is complete enough to generate a client from.

Request models check shapes (types, enumerations, lengths) and the ledger's values
with the parsers of `ledger.values` (USCCs, RFC 3339 moments, days, division codes,
through the types of `api.fields`); the domain checks meaning (order of events, the
rules) and names the field too. Text is refused when it holds control characters, and
moments and dates when their year lies outside 1900-2999, so no input can reach the
store that it cannot keep.
"""


from datetime import date
from typing import Annotated, Any, Literal

from fastapi import Query
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

from api.fields import EXAMPLE_USCC, Day, District, Moment, Uscc, UsccIn

PlaceType = Literal["hotel", "bathhouse", "beauty_salon", "barbershop"]
PlaceQuery = Annotated[PlaceType | None, Query(description="only this kind of place")]
Outcome = Literal["compliant", "rectify", "ban"]
Channel = Literal["qr", "counter"]
Status = Literal["licensed", "committed", "compliant", "rectifying", "overdue", "banned"]
CreditClass = Literal["A", "B", "C", "D"]
Grade = Literal["A", "B", "C"]
EventType = Literal["Licensed", "Committed", "Inspected", "Rectified", "Banned", "CreditRepaired"]

CONTROL = "\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F"
TEXT_PATTERN = f"^[^{CONTROL}]*[^\\s{CONTROL}][^{CONTROL}]*$"  # some visible character
OPTIONAL_TEXT_PATTERN = f"^[^{CONTROL}]*$"


def strict_int(value: Any) -> Any:
    """JSON integers (and numbers like 90.0, which JSON Schema counts as integers), never
    strings or booleans."""
    if isinstance(value, bool | str):
        raise PydanticCustomError("int_type", "must be an integer")
    return value


Text100 = Annotated[str, Field(max_length=100, pattern=TEXT_PATTERN)]
Text200 = Annotated[str, Field(max_length=200, pattern=TEXT_PATTERN)]
Text500 = Annotated[str, Field(max_length=500, pattern=TEXT_PATTERN)]
Text1000 = Annotated[str, Field(max_length=1000, pattern=TEXT_PATTERN)]
OptionalText100 = Annotated[str | None, Field(max_length=100, pattern=OPTIONAL_TEXT_PATTERN)]
OptionalText2000 = Annotated[str | None, Field(max_length=2000, pattern=OPTIONAL_TEXT_PATTERN)]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- writes --------------------------------------------------------------------------------


class LicenceCreate(Request):
    """A business licence was issued: the enterprise enters the ledger."""

    uscc: UsccIn
    name: Text200 = Field(
        description="the enterprise's registered name",
        examples=["Songbei Riverside Barbershop"],
    )
    place_type: PlaceType = Field(examples=["barbershop"])
    address: Text500 = Field(
        description="premises address",
        examples=["18 Chuangxin Road, Songbei District, Harbin"],
    )
    district: District
    legal_representative: Text100 = Field(
        description="legal representative (personal data)",
        examples=["Wang Li"],
    )
    licensed_at: Moment = Field(
        description="when the licence was issued (RFC 3339, with its UTC offset)",
        examples=["2025-01-02T09:00:00+08:00"],
    )

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{
                "uscc": EXAMPLE_USCC, "name": "Songbei Riverside Barbershop",
                "place_type": "barbershop",
                "address": "18 Chuangxin Road, Songbei District, Harbin",
                "district": "230109", "legal_representative": "Wang Li",
                "licensed_at": "2025-01-02T09:00:00+08:00",
            }]
        },
    )


Condition = Annotated[str, Field(max_length=500, pattern=OPTIONAL_TEXT_PATTERN)]


class CommitmentCreate(Request):
    """The enterprise submitted its notification and commitment letter."""

    committed_at: Moment = Field(
        description="when the commitment was made (RFC 3339, with its UTC offset)",
        examples=["2025-01-05T10:30:00+08:00"],
    )
    signatory: Text100 = Field(description="who signed the letter", examples=["Wang Li"])
    letter_id: OptionalText100 = Field(
        None,
        description="the letter's id (default: derived)",
        examples=["CL-2025-000123"],
    )
    channel: Channel | None = Field(None, description="default: counter", examples=["qr"])
    conditions: list[Condition] | None = Field(
        None, max_length=100, description="conditions acknowledged",
        examples=[["disinfection cabinet", "ventilation"]],
    )

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{
                "committed_at": "2025-01-05T10:30:00+08:00", "signatory": "Wang Li",
                "channel": "qr", "conditions": ["disinfection cabinet", "ventilation"],
            }]
        },
    )


class InspectionCreate(Request):
    """An on-site verification or routine inspection."""

    inspected_at: Moment = Field(
        description="when the inspection took place (RFC 3339, with its UTC offset)",
        examples=["2025-03-01T14:00:00+08:00"],
    )
    inspector: Text100 = Field(description="the inspector", examples=["Inspector Zhao"])
    score: Annotated[int, BeforeValidator(strict_int)] = Field(ge=0, le=100, examples=[92])
    outcome: Outcome = Field(examples=["compliant"])
    rectification_deadline: Day | None = Field(
        None, description="required for outcome rectify; a date after the inspection"
    )
    findings: OptionalText2000 = Field(
        None,
        description="what the inspector found",
        examples=["all conditions met"],
    )

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"inspected_at": "2025-03-01T14:00:00+08:00", "inspector": "Inspector Zhao",
                 "score": 92, "outcome": "compliant"},
                {"inspected_at": "2025-03-01T14:00:00+08:00", "inspector": "Inspector Zhao",
                 "score": 64, "outcome": "rectify", "rectification_deadline": "2025-03-31",
                 "findings": "no disinfection records"},
            ]
        },
    )


class RectificationCreate(Request):
    """The ordered rectification was verified as done."""

    rectified_at: Moment = Field(
        description="when the rectification was verified (RFC 3339, with its UTC offset)",
        examples=["2025-03-20T11:00:00+08:00"],
    )
    verified_by: Text100 = Field(description="who verified it", examples=["Inspector Zhao"])
    note: OptionalText2000 = Field(
        None,
        description="a note",
        examples=["disinfection records kept since 2025-03-10"],
    )

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{
            "rectified_at": "2025-03-20T11:00:00+08:00", "verified_by": "Inspector Zhao",
            "note": "disinfection records kept since 2025-03-10",
        }]},
    )


class BanCreate(Request):
    """Operation was banned by decision."""

    banned_at: Moment = Field(
        description="when the ban took effect (RFC 3339, with its UTC offset)",
        examples=["2025-04-01T09:00:00+08:00"],
    )
    reason: Text1000 = Field(
        description="why",
        examples=["operating without the required conditions"],
    )
    decision_no: OptionalText100 = Field(
        None,
        description="the decision's number",
        examples=["HSB-2025-017"],
    )

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{
            "banned_at": "2025-04-01T09:00:00+08:00",
            "reason": "operating without the required conditions", "decision_no": "HSB-2025-017",
        }]},
    )


class RepairCreate(Request):
    """A general adverse record was repaired (credit repair)."""

    repaired_at: Moment = Field(
        description="when the repair was approved (RFC 3339, with its UTC offset)",
        examples=["2025-08-01T09:00:00+08:00"],
    )
    record: Text100 = Field(
        description="the record's id, from the standing's records[]",
        examples=["rectification_overdue-4"],
    )
    approved_by: Text100 = Field(
        description="who approved it",
        examples=["Songbei Market Supervision Bureau"],
    )

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{
            "repaired_at": "2025-08-01T09:00:00+08:00", "record": "rectification_overdue-4",
            "approved_by": "Songbei Market Supervision Bureau",
        }]},
    )


class LookupRequest(Request):
    usccs: list[Annotated[str, Field(max_length=100)]] = Field(
        max_length=1000, description="up to 1000 USCCs", examples=[[EXAMPLE_USCC]]
    )

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"usccs": [EXAMPLE_USCC, "91440101MA5CJQ4N59"]}]},
    )


class Event(BaseModel):
    position: int = Field(description="global log position", examples=[42])
    uscc: Uscc
    type: EventType
    version: int = Field(description="the enterprise's version after this event", examples=[2])
    occurred_at: str = Field(json_schema_extra={"format": "date-time"},
                             examples=["2025-01-05T10:30:00+08:00"])
    recorded_at: str = Field(json_schema_extra={"format": "date-time"},
                             examples=["2026-01-01T04:00:00.123456+00:00"])
    data: dict[str, Any] = Field(description="the event's own fields")


WRITTEN_EXAMPLE: dict[str, Any] = {
    "uscc": EXAMPLE_USCC, "version": 2, "position": 42,
    "events": [{
        "position": 42, "uscc": EXAMPLE_USCC, "type": "Committed", "version": 2,
        "occurred_at": "2025-01-05T10:30:00+08:00",
        "recorded_at": "2026-01-01T04:00:00.123456+00:00",
        "data": {"letter_id": "CL-2025-000123", "signatory": "Wang Li", "channel": "qr",
                 "conditions": ["disinfection cabinet", "ventilation"]},
    }],
}
STANDING_EXAMPLE: dict[str, Any] = {
    "uscc": EXAMPLE_USCC, "name": "Songbei Riverside Barbershop", "place_type": "barbershop",
    "district": "230109", "status": "overdue", "credit_class": "C", "hygiene_grade": None,
    "on_reward_list": False, "on_punishment_list": False,
    "records": [{"id": "rectification_overdue-3", "kind": "rectification_overdue",
                 "severity": "general", "since": "2025-04-01", "until": "2026-04-01",
                 "repairable": True, "repairable_from": "2025-07-01"}],
    "verification_due": None, "rectification_deadline": "2025-03-31", "version": 3,
    "position": 57, "as_of": "2025-06-01",
}


class Written(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [WRITTEN_EXAMPLE]})

    uscc: Uscc
    version: int = Field(description="the enterprise's version after the write", examples=[2])
    position: int = Field(description="log position of the write's last event", examples=[42])
    events: list[Event]


# -- reads ---------------------------------------------------------------------------------


class Record(BaseModel):
    id: str = Field(examples=["rectification_overdue-4"],
                    description="stable id, derived from the event that started it")
    kind: Literal["rectification_overdue", "banned"]
    severity: Literal["general", "serious"]
    since: date
    until: date = Field(description="end of display (exclusive)")
    repairable: bool
    repairable_from: date | None = Field(None, description="first day a repair may be approved")


class Standing(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [STANDING_EXAMPLE]})

    uscc: Uscc
    name: str = Field(examples=["Songbei Riverside Barbershop"])
    place_type: PlaceType
    district: str = Field(examples=["230109"])
    status: Status
    credit_class: CreditClass
    hygiene_grade: Grade | None
    on_reward_list: bool
    on_punishment_list: bool
    records: list[Record]
    verification_due: date | None
    rectification_deadline: date | None
    version: int = Field(examples=[3])
    position: int = Field(examples=[42])
    as_of: date
    legal_representative: str | None = Field(
        None, description="personal data: only for keys with audit:read"
    )
    known_at: str | None = Field(
        None, description="only with ?known_at (audit:read): what the ledger knew then",
        json_schema_extra={"format": "date-time"},
    )


class LookupResult(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "results": [STANDING_EXAMPLE], "not_found": ["91440101MA5CJQ4N59"],
        "invalid": ["91350200776049653"],
    }]})

    results: list[Standing]
    not_found: list[str] = Field(description="valid USCCs the ledger does not hold, as sent")
    invalid: list[str] = Field(description="strings that are not valid USCCs, as sent")


class ListItem(BaseModel):
    uscc: Uscc
    name: str
    place_type: PlaceType
    district: str


class PunishmentItem(ListItem):
    kind: str = Field(examples=["banned"])
    since: date
    until: date = Field(description="end of display (exclusive)")
    reason: str
    decision_no: str


class RewardItem(ListItem):
    since: date = Field(description="the date the enterprise qualified")


NEXT_CURSOR = "pass as ?cursor= for the next page; null at the end"


class PunishmentPage(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "items": [{"uscc": "91440101MA5CJQ4N59", "name": "Harbin Spring Bathhouse",
                   "place_type": "bathhouse", "district": "230109", "kind": "banned",
                   "since": "2025-03-01", "until": "2028-03-01",
                   "reason": "operating without the required conditions",
                   "decision_no": "HSB-2025-017"}],
        "next_cursor": "91440101MA5CJQ4N59",
    }]})

    items: list[PunishmentItem]
    next_cursor: str | None = Field(description=NEXT_CURSOR)


class RewardPage(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "items": [{"uscc": EXAMPLE_USCC, "name": "Songbei Riverside Barbershop",
                   "place_type": "barbershop", "district": "230109", "since": "2025-05-01"}],
        "next_cursor": None,
    }]})

    items: list[RewardItem]
    next_cursor: str | None = Field(description=NEXT_CURSOR)


class Feed(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "events": WRITTEN_EXAMPLE["events"], "next_after": None,
    }]})

    events: list[Event]
    next_after: int | None = Field(
        description="pass as ?after= for the next page; null at the end (then resume from "
        "the last event's position)"
    )


class Access(BaseModel):
    id: int
    at: str = Field(json_schema_extra={"format": "date-time"})
    key: str = Field(description="the API key's name")
    method: str
    route: str
    target: str = Field(description="path and query as requested")
    status: int
    subjects: list[str] = Field(description="USCCs read")


class AccessLogPage(BaseModel):
    items: list[Access]
    next_cursor: str | None


class ProjectionHealth(BaseModel):
    id: str
    policy: str
    state: str
    position: int
    lag: int


class ReplicaHealth(BaseModel):
    """The hot standby of ``LEDGER_REPLICA_URL``; while it is ``down`` (or late past
    the wait) the primary answers every read."""

    state: Literal["ok", "lagging", "paused", "down"]
    position: int | None = Field(None, description="the replica's read position")
    primary_position: int | None = Field(None, description="the primary's read position")
    lag: int | None = Field(None, description="primary_position - position (events)")
    lag_seconds: float | None = Field(
        None, description="now minus the commit time of the last transaction replayed (0 "
        "when all received WAL is replayed): pg_last_xact_replay_timestamp()",
    )
    in_recovery: bool | None = Field(None, description="false: the URL is not a standby")
    detail: str | None = Field(None, description="why the replica did not answer")


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    store: Literal["sqlite", "postgresql"]
    head: int | None = Field(None, description="log position of the latest event")
    projections: list[ProjectionHealth] = Field(default_factory=list)
    replica: ReplicaHealth | None = Field(None, description="null without LEDGER_REPLICA_URL")
    detail: str | None = Field(None, description="why the store did not answer")


class FieldError(BaseModel):
    field: str = Field(examples=["uscc"])
    in_: Literal["body", "query", "path", "header", "cookie"] = Field(alias="in")
    reason: str = Field(examples=["checksum"],
                        description="length, format, checksum, required, range, unknown, ...")
    message: str


class Problem(BaseModel):
    """An error (RFC 9457)."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [{
                "type": "urn:credit-ledger:problem:invalid-input",
                "title": "Invalid input",
                "status": 422,
                "detail": "uscc: check character is wrong",
                "errors": [{"field": "uscc", "in": "body", "reason": "checksum",
                            "message": "uscc: check character is wrong"}],
            }]
        },
    )

    type: str = Field(description="a URI naming the kind of problem")
    title: str
    status: int
    detail: str
    errors: list[FieldError] | None = Field(None, description="each invalid field (422)")
    rule: str | None = Field(None, description="the rule of the domain broken (409)")


# -- personal data -------------------------------------------------------------------------

PersonalField = Literal["legal_representative", "signatory", "inspector", "verified_by"]


class ErasureRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"fields": ["legal_representative", "signatory"]}, {},
    ]})

    fields: list[PersonalField] | None = Field(
        None, min_length=1, max_length=4,
        description="the personal fields to erase (default: all four)",
    )


class ErasureOut(BaseModel):
    uscc: str
    fields: list[str] = Field(description="the fields erased")
    positions: list[int] = Field(description="log positions of the events whose values went")
    erased_at: str = Field(json_schema_extra={"format": "date-time"})
    erased_by: str = Field(description="the API key's name (or cli:<user>)")


class ErasurePage(BaseModel):
    items: list[ErasureOut] = Field(description="newest first")
