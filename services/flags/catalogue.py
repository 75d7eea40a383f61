"""The flag service's in-memory copy of every flag: what EvaluateFlag/EvaluateAll read and WatchFlags streams.

Kept current by the writes of this process (at once, after commit), by Redis pub/sub for the writes of other
replicas, and by a periodic comparison with the database for anything either missed. A flag is replaced only
by a higher version of itself, so the same change arriving twice, or late, is harmless.
"""

from __future__ import annotations

import asyncio
from collections import deque

from prometheus_client import Gauge

from services.flags.schemas import ChangeSet, FlagRecord
from services.platform.errors import InvalidArgument
from services.platform.flags.engine import FlagDefinition, parse_flag

WATCHERS = Gauge("luckygas_flags_watchers", "Open WatchFlags streams on this replica.")
REVISION = Gauge("luckygas_flags_revision", "The revision (highest audit sequence) of this replica's copy.")

# Change sets a watcher may fall behind by before it is sent a fresh full set instead of each change.
WATCHER_BACKLOG = 100


class Subscription:
    """One watcher's queue of change sets. ``None`` from :meth:`next` means: send the full set again."""

    def __init__(self, backlog: int = WATCHER_BACKLOG) -> None:
        self._pending: deque[ChangeSet] = deque()
        self._backlog = backlog
        self._ready = asyncio.Event()
        self._resend_full = False
        self.closed = False

    def push(self, changes: ChangeSet) -> None:
        if self._resend_full:
            return  # the full set, taken when it is sent, will include this change
        if len(self._pending) >= self._backlog:
            # A watcher this slow gets one full set rather than an ever longer queue.
            self._pending.clear()
            self._resend_full = True
        else:
            self._pending.append(changes)
        self._ready.set()

    def close(self) -> None:
        self.closed = True
        self._ready.set()

    async def next(self) -> ChangeSet | None:
        """The next change set, or None when the watcher must be sent the full set; raises EOFError once closed."""
        while True:
            if self.closed:
                raise EOFError
            if self._resend_full:
                self._resend_full = False
                return None
            if self._pending:
                return self._pending.popleft()
            self._ready.clear()
            await self._ready.wait()


class FlagCatalogue:
    def __init__(self) -> None:
        self.revision = 0
        # Every key ever seen with its latest version, deleted ones too (so a late, older change is ignored).
        self._flags: dict[str, FlagRecord] = {}
        # Live flags compiled by the engine once per version; the reason when a stored definition no longer
        # compiles (an engine grown stricter since it was written): it then evaluates to PARSE_ERROR.
        self._compiled: dict[str, FlagDefinition | str] = {}
        self._subscriptions: set[Subscription] = set()

    def apply(self, changes: ChangeSet) -> list[FlagRecord]:
        """Take the flags of ``changes`` that are newer than ours; tell every watcher what changed."""
        newer = [
            record
            for record in changes.flags
            if record.key not in self._flags or record.version > self._flags[record.key].version
        ]
        for record in newer:
            self._flags[record.key] = record
            self._compile(record)
        moved = changes.revision > self.revision
        self.revision = max(self.revision, changes.revision)
        REVISION.set(self.revision)
        if newer or moved:
            published = ChangeSet(self.revision, newer)
            if newer:
                for subscription in self._subscriptions:
                    subscription.push(published)
        return newer

    def _compile(self, record: FlagRecord) -> None:
        if record.deleted:
            self._compiled.pop(record.key, None)
            return
        try:
            self._compiled[record.key] = parse_flag(record.key, record.definition, version=record.version)
        except InvalidArgument as error:
            self._compiled[record.key] = str(error)

    def compiled(self, key: str) -> FlagDefinition | str | None:
        """The live flag as the engine compiled it, the reason it does not compile, or None if there is none."""
        return self._compiled.get(key)

    def keys(self) -> list[str]:
        """Every live flag's key, sorted."""
        return sorted(self._compiled)

    def get(self, key: str) -> FlagRecord | None:
        """The flag if it exists and is not deleted."""
        record = self._flags.get(key)
        return None if record is None or record.deleted else record

    def snapshot(self) -> ChangeSet:
        """Every live flag, by key, at the current revision."""
        live = [record for _, record in sorted(self._flags.items()) if not record.deleted]
        return ChangeSet(self.revision, live, full=True)

    def subscribe(self) -> tuple[ChangeSet, Subscription]:
        """The full set now and a subscription to every change after it (no await between: nothing is missed)."""
        subscription = Subscription()
        self._subscriptions.add(subscription)
        WATCHERS.set(len(self._subscriptions))
        return self.snapshot(), subscription

    @property
    def watchers(self) -> int:
        return len(self._subscriptions)

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)
        WATCHERS.set(len(self._subscriptions))

    def close(self) -> None:
        """End every watch stream (shutdown): watchers reconnect to another replica."""
        for subscription in self._subscriptions:
            subscription.close()
