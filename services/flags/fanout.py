"""Fan-out of committed flag changes: Redis pub/sub channel ``flags.changed``, and the listener that keeps a
catalogue current from it (with a periodic database comparison for messages pub/sub lost).

A message is JSON: ``{"revision": n, "flags": [{"key", "definition_json", "description", "version", "deleted",
"updated_at", "updated_by"}]}``; in-process evaluators of other services subscribe to the same channel.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress
from datetime import datetime
from typing import Any

from prometheus_client import Counter
from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.flags.catalogue import FlagCatalogue
from services.flags.schemas import ChangeSet, FlagRecord, to_json
from services.platform.errors import Unavailable

CHANNEL = "flags.changed"
PUBLISH_TIMEOUT_SECONDS = 1.0

PUBLISH_FAILURES = Counter(
    "luckygas_flags_publish_failures_total", "Flag changes committed but not published on Redis pub/sub."
)
RESYNCS = Counter(
    "luckygas_flags_resyncs_total", "Times the in-memory copy found itself behind the database and caught up."
)

_log = logging.getLogger(__name__)


def flag_to_message(record: FlagRecord) -> dict[str, Any]:
    return {
        "key": record.key,
        "definition_json": record.definition_json,
        "description": record.description,
        "version": record.version,
        "deleted": record.deleted,
        "updated_at": record.updated_at.isoformat(),
        "updated_by": record.updated_by,
    }


def encode(changes: ChangeSet) -> str:
    return to_json({"revision": changes.revision, "flags": [flag_to_message(record) for record in changes.flags]})


def decode(payload: str | bytes) -> ChangeSet:
    """ValueError when the message is not one this module wrote."""
    try:
        document = json.loads(payload)
        return ChangeSet(
            revision=int(document["revision"]),
            flags=[
                FlagRecord(
                    key=str(flag["key"]),
                    definition=json.loads(flag["definition_json"]),
                    description=str(flag.get("description", "")),
                    version=int(flag["version"]),
                    deleted=bool(flag["deleted"]),
                    updated_at=datetime.fromisoformat(flag["updated_at"]),
                    updated_by=str(flag.get("updated_by", "")),
                )
                for flag in document["flags"]
            ],
        )
    except (KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"not a flag change message: {error!r}") from error


async def publish(redis: Redis, changes: ChangeSet) -> bool:
    """Best effort: the change is committed whatever happens here; replicas that miss it catch up at resync."""
    try:
        await asyncio.wait_for(redis.publish(CHANNEL, encode(changes)), PUBLISH_TIMEOUT_SECONDS)
    except (RedisError, OSError, TimeoutError):
        PUBLISH_FAILURES.inc()
        _log.warning("flag change not published on Redis; replicas catch up at their next resync", exc_info=True)
        return False
    return True


Snapshot = Callable[[], Awaitable[ChangeSet]]
Revision = Callable[[], Awaitable[int]]


class CatalogueSync:
    """Keeps a catalogue current: loads it, follows Redis pub/sub, and compares with the database regularly."""

    def __init__(
        self,
        catalogue: FlagCatalogue,
        redis: Redis,
        snapshot: Snapshot,
        revision: Revision,
        *,
        resync_seconds: float = 2.0,
        retry_max_seconds: float = 10.0,
    ) -> None:
        self.catalogue = catalogue
        self.redis = redis
        self.snapshot = snapshot  # every flag, deleted ones included, with its revision
        self.revision = revision
        self.resync_seconds = resync_seconds
        self.retry_max_seconds = retry_max_seconds
        self._resync_now = asyncio.Event()
        self.subscribed = asyncio.Event()
        # The revision of the last database snapshot applied. Pub/sub may deliver change r and lose an earlier
        # one, so "the copy has seen r" does not mean "the copy has everything up to r"; only a snapshot does.
        self.synced_revision = -1

    async def load(self) -> None:
        changes = await self.snapshot()
        self.catalogue.apply(changes)
        self.synced_revision = changes.revision

    async def run(self) -> None:
        """Follow pub/sub and resync until cancelled."""
        listener = asyncio.create_task(self._listen(), name="flags-pubsub")
        try:
            await self._resync_forever()
        finally:
            listener.cancel()
            with suppress(asyncio.CancelledError):
                await listener

    async def resync(self) -> bool:
        """Compare with the database when it has moved since the last snapshot; True when we were behind.

        After every change this reads the flags once more (a few dozen rows), which confirms what pub/sub
        delivered and repairs what it did not.
        """
        if await self.revision() == self.synced_revision:
            return False
        changes = await self.snapshot()
        behind = bool(self.catalogue.apply(changes))
        self.synced_revision = changes.revision
        if behind:
            RESYNCS.inc()
            _log.info("flag copy caught up with the database", extra={"revision": changes.revision})
        return behind

    async def _resync_forever(self) -> None:
        while True:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that arrives just as
            # the event is set, and this loop (and whoever awaits its cancellation) would never end.
            with suppress(TimeoutError):
                async with asyncio.timeout(self.resync_seconds):
                    await self._resync_now.wait()
            self._resync_now.clear()
            try:
                await self.resync()
            except Unavailable:
                _log.warning("flag resync: the database is unreachable; serving the last known flags")

    async def _listen(self) -> None:
        delay = 0.2
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(CHANNEL)
                self.subscribed.set()
                self._resync_now.set()  # changes may have been published while nobody listened
                delay = 0.2
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is None or message.get("type") != "message":
                        continue
                    try:
                        self.catalogue.apply(decode(message["data"]))
                    except ValueError:
                        _log.warning("ignored a malformed message on %s", CHANNEL, exc_info=True)
            except (RedisError, OSError):
                self.subscribed.clear()
                _log.warning("flag pub/sub connection lost; reconnecting", extra={"retry_in_seconds": delay})
            finally:
                with suppress(RedisError, OSError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.retry_max_seconds)
