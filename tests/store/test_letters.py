"""The commitment letter and its signed link: pure unit tests, plus the stored secret."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from ledger.errors import InvalidInput
from ledger.services import letters
from tests.factories import licence, random_uscc

SECRET = b"test-secret"
NOW = datetime(2026, 1, 1, 4, 0, tzinfo=timezone.utc)
USCC = "91350200776049653A"


def token(version: int = 3, days: int = 30, secret: bytes = SECRET, uscc: str = USCC) -> str:
    return letters.sign_token(secret, uscc, version, letters.expiry(NOW, days))


def test_a_signed_token_verifies_to_its_enterprise_letter_and_expiry():
    claim = letters.verify_token(SECRET, token(), NOW)
    assert (claim.uscc, claim.version) == (USCC, 3)
    assert claim.letter_id == f"CL-{USCC}-V3"
    assert claim.expires_at == NOW + timedelta(days=30)


def test_the_token_is_short_and_url_safe():
    t = token()
    assert len(t) < 64
    assert set(t) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")


@pytest.mark.parametrize("part", [0, 1, 2, 3])
def test_changing_any_part_of_a_token_is_detected(part):
    pieces = token().split(".")
    other = {0: "91440101MA5CJQ4N59", 1: "4", 2: str(int(pieces[2]) + 86400),
             3: ("B" if pieces[3][0] == "A" else "A") + pieces[3][1:]}
    pieces[part] = other[part]
    with pytest.raises(letters.BadToken) as e:
        letters.verify_token(SECRET, ".".join(pieces), NOW)
    assert e.value.reason == "signature"


def test_a_token_signed_with_another_secret_is_refused():
    with pytest.raises(letters.BadToken) as e:
        letters.verify_token(SECRET, token(secret=b"another"), NOW)
    assert e.value.reason == "signature"


@pytest.mark.parametrize("bad", ["", "abc", "x" * 300, token() + ".x", token()[:-1],
                                 token().replace(".", "-", 1), token().lower()])
def test_malformed_tokens_are_refused(bad):
    with pytest.raises(letters.BadToken) as e:
        letters.verify_token(SECRET, bad, NOW)
    assert e.value.reason in ("malformed", "signature")


def test_a_token_expires_at_its_expiry_and_not_before():
    t = token(days=1)
    letters.verify_token(SECRET, t, NOW + timedelta(days=1) - timedelta(seconds=1))
    with pytest.raises(letters.BadToken) as e:
        letters.verify_token(SECRET, t, NOW + timedelta(days=1))
    assert e.value.reason == "expired"
    assert "2026-01-02 12:00" in str(e.value)  # said in China Standard Time


def test_letter_ids_follow_the_one_rule_of_counter_commitments():
    # a counter commitment made on version 2 names the letter issued for version 2
    assert letters.letter_id(USCC, 2) == f"CL-{USCC}-V2"


@pytest.mark.parametrize("place_type", ["hotel", "bathhouse", "beauty_salon", "barbershop"])
def test_each_place_type_has_the_common_conditions_and_its_own(place_type):
    found = letters.LetterConfig().conditions(place_type)
    codes = [c.code for c in found]
    assert codes[: len(letters.COMMON_CONDITIONS)] == [c.code for c in letters.COMMON_CONDITIONS]
    assert len(codes) > len(letters.COMMON_CONDITIONS)
    assert len(set(codes)) == len(codes)
    assert all(c.zh and c.en and len(c.as_recorded()) <= 500 for c in found)


def test_a_config_file_replaces_the_conditions_of_a_place_type_and_the_verifier(tmp_path):
    path = tmp_path / "conditions.json"
    path.write_text(json.dumps({
        "place_types": {"hotel": [{"code": "h1", "zh": "条件", "en": "Condition"}]},
        "verifier": {"zh": "检查员", "en": "Inspectors"},
    }), encoding="utf-8")
    config = letters.load_config(path)
    assert [c.code for c in config.conditions("hotel")][-1] == "h1"
    assert len(config.conditions("hotel")) == len(letters.COMMON_CONDITIONS) + 1
    assert config.conditions("barbershop") == letters.LetterConfig().conditions("barbershop")
    assert config.verifier == ("检查员", "Inspectors")


@pytest.mark.parametrize("doc", [
    "not json",
    json.dumps({"place_types": {"spa": []}}),
    json.dumps({"common": [{"code": "x"}]}),
    json.dumps({"common": "x"}),
    json.dumps({"verifier": "x"}),
])
def test_a_bad_config_file_is_refused_clearly(tmp_path, doc):
    path = tmp_path / "conditions.json"
    path.write_text(doc, encoding="utf-8")
    with pytest.raises(InvalidInput) as e:
        letters.load_config(path)
    assert e.value.field == "letter_conditions"


def test_a_missing_config_file_is_refused_clearly(tmp_path):
    with pytest.raises(InvalidInput):
        letters.load_config(tmp_path / "missing.json")


def test_the_letter_holds_identity_conditions_clause_and_verifier():
    data = licence(USCC, place_type="bathhouse")
    doc = letters.compose(data, 1, NOW, letters.expiry(NOW, 30), letters.LetterConfig(), 60)
    assert doc.letter_id == f"CL-{USCC}-V1"
    assert (doc.name, doc.address, doc.district) == (data["name"], data["address"], "230109")
    assert doc.place_type_label == ("公共浴室", "Bathhouse")
    assert doc.district_label == ("松北区", "Songbei District")
    assert any(c.code == "bath_water" for c in doc.conditions)
    assert "false" in doc.legal_clause[1] and "虚假承诺" in doc.legal_clause[0]
    assert doc.verifier[1].startswith("Public-place sanitation inspectors")
    assert doc.issued_on == "2026-01-01" and doc.valid_until == "2026-01-31 12:00"
    assert doc.legal_representative is None  # personal data only when asked for


def test_the_regulators_letter_may_name_the_legal_representative():
    data = licence(USCC)
    doc = letters.compose(data, 1, NOW, NOW, letters.LetterConfig(), 60, with_personal_data=True)
    assert doc.legal_representative == "Wang Li"


def test_an_unknown_district_is_named_by_its_code():
    assert letters.district_label("110101") == ("110101", "Division 110101")


def test_the_link_joins_the_public_url_and_the_token():
    assert letters.commit_link("https://credit.example/", "T") == "https://credit.example/commit/T"


# -- the stored secret ------------------------------------------------------------------------


def test_a_configured_secret_is_used_as_is(services):
    assert letters.secret_key(services.db, "configured") == b"configured"


def test_without_a_configured_secret_one_is_generated_once_and_kept(services, store_settings):
    first = letters.secret_key(services.db, None)
    assert len(first) >= 32
    assert letters.secret_key(services.db, None) == first
    from ledger.storage.db import Database  # another process on the same store sees the same secret

    other = Database(store_settings)
    try:
        assert letters.secret_key(other, None) == first
    finally:
        other.close()


def test_random_usccs_make_valid_tokens():
    uscc = random_uscc()
    assert letters.verify_token(SECRET, token(uscc=uscc), NOW).uscc == uscc
