"""How a background job (the projection follower, the hash-tree checkpointer, the access
log's writer) reports failures that it retries: while the database is away it fails
every second or faster, and a traceback each time would bury everything else in the log.

The first failure is logged with its traceback; while failures go on, one line every
``every`` seconds says for how long and how often (a failure of another kind is logged
with its traceback again); the first success after them says the job recovered.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable


class Failures:
    def __init__(
        self,
        logger: logging.Logger,
        job: str,
        every: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.job = job
        self.every = every
        self.clock = clock
        self.since: float | None = None  # the first failure of the current run of them
        self.count = 0
        self.kind: type | None = None  # of the last failure logged with its traceback
        self.said = 0.0

    def failed(self) -> None:
        """Call from the ``except`` block of the failed attempt."""
        error = sys.exc_info()[1]
        now = self.clock()
        self.count += 1
        if self.since is None or type(error) is not self.kind:
            if self.since is None:
                self.since, self.count = now, 1
            self.kind, self.said = type(error), now
            self.logger.exception("%s failed; retrying", self.job)
        elif now - self.said >= self.every:
            self.said = now
            self.logger.warning(
                "%s still failing after %.0f s (%d attempts): %s",
                self.job, now - self.since, self.count, one_line(error),
            )

    def succeeded(self) -> None:
        """Call after an attempt that worked."""
        if self.since is None:
            return
        self.logger.warning(
            "%s recovered after %.0f s (%d failed attempts)",
            self.job, self.clock() - self.since, self.count,
        )
        self.since, self.kind, self.count = None, None, 0


def one_line(error: BaseException | None) -> str:
    if error is None:
        return ""
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}"[:300]
