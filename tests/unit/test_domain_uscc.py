"""USCC validation (GB 32100-2015) through python-stdnum: pure, no I/O."""

import pytest
from stdnum.cn import uscc as std

from ledger.errors import InvalidInput
from ledger.uscc import uscc_problem, validate_uscc
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
    import random

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
