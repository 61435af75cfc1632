"""One family of errors that the entrypoints map to status and exit codes."""

from __future__ import annotations


class LedgerError(Exception):
    """Base of every error the ledger raises on purpose."""


class InvalidInput(LedgerError):
    """A value is malformed (422): names the field and the reason."""

    def __init__(self, field: str, reason: str, message: str | None = None) -> None:
        self.field = field
        self.reason = reason
        super().__init__(message or f"{field}: {reason}")


class RuleViolation(LedgerError):
    """A command would break a rule of the domain (409)."""

    def __init__(self, rule: str, detail: str) -> None:
        self.rule = rule
        self.detail = detail
        super().__init__(detail)


class EnterpriseNotFound(LedgerError):
    """No enterprise with this USCC (404)."""

    def __init__(self, uscc: str) -> None:
        self.uscc = uscc
        super().__init__(f"no enterprise with USCC {uscc}")


class VersionConflict(LedgerError):
    """The enterprise changed under the command (409) or differs from If-Match (412)."""

    def __init__(self, uscc: str, expected: int | None, actual: int | None) -> None:
        self.uscc = uscc
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"enterprise {uscc} is at version {actual}, not {expected}"
            if expected is not None
            else f"enterprise {uscc} was changed by a concurrent command; retry"
        )


class ConcurrentWrite(VersionConflict):
    """Another command stored the same version first (409)."""


class BeyondLog(LedgerError):
    """A log position or tree size the ledger has not reached yet (404): ask again
    later, or for at most ``size``."""

    def __init__(self, field: str, asked: int, size: int) -> None:
        self.field = field
        self.asked = asked
        self.size = size
        super().__init__(
            f"{field}: {asked} is beyond the log, whose hash tree holds {size} events "
            f"(ask for at most {size})"
        )
