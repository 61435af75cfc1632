"""Committing through a letter: the one service command behind the QR link's page.

A letter (``ledger.services.letters``) is issued for an enterprise at one version and
may be used once. ``LetterDesk.commit`` checks the link, refuses a spent letter, a
banned enterprise or a letter never issued, records the commitment on the version the
letter was checked against, and on a concurrent write checks everything again.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ledger.errors import EnterpriseNotFound, LedgerError, VersionConflict
from ledger.services import letters
from ledger.services.application import Ledger, Written
from ledger.settings import Settings
from ledger.storage.db import Database
from ledger.storage.eventlog import EventLog
from ledger.storage.events import LoggedEvent
from ledger.uscc import validate_uscc

TRIES = 3


class LetterRefused(LedgerError):
    """A letter that cannot be used now: ``reason`` is ``used`` (already committed
    through), ``banned`` (the enterprise is banned), ``unissued`` (names a version the
    enterprise never had) or ``changed`` (the record kept changing while committing)."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(detail)


@dataclass
class Claimed:
    claim: letters.LetterClaim
    letter: letters.Letter
    events: list[LoggedEvent]


@dataclass(frozen=True)
class Issued:
    letter: letters.Letter
    link: str
    renewed: bool  # the enterprise has committed before


def licence_of(events: list[LoggedEvent]) -> dict[str, Any]:
    return {"uscc": events[0].uscc, **events[0].data}


class LetterDesk:
    def __init__(self, ledger: Ledger, db: Database, log: EventLog, settings: Settings) -> None:
        self.ledger = ledger
        self.db = db
        self.log = log
        self.settings = settings

    @functools.cached_property
    def secret(self) -> bytes:
        """The HMAC secret (read, or stored at first start, once per process)."""
        return letters.secret_key(self.db, self.settings.secret_key)

    def events(self, uscc: str) -> list[LoggedEvent]:
        uscc = validate_uscc(uscc)
        with self.db.reading() as tx:
            events = self.log.of_enterprise(tx, uscc)
        if not events:
            raise EnterpriseNotFound(uscc)
        return events

    def issue(self, uscc: str, now: datetime, config: letters.LetterConfig) -> Issued:
        """The letter for the enterprise as it stands now, with its signed link."""
        events = self.events(uscc)
        code = events[0].uscc
        if any(e.type == "Banned" for e in events):
            raise LetterRefused("banned", f"Enterprise {code} is banned: a ban is terminal, "
                                "so no commitment can be made.")
        expires_at = letters.expiry(now, self.settings.letter_token_days)
        doc = letters.compose(
            licence_of(events), events[-1].version, now, expires_at, config,
            self.settings.verification_days, with_personal_data=True,
        )
        token = letters.sign_token(self.secret, code, doc.version, expires_at)
        link = letters.commit_link(self.settings.public_url, token)
        return Issued(doc, link, any(e.type == "Committed" for e in events))

    def claim(self, token: str, now: datetime, config: letters.LetterConfig) -> Claimed:
        """The letter a link grants, still unused (BadToken or LetterRefused otherwise;
        nothing is stored)."""
        claim = letters.verify_token(self.secret, token, now)
        events = self.events(claim.uscc)
        used = next(
            (e for e in events
             if e.type == "Committed" and e.data.get("letter_id") == claim.letter_id),
            None,
        )
        if used is not None:
            raise LetterRefused(
                "used",
                f"The commitment for letter {claim.letter_id} was already recorded on "
                f"{used.occurred_on}. A letter can be used once; ask the regulator for a new "
                "letter if you need to commit again.",
            )
        if any(e.type == "Banned" for e in events):
            raise LetterRefused(
                "banned", f"Enterprise {claim.uscc} is banned, so no commitment can be recorded."
            )
        if claim.version > events[-1].version:
            raise LetterRefused("unissued", "This link names a letter that was never issued.")
        doc = letters.compose(
            licence_of(events), claim.version, now, claim.expires_at, config,
            self.settings.verification_days,
        )
        return Claimed(claim, doc, events)

    def commit(
        self, token: str, signatory: str, now: datetime, config: letters.LetterConfig,
        claimed: Claimed | None = None,
    ) -> tuple[Claimed, Written]:
        """Record the commitment through the letter of ``token`` (channel ``qr``, every
        condition of the letter acknowledged), on the version the letter was checked
        against; if another write came first, check the letter again and retry."""
        claimed = claimed or self.claim(token, now, config)
        for _ in range(TRIES):
            try:
                written = self.ledger.commit(
                    claimed.claim.uscc,
                    committed_at=now,
                    signatory=signatory,
                    letter_id=claimed.claim.letter_id,
                    channel="qr",
                    conditions=[c.as_recorded() for c in claimed.letter.conditions],
                    expected_version=claimed.events[-1].version,
                )
                return claimed, written
            except VersionConflict:
                claimed = self.claim(token, now, config)  # someone wrote first: check again
        raise LetterRefused("changed", "The enterprise's record changed while the commitment "
                            "was being saved. Open the link again.")
