"""Every service's in-process copy of the flags (``FlagStore``) and what keeps it current (``FlagWatcher``).

The watcher follows the flag service's ``WatchFlags`` stream (a full set, then changes) and, for speed across
replicas, the Redis pub/sub channel ``flags.changed``. Either may break; the store then keeps serving the last
flags it had (fail static) and nothing raises into the code that evaluates.

Ordering: the stream and Redis may deliver the same change twice or out of order, so a change replaces a
flag only when its version is newer, deletions leave a versioned tombstone, and a full set does not undo a
change that arrived after the full set was taken (a higher revision).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import grpc
from luckygas.flags.v1 import flags_pb2, flags_pb2_grpc
from prometheus_client import Counter, Gauge
from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.platform import clock
from services.platform.errors import InvalidArgument
from services.platform.flags.engine import Evaluation, FlagDefinition, evaluate, parse_flag_json
from services.platform.grpc_client import open_channel

CHANGES_CHANNEL = "flags.changed"
FLAG_SERVICE = flags_pb2.DESCRIPTOR.services_by_name["FlagService"]

# Not luckygas_flags_revision: the flag service's own catalogue exports that name, and one process may import both.
REVISION = Gauge("luckygas_flags_local_revision", "Revision of the in-process flags this process evaluates from.")
STREAM_CONNECTED = Gauge(
    "luckygas_flags_stream_connected", "1 while the flag watch stream is connected and has delivered its full set."
)
UPDATES = Counter(
    "luckygas_flags_updates_total", "Flag sets and change messages applied to the in-process copy.", ["source"]
)
# Per flag, so an SRE (and the end-to-end test) can see when each process has taken a change such as a kill.
FLAG_VERSION = Gauge("luckygas_flag_version", "Version of each flag this process evaluates from.", ["flag"])
FLAG_ENABLED = Gauge("luckygas_flag_enabled", "1 when the flag is ENABLED in this process, 0 when killed.", ["flag"])
REJECTED = Counter(
    "luckygas_flags_rejected_total", "Flag definitions received that did not parse; the last good one is kept."
)

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FlagChange:
    """One flag at one version; ``flag`` None means the flag was deleted."""

    key: str
    version: int
    flag: FlagDefinition | None


@dataclass(frozen=True)
class _Entry:
    change: FlagChange
    revision: int  # the revision of the set or message that brought it


ChangeListener = Callable[[set[str]], None]


def _same(before: FlagDefinition | None, after: FlagDefinition | None) -> bool:
    if before is None or after is None:
        return before is after
    return before is after or (before.version == after.version and before.to_json() == after.to_json())


class FlagStore:
    """The in-process flags. Reads never lock: every update builds a new mapping and swaps it in whole."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}
        self._flags: Mapping[str, FlagDefinition] = {}
        self._revision = 0
        self._listeners: list[ChangeListener] = []
        self.last_applied_at: float | None = None
        """Unix time of the last update that changed something (None: nothing loaded yet)."""
        self.loaded = asyncio.Event()
        """Set once a full flag set has been applied."""

    @property
    def revision(self) -> int:
        return self._revision

    def get(self, key: str) -> FlagDefinition | None:
        return self._flags.get(key)

    def flags(self) -> Mapping[str, FlagDefinition]:
        """The current flags (a snapshot: later updates do not change it)."""
        return self._flags

    def evaluate(
        self, key: str, context: Mapping[str, Any] | None, *, expected_type: type | None = None, default: Any = None
    ) -> Evaluation:
        return evaluate(self._flags.get(key), key, context, expected_type=expected_type, default=default)

    def add_listener(self, listener: ChangeListener) -> None:
        """Called with the keys that changed after every update that changed something."""
        self._listeners.append(listener)

    def remove_listener(self, listener: ChangeListener) -> None:
        with suppress(ValueError):
            self._listeners.remove(listener)

    def replace_all(self, changes: Iterable[FlagChange], revision: int) -> set[str]:
        """The whole set at ``revision``: flags not in it are gone, except changes newer than the set."""
        incoming = {change.key: _Entry(change, revision) for change in changes}
        entries = dict(incoming)
        latest = revision
        for key, current in self._entries.items():
            newer = current.revision > revision
            if newer and (key not in incoming or current.change.version > incoming[key].change.version):
                entries[key] = current
                latest = max(latest, current.revision)
        # The set is authoritative: the revision may go down (e.g. the flag service's database was restored).
        changed = self._swap(entries, latest)
        self.loaded.set()
        return changed

    def apply_changes(self, changes: Iterable[FlagChange], revision: int) -> set[str]:
        """Changed flags at ``revision``; a change older than the version already held is ignored."""
        entries = dict(self._entries)
        for change in changes:
            current = entries.get(change.key)
            if current is None or change.version > current.change.version:
                entries[change.key] = _Entry(change, revision)
        return self._swap(entries, max(revision, self._revision))

    def apply_flag_set(self, flag_set: flags_pb2.FlagSet) -> set[str]:
        """A ``FlagSet`` from the flag service: the full set when ``full``, else changes."""
        changes = self._parse([(flag.key, flag.definition_json, flag.version, flag.deleted) for flag in flag_set.flags])
        if flag_set.full:
            return self.replace_all(changes, flag_set.revision)
        return self.apply_changes(changes, flag_set.revision)

    def apply_message(self, payload: str | bytes) -> set[str]:
        """A ``flags.changed`` pub/sub message: ``{"revision": n, "flags": [{"key", "definition_json",
        "version", "deleted", ...}]}``. ValueError when it is not one."""
        try:
            message = json.loads(payload)
            revision = int(message["revision"])
            flags = [
                (str(flag["key"]), str(flag.get("definition_json", "")), int(flag["version"]), bool(flag["deleted"]))
                for flag in message["flags"]
            ]
        except (KeyError, TypeError, AttributeError) as error:
            raise ValueError(f"not a flag change message: {error!r}") from error
        return self.apply_changes(self._parse(flags), revision)

    def _parse(self, flags: Iterable[tuple[str, str, int, bool]]) -> list[FlagChange]:
        changes = []
        for key, definition_json, version, deleted in flags:
            if deleted:
                changes.append(FlagChange(key, version, None))
                continue
            try:
                changes.append(FlagChange(key, version, parse_flag_json(key, definition_json, version=version)))
            except InvalidArgument as error:
                # Fail static: keep evaluating the last good definition of this flag.
                REJECTED.inc()
                _log.error("flag %s version %s does not parse; keeping the last good one: %s", key, version, error)
        return changes

    def _swap(self, entries: dict[str, _Entry], revision: int) -> set[str]:
        flags = {key: entry.change.flag for key, entry in entries.items() if entry.change.flag is not None}
        changed = {key for key in self._flags.keys() | flags.keys() if not _same(self._flags.get(key), flags.get(key))}
        self._entries = entries
        self._flags = flags
        self._revision = revision
        if changed:
            self.last_applied_at = clock.timestamp()
            _export(changed, flags)
            for listener in list(self._listeners):
                try:
                    listener(changed)
                except Exception:  # noqa: BLE001 - a listener's bug must not stop flag updates
                    _log.exception("flag change listener failed")
        return changed


def _export(changed: set[str], flags: Mapping[str, FlagDefinition]) -> None:
    for key in changed:
        flag = flags.get(key)
        if flag is None:
            with suppress(KeyError):
                FLAG_VERSION.remove(key)
                FLAG_ENABLED.remove(key)
            continue
        FLAG_VERSION.labels(key).set(flag.version)
        FLAG_ENABLED.labels(key).set(1 if flag.enabled else 0)


class FlagWatcher:
    """Keeps a ``FlagStore`` current from the flag service's watch stream and Redis pub/sub, until stopped.

    Start it in the service's lifespan (``async with FlagWatcher(...)`` or ``start``/``stop``); it reconnects
    with backoff on its own and never raises into the service.
    """

    def __init__(
        self,
        store: FlagStore,
        flag_service_address: str | None,
        *,
        watcher: str,
        redis: Redis | None = None,
        channel: str = CHANGES_CHANNEL,
        initial_backoff: float = 0.1,
        max_backoff: float = 5.0,
    ) -> None:
        self.store = store
        self.address = flag_service_address
        self.watcher = watcher
        self.redis = redis
        self.channel = channel
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.stream_connected = False
        self.redis_subscribed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> FlagWatcher:
        self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    def start(self) -> None:
        if self._tasks:
            return
        if self.address:
            self._tasks.append(asyncio.create_task(self._follow_stream(), name="flags-watch-stream"))
        if self.redis is not None:
            self._tasks.append(asyncio.create_task(self._follow_redis(), name="flags-pubsub"))

    async def wait_until_loaded(self, within: float) -> bool:
        """True once a full set is in; False after ``within`` seconds (the service then starts on code defaults)."""
        try:
            await asyncio.wait_for(self.store.loaded.wait(), within)
        except TimeoutError:
            return False
        return True

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with suppress(asyncio.CancelledError):
                await task
        self._set_connected(False)

    def _set_connected(self, connected: bool) -> None:
        self.stream_connected = connected
        STREAM_CONNECTED.set(1 if connected else 0)

    async def _follow_stream(self) -> None:
        assert self.address is not None
        delay = self.initial_backoff
        while True:
            channel = open_channel(self.address, FLAG_SERVICE)
            try:
                stub = flags_pb2_grpc.FlagServiceStub(channel)
                call = stub.WatchFlags(flags_pb2.WatchFlagsRequest(watcher=self.watcher))
                async for flag_set in call:
                    self.store.apply_flag_set(flag_set)
                    UPDATES.labels("stream").inc()
                    REVISION.set(self.store.revision)
                    if flag_set.full:
                        self._set_connected(True)
                        delay = self.initial_backoff
                _log.warning("flag watch stream ended; reconnecting", extra={"retry_in_seconds": delay})
            except asyncio.CancelledError:
                raise
            except grpc.aio.AioRpcError as error:
                _log.warning(
                    "flag watch stream failed (%s); serving the last known flags",
                    error.code().name,
                    extra={"retry_in_seconds": delay},
                )
            except Exception:  # noqa: BLE001 - the watcher must outlive any surprise; flags stay as they were
                _log.exception("flag watch stream failed; serving the last known flags")
            finally:
                self._set_connected(False)
                await channel.close()
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.max_backoff)

    async def _follow_redis(self) -> None:
        assert self.redis is not None
        delay = self.initial_backoff
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self.redis_subscribed.set()
                delay = self.initial_backoff
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is None or message.get("type") != "message":
                        continue
                    try:
                        self.store.apply_message(message["data"])
                    except ValueError:
                        _log.warning("ignored a malformed message on %s", self.channel, exc_info=True)
                        continue
                    UPDATES.labels("redis").inc()
                    REVISION.set(self.store.revision)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError):
                _log.warning("flag pub/sub connection lost; reconnecting", extra={"retry_in_seconds": delay})
            except Exception:  # noqa: BLE001 - as above: never let the watcher die
                _log.exception("flag pub/sub listener failed; reconnecting")
            finally:
                self.redis_subscribed.clear()
                with suppress(RedisError, OSError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.max_backoff)
