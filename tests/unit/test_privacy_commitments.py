"""Commitments to personal values (no I/O): the README's worked example, and what the
service layer hands the aggregate."""

from __future__ import annotations

import hashlib

from ledger.audit.encoding import leaf_bytes
from ledger.services.privacy import Sealed, check, commitment, is_commitment
from ledger.services.redaction import redact
from ledger.storage.events import LoggedEvent

SALT = bytes(range(16))
EXAMPLE = "sha256:1eb995c0853e7a5b17bfc5e4ce50ffc02996e277b1d8f0f765736ebe90225f07"


def test_the_readmes_worked_example_commitment_and_leaf_hash():
    assert commitment("Wang Li", SALT) == EXAMPLE
    assert check("Wang Li", SALT.hex(), EXAMPLE) and not check("Wang Lj", SALT.hex(), EXAMPLE)
    event = LoggedEvent(
        1, "d3339ed3-6ac5-5847-b691-0eca02e3e8d2", "91350200776049653A", "Licensed", 1,
        "2025-01-02T09:00:00+08:00", "2026-01-01T04:00:00+00:00",
        {"address": "18 Chuangxin Road, Songbei District, Harbin", "district": "230109",
         "legal_representative": EXAMPLE, "name": "Songbei Riverside Barbershop",
         "place_type": "barbershop"},
    )
    leaf = hashlib.sha256(b"\x00" + leaf_bytes(event)).hexdigest()
    assert leaf == "1befba51d57a5282ba9d69c5d5cbad0d8332446fbafc947f4f9d3808e5a345c1"


def test_each_value_gets_its_own_random_salt_and_is_stripped():
    sealed = Sealed()
    a, b = sealed.seal("signatory", " Wang Li "), sealed.seal("signatory", "Wang Li")
    assert is_commitment(a) and is_commitment(b) and a != b
    assert {v[1] for v in sealed.values.values()} == {"Wang Li"}
    assert all(len(v[2]) == 16 for v in sealed.values.values())


def test_a_value_the_aggregate_refuses_is_passed_through_unsealed():
    sealed = Sealed()
    for bad in ("", "   ", None, 7, "x" * 101):
        assert sealed.seal("inspector", bad) == bad
    assert not sealed


def test_readers_without_audit_read_see_commitments_or_nothing():
    event = {"type": "Licensed", "data": {"name": "A shop", "legal_representative": EXAMPLE}}
    assert redact(event, False) == event
    legacy = {"data": {"name": "A shop", "legal_representative": "Wang Li"}}  # before v2
    assert redact(legacy, False) == {"data": {"name": "A shop"}}
    assert redact(legacy, True) == legacy
    standing = {"uscc": "X", "legal_representative": EXAMPLE}
    assert redact(standing, False) == {"uscc": "X"}
