"""Group commit: saves that arrive together are written in one transaction.

On PostgreSQL every insert into the log takes an EXCLUSIVE lock on the table until
it commits, so concurrent writers queue for the lock and pay one commit each. Here
concurrent saves queue instead; the first becomes the leader and writes every queued
save of other enterprises in ONE transaction (one lock, one commit), and each writer
gets back its own notification ids, in the order the group was written. While the
leader writes, the next group gathers.

Nothing changes for a writer alone (its group is itself). When a group is refused
because one save's version is taken (a lost race), each save of the group is written
alone, so only that one fails, as it would have without grouping; two saves of the
same enterprise never share a group, so the gap-free check sees every conflict before
the sequence is touched. Saves with a tracking record are always written alone.

A save's ``in_tx`` hook (``ledger.storage.hooked``) travels with it: the leader runs
each save's hook on that save's events inside the group's transaction; a hook that
raises makes the group be written again save by save, so only its own save fails.

Enabled by ``LEDGER_GROUP_COMMIT`` (default on), through the library's
``APPLICATION_RECORDER_TOPIC``.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import IntegrityError, StoredEvent

from ledger.storage.db import Tx
from ledger.storage.events import LoggedEvent
from ledger.storage.gapless import GaplessPostgresApplicationRecorder
from ledger.storage.hooked import HookedSQLiteApplicationRecorder, InTx, InTxFailed

MAX_GROUP_EVENTS = 5_000


class _Save:
    __slots__ = ("events", "in_tx", "originators", "ids", "error", "done")

    def __init__(self, events: Sequence[StoredEvent], in_tx: InTx | None = None) -> None:
        self.events = list(events)
        self.in_tx = in_tx
        self.originators = {e.originator_id for e in self.events}
        self.ids: Sequence[int] | None = None
        self.error: BaseException | None = None
        self.done = False

    def result(self) -> Sequence[int] | None:
        if self.error is not None:
            raise self.error
        return self.ids


class GroupCommit:
    """Mixin for an application recorder: ``insert_events`` groups concurrent calls."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._group_lock = threading.Condition()
        self._group_queue: deque[_Save] = deque()
        self._group_leader = False

    def insert_events(
        self, stored_events: Sequence[StoredEvent], *, in_tx: InTx | None = None,
        **kwargs: Any,
    ) -> Sequence[int] | None:
        if any(v is not None for v in kwargs.values()) or not stored_events:
            return super().insert_events(stored_events, in_tx=in_tx, **kwargs)  # type: ignore[misc]
        mine = _Save(stored_events, in_tx)
        with self._group_lock:
            self._group_queue.append(mine)
            while self._group_leader and not mine.done:
                self._group_lock.wait()
            if mine.done:
                return mine.result()
            self._group_leader = True
        try:
            while not mine.done:
                with self._group_lock:
                    group = self._take()
                self._write(group)
        finally:
            with self._group_lock:
                self._group_leader = False
                self._group_lock.notify_all()
        return mine.result()

    def _take(self) -> list[_Save]:
        """The queued saves, oldest first, that touch no enterprise twice (the rest
        wait for the next group), up to about MAX_GROUP_EVENTS events."""
        group: list[_Save] = []
        touched: set[Any] = set()
        left: deque[_Save] = deque()
        count = 0
        while self._group_queue:
            save = self._group_queue.popleft()
            if (group and count + len(save.events) > MAX_GROUP_EVENTS) or (
                save.originators & touched
            ):
                left.append(save)
                continue
            group.append(save)
            touched |= save.originators
            count += len(save.events)
        self._group_queue.extendleft(reversed(left))
        return group

    def _write(self, group: list[_Save]) -> None:
        if len(group) > 1:
            hooks = [s for s in group if s.in_tx is not None]
            try:
                ids = super().insert_events(  # type: ignore[misc]
                    [e for s in group for e in s.events],
                    in_tx=_group_hook(group) if hooks else None,
                )
            except (IntegrityError, InTxFailed):
                pass  # a version taken or a hook refused: write each alone, so only it fails
            except BaseException as e:  # noqa: BLE001 - handed to every writer of the group
                for save in group:
                    save.error, save.done = e, True
                return
            else:
                start = 0
                for save in group:
                    end = start + len(save.events)
                    save.ids = None if ids is None else list(ids[start:end])
                    save.done = True
                    start = end
                return
        for save in group:
            try:
                save.ids = super().insert_events(save.events, in_tx=save.in_tx)  # type: ignore[misc]
            except BaseException as e:  # noqa: BLE001 - handed to the writer it belongs to
                save.error = e
            save.done = True


def _group_hook(group: list[_Save]) -> InTx:
    """One hook for a group's transaction: each save's hook on its own events."""

    def run(tx: Tx, events: list[LoggedEvent]) -> None:
        start = 0
        for save in group:
            end = start + len(save.events)
            if save.in_tx is not None:
                save.in_tx(tx, events[start:end])
            start = end

    return run


class GroupCommitPostgresRecorder(GroupCommit, GaplessPostgresApplicationRecorder):
    """The gap-free PostgreSQL recorder, with group commit."""


class GroupCommitSQLiteRecorder(GroupCommit, HookedSQLiteApplicationRecorder):
    """The library's SQLite recorder (with the in-transaction hook), with group commit."""
