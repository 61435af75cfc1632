"""Committing through a letter: the one service command for a commitment, used by the
API's ``POST /v1/enterprises/{uscc}/commitments`` and by the page behind a letter's
QR code.

A letter (``ledger.services.letters``) may be used once: ``LetterDesk.commit``
refuses a commitment naming a letter through which one was already recorded, and one
for a banned enterprise, decides on the version it checked, and when another write
came first checks everything again (``retrying``, as every write does). The QR page
first checks its signed link (``LetterDesk.claim``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ledger import values
from ledger.errors import ConcurrentWrite, EnterpriseNotFound, RuleViolation, VersionConflict
from ledger.services import letters, privacy
from ledger.services.application import Ledger, Written, retrying
from ledger.settings import Settings
from ledger.storage.db import Database
from ledger.storage.eventlog import EventLog
from ledger.storage.events import LoggedEvent
from ledger.storage.hooked import InTx


class LetterRefused(RuleViolation):
    """A letter that cannot be used (409, rule ``letter_<reason>``): ``reason`` is
    ``used`` (a commitment through it is recorded), ``banned`` (the enterprise is
    banned) or ``unissued`` (it names a version the enterprise never had)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"letter_{reason}", detail)
        self.reason = reason


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
        uscc = values.uscc(uscc)
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
        licence = licence_of(events)  # its legal representative is a commitment: open it
        with self.db.reading() as tx:
            licence["legal_representative"] = privacy.legal_representative(tx, code)
        doc = letters.compose(
            licence, events[-1].version, now, expires_at, config,
            self.settings.verification_days, with_personal_data=True,
        )
        token = letters.sign_token(self.secret, code, doc.version, expires_at)
        link = letters.commit_link(self.settings.public_url, token)
        return Issued(doc, link, any(e.type == "Committed" for e in events))

    def claim(self, token: str, now: datetime, config: letters.LetterConfig) -> Claimed:
        """The letter a link grants, still usable (BadToken or LetterRefused otherwise;
        nothing is stored)."""
        claim = letters.verify_token(self.secret, token, now)
        events = self.events(claim.uscc)
        check_usable(events, claim.letter_id)
        if claim.version > events[-1].version:
            raise LetterRefused("unissued", "This link names a letter that was never issued.")
        doc = letters.compose(
            licence_of(events), claim.version, now, claim.expires_at, config,
            self.settings.verification_days,
        )
        return Claimed(claim, doc, events)

    def commit(
        self,
        uscc: str,
        *,
        letter_id: str | None = None,
        expected_version: int | None = None,
        in_tx: InTx | None = None,
        **fields: Any,
    ) -> Written:
        """``Ledger.commit`` (``fields``: committed_at, signatory, channel, conditions)
        through the letter ``letter_id``, when named: refused when a commitment through
        it is recorded; with ``expected_version`` only on that version, else decided
        again (the letter checked again) when another write came first. ``in_tx`` as
        for every ``Ledger`` command (run in the transaction that stores the events)."""

        def attempt(expected: int | None) -> Written:
            events = self.events(uscc)
            if letter_id is not None:
                check_unused(events, letter_id)  # a ban is the aggregate's own guard
            version = events[-1].version
            if expected is not None and expected != version:
                raise VersionConflict(events[-1].uscc, expected, version)
            try:
                return self.ledger.commit(
                    uscc, letter_id=letter_id, expected_version=version, in_tx=in_tx, **fields
                )
            except VersionConflict as e:  # written since we checked: check again
                if expected is not None or isinstance(e, ConcurrentWrite):
                    raise
                raise ConcurrentWrite(e.uscc, None, None) from None

        return retrying(attempt, expected_version)


def check_usable(events: list[LoggedEvent], letter_id: str) -> None:
    """A letter is used once, and never for a banned enterprise."""
    check_unused(events, letter_id)
    if any(e.type == "Banned" for e in events):
        raise LetterRefused(
            "banned", f"Enterprise {events[0].uscc} is banned, so no commitment can be recorded."
        )


def check_unused(events: list[LoggedEvent], letter_id: str) -> None:
    used = next(
        (e for e in events if e.type == "Committed" and e.data.get("letter_id") == letter_id),
        None,
    )
    if used is not None:
        raise LetterRefused(
            "used",
            f"The commitment for letter {letter_id} was already recorded on "
            f"{used.occurred_on}. A letter can be used once; ask the regulator for a new "
            "letter if you need to commit again.",
        )
