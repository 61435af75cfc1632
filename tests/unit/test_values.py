"""The value parsers of `ledger.values` on their boundaries: pure, no I/O.

USCC (GB 32100-2015, as python-stdnum accepts it, and the API's 18-character form),
days, RFC 3339 moments, district codes and the years 1900-2999."""

import random
import re
from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.cn import uscc as std

from ledger import values
from ledger.errors import InvalidInput
from ledger.values import uscc as validate_uscc
from ledger.values import uscc_problem
from tests.factories import random_uscc

DOMAIN_EXAMPLES = ["91350200776049653A", "91440101MA5CJQ4N59", "922301094JURQ283F3"]


@pytest.mark.parametrize("code", DOMAIN_EXAMPLES)
def test_the_examples_of_domain_md_are_valid(code):
    assert validate_uscc(code) == code
    assert uscc_problem(code) is None


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("91350200776049653a", "91350200776049653A"),
        ("91440101ma5cjq4n59", "91440101MA5CJQ4N59"),
        (" 91350200776049653A ", "91350200776049653A"),
        ("9135 0200 7760 4965 3A", "91350200776049653A"),
        ("913502-00776049653A", "91350200776049653A"),
    ],
)
def test_a_code_is_returned_compact_and_upper_case(given, stored):
    assert validate_uscc(given) == stored


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("", "length"),
        ("91350200776049653", "length"),
        ("91350200776049653AA", "length"),
        ("9135020077604965OA", "format"),  # O is not in the alphabet
        ("913502007760496I3A", "format"),  # nor is I
        ("9A350200776049653A", "format"),  # positions 1-8 are digits
        ("91350200776049653B", "checksum"),
        ("91440101MA5CJQ4N58", "checksum"),
    ],
)
def test_an_invalid_code_names_the_field_and_the_reason(code, reason):
    with pytest.raises(InvalidInput) as refused:
        validate_uscc(code)
    assert (refused.value.field, refused.value.reason) == ("uscc", reason)
    assert uscc_problem(code) == reason


def test_a_non_string_is_refused_as_format():
    with pytest.raises(InvalidInput) as refused:
        validate_uscc(913502007760496530)
    assert refused.value.reason == "format"


def test_the_field_name_can_be_chosen():
    with pytest.raises(InvalidInput) as refused:
        validate_uscc("123", field="usccs[3]")
    assert refused.value.field == "usccs[3]"
    assert "usccs[3]" in str(refused.value)


def test_the_ledger_accepts_exactly_what_stdnum_accepts():
    rng = random.Random(7)
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXYIOSVZabc -"
    valid = 0
    for _ in range(3000):
        code = list(random_uscc(rng))
        for _ in range(rng.choice([0, 1, 1, 2])):  # mutate, insert or delete a character
            at = rng.randrange(len(code))
            op = rng.choice(["set", "insert", "delete"])
            if op == "set":
                code[at] = rng.choice(alphabet)
            elif op == "insert":
                code.insert(at, rng.choice(alphabet))
            else:
                del code[at]
        text = "".join(code)
        ok = std.is_valid(text)
        valid += ok
        assert (uscc_problem(text) is None) == ok, text
        if ok:
            assert validate_uscc(text) == std.compact(text)
    assert 0 < valid < 3000


# -- the API's form of a USCC: what OpenAPI states, refused only for the checksum -----------


def reason(parse, value, field="f"):
    with pytest.raises(InvalidInput) as refused:
        parse(value, field)
    assert refused.value.field == field and field in str(refused.value)
    return refused.value.reason


def test_the_check_character_is_the_one_stdnum_computes():
    rng = random.Random(3)
    for _ in range(200):
        body = "".join(rng.choice("0123456789") for _ in range(8)) + "".join(
            rng.choice(values.ALPHABET) for _ in range(9))
        assert values.check_character(body) == std.calc_check_digit(body)


@pytest.mark.parametrize(
    ("code", "why"),
    [
        ("9135020077604965", "length"), ("91350200776049653AA", "length"),
        (" 91350200776049653A", "length"), ("9135 0200 7760 4965 3A", "length"),
        ("913502-0776049653A", "format"), ("9A350200776049653A", "format"),
        ("91350200776049653O", "format"), ("91350200776049653!", "format"),
        ("91350200776049653B", "checksum"), (913502007760496530, "format"),
    ],
)
def test_the_api_form_refuses_separators_and_names_the_reason(code, why):
    assert reason(values.uscc_form, code) == why


def test_the_api_form_takes_either_case_and_returns_the_compact_code():
    assert values.uscc_form("91440101ma5cjq4n59", "uscc") == "91440101MA5CJQ4N59"


def test_the_uscc_pattern_is_the_api_form_so_only_the_checksum_is_left():
    """Every string of 18 characters drawn near the form: the pattern matches exactly
    those the API form takes or refuses for the checksum alone."""
    pattern = re.compile(values.USCC_PATTERN)
    rng = random.Random(11)
    chars = values.ALPHABET + values.ALPHABET.lower() + "IOSVZiosvz -!é٣"
    matched = 0
    for _ in range(5000):
        code = list(random_uscc(rng))
        for _ in range(rng.choice([0, 1, 2])):
            code[rng.randrange(18)] = rng.choice(chars)
        text = "".join(code)
        try:
            values.uscc_form(text)
            why = None
        except InvalidInput as e:
            why = e.reason
        matched += bool(pattern.match(text))
        assert (pattern.match(text) is not None) == (why in (None, "checksum")), text
    assert 0 < matched < 5000


# -- years: 1900-2999 -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ok"),
    [("1899-12-31", False), ("1900-01-01", True), ("2999-12-31", True), ("3000-01-01", False)],
)
def test_days_lie_in_the_years_1900_to_2999(text, ok):
    if ok:
        assert values.day(text, "f") == date.fromisoformat(text)
    else:
        assert reason(values.day, text) == "range"


@pytest.mark.parametrize(
    ("text", "ok"),
    [("1899-12-31T23:59:59+08:00", False), ("1900-01-01T00:00:00+14:00", True),
     ("2999-12-31T23:59:59.999999-14:00", True), ("3000-01-01T00:00:00Z", False)],
)
def test_moments_lie_in_the_years_1900_to_2999(text, ok):
    if ok:
        assert values.moment(text, "f").text == text
    else:
        assert reason(values.moment, text) == "range"


# -- days -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["2025-1-1", "20250101", "2025-W05-6", "2025-032", "2025-02-30", "2025-02-01 ",
     "２０２５-01-01", "2025-01-0١", "", "yesterday"],
)
def test_a_day_is_yyyy_mm_dd_of_the_calendar(text):
    assert reason(values.day, text) == "format"


def test_a_day_accepts_a_date_and_refuses_other_types():
    assert values.day(date(2025, 2, 28), "f") == date(2025, 2, 28)
    assert reason(values.day, 20250101) == "type"
    assert reason(values.day, datetime(2025, 1, 1)) == "type"


# -- moments: RFC 3339, kept as given -------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["2025-01-02T09:00:00+08:00", "2025-01-02T09:00:00Z", "2025-01-02T09:00:00-00:00",
     "2025-01-02T09:00:00.5+08:00", "2025-01-02T09:00:00.000000+08:00",
     "2025-01-02T09:00:00.123456+05:45", "2025-01-02T09:00:00+14:00",
     "2025-01-02T09:00:00-14:00", "2025-01-02T23:59:59-09:30"],
)
def test_an_rfc_3339_moment_is_kept_as_given(text):
    found = values.moment(text, "f")
    assert found.text == text  # never rewritten
    assert found.at == datetime.fromisoformat(text)


@pytest.mark.parametrize(
    "text",
    [
        "2025-01-02T09:00:00+14:01", "2025-01-02T09:00:00-14:01", "2025-01-02T09:00:00+23:59",
        "2025-01-02T09:00:00+08:00:30", "2025-01-02T09:00:00+0800", "2025-01-02T09:00:00+08",
        "2025-01-02T09:00:00.1234567+08:00", "2025-01-02T09:00:00,5+08:00",
        "2025-01-02T09:00:00.+08:00", "2025-W01-4T09:00:00+08:00", "2025-002T09:00:00+08:00",
        "2025-01-02T09+08:00", "2025-01-02T09:00+08:00", "20250102T090000+08:00",
        "2025-01-02 09:00:00+08:00", "2025-01-02t09:00:00z", "2025-01-02T24:00:00+08:00",
        "2025-01-02T09:00:60+08:00", "2025-02-30T09:00:00+08:00", "2025-01-02T09:00:00+08:60",
        "2025-01-02T09:00:00+08:00 ", "2025-01-02T09:00:00+08:00\n", "yesterday", "",
        "2025-01-02T0٩:00:00+08:00",
    ],
)
def test_any_other_form_is_format(text):
    assert reason(values.moment, text) == "format"


@pytest.mark.parametrize(
    "text", ["2025-01-02T09:00:00", "2025-01-02T09:00:00.123456", "2025-01-02", "2025-01-02 09:00"]
)
def test_a_moment_with_no_offset_at_all_is_offset(text):
    assert reason(values.moment, text) == "offset"


def test_an_aware_datetime_is_a_moment_and_a_naive_one_is_not():
    at = datetime(2025, 1, 2, 9, tzinfo=timezone(timedelta(hours=8)))
    assert values.moment(at, "f") == values.Moment("2025-01-02T09:00:00+08:00", at)
    assert reason(values.moment, datetime(2025, 1, 2, 9)) == "offset"
    odd = datetime(2025, 1, 2, 9, tzinfo=timezone(timedelta(hours=8, seconds=30)))
    assert reason(values.moment, odd) == "format"
    far = datetime(2025, 1, 2, 9, tzinfo=timezone(timedelta(hours=14, minutes=1)))
    assert reason(values.moment, far) == "format"
    assert reason(values.moment, 1735779600) == "type"


def test_the_moment_pattern_states_what_the_parser_takes():
    """The OpenAPI pattern and the parser agree on every case above (the parser
    alone also knows the calendar: February 30th matches the pattern)."""
    pattern = re.compile(values.MOMENT_PATTERN)
    for text in ["2025-01-02T09:00:00+14:00", "1900-01-01T00:00:00Z",
                 "2999-12-31T23:59:59.999999-14:00"]:
        assert pattern.match(text)
    for text in ["2025-01-02T09:00:00+14:01", "1899-12-31T23:59:59Z", "3000-01-01T00:00:00Z",
                 "2025-01-02T09:00:00.1234567Z", "2025-01-02T09:00:00", "2025-01-02T09:00Z",
                 "2025-01-02T09:00:00+08:00:30", "2025-01-02T09:00:60Z"]:
        assert not pattern.match(text), text
    day = re.compile(values.DAY_PATTERN)
    assert day.match("1900-01-01") and day.match("2999-12-31")
    assert not day.match("1899-12-31") and not day.match("3000-01-01")
    assert not day.match("2025-13-01") and not day.match("2025-01-32")


# -- district codes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["23010", "2301090", "23010a", "٢٣٠١٠٩", "230109\n", " 230109", 230109]
)
def test_a_district_is_six_ascii_digits(text):
    assert reason(values.district, text) == "format"
    assert values.district("230109") == "230109"


# -- CST days -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "day"),
    [("2025-01-02T23:59:59+08:00", "2025-01-02"), ("2025-01-02T16:00:00Z", "2025-01-03"),
     ("2025-01-02T15:59:59.999999Z", "2025-01-02"), ("2025-01-02T00:00:00-10:00", "2025-01-02"),
     ("2025-01-01T14:00:00-10:00", "2025-01-02")],
)
def test_the_day_of_a_moment_is_its_day_in_china_standard_time(moment, day):
    assert values.day_of(moment) == day
    assert values.cst_date(datetime.fromisoformat(moment)).isoformat() == day


def test_months_are_calendar_months_clamped():
    assert values.add_months(date(2025, 1, 31), 1) == date(2025, 2, 28)
    assert values.add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert values.add_years(date(2024, 2, 29), 1) == date(2025, 2, 28)
    assert values.add_months(date(2025, 11, 30), 3) == date(2026, 2, 28)


# -- the OpenAPI patterns and the parsers agree (what a schema-valid request may hold) -----------

def in_calendar(text: str) -> bool:
    try:
        date.fromisoformat(text[:10])
    except ValueError:
        return False
    return True


@settings(max_examples=300, deadline=None)
@given(st.from_regex(values.MOMENT_PATTERN, fullmatch=True))
def test_every_moment_the_schema_allows_is_taken_as_given_unless_not_in_the_calendar(text):
    if in_calendar(text):
        assert values.moment(text, "f").text == text
    else:
        assert reason(values.moment, text) == "format"


@settings(max_examples=300, deadline=None)
@given(st.from_regex(values.DAY_PATTERN, fullmatch=True))
def test_every_day_the_schema_allows_is_taken_unless_not_in_the_calendar(text):
    if in_calendar(text):
        assert values.day(text, "f").isoformat() == text
    else:
        assert reason(values.day, text) == "format"


@settings(max_examples=300, deadline=None)
@given(st.from_regex(values.USCC_PATTERN, fullmatch=True))
def test_every_uscc_the_schema_allows_is_refused_only_for_its_checksum(text):
    try:
        assert values.uscc_form(text, "f") == text.upper()
    except InvalidInput as e:
        assert e.reason == "checksum"


@settings(max_examples=300, deadline=None)
@given(
    st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(2999, 12, 30)),
    st.integers(min_value=-14 * 60, max_value=14 * 60),
    st.sampled_from(["seconds", "milliseconds", "microseconds"]),
)
def test_every_moment_the_parser_takes_matches_the_schema(at, minutes, spec):
    text = at.replace(tzinfo=timezone(timedelta(minutes=minutes))).isoformat(timespec=spec)
    assert values.moment(text, "f").text == text
    assert re.match(values.MOMENT_PATTERN, text)
    utc = at.isoformat(timespec=spec) + "Z"
    assert values.moment(utc, "f").text == utc and re.match(values.MOMENT_PATTERN, utc)
