"""The live feed: one Redis Streams reader per gateway process fans events out to WebSocket clients.

Each client has a bounded queue; the reader never waits for a client, so a slow or stalled client
cannot slow the others: when its queue is full it is dropped with a close code that tells it to
reconnect and resume from the last cursor it received. Cursors are ``<stream>/<entry id>``.

Drivers' positions come from the tracking service on the Redis pub/sub channel ``positions.live``. They are
not events to replay but a state to show, so they are coalesced instead of queued: a client holds at most
the latest position per driver not yet sent, and a slow client gets fewer, newer positions, never a backlog.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

import redis.asyncio as aioredis
from prometheus_client import Counter, Gauge, Histogram
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from services.platform import clock

_log = logging.getLogger(__name__)

LIVE_CLIENTS = Gauge("luckygas_gateway_live_clients", "WebSocket clients connected to the live feed.")
LIVE_SENT = Counter("luckygas_gateway_live_events_sent_total", "Events sent to live-feed clients.")
LIVE_DROPPED = Counter(
    "luckygas_gateway_live_clients_dropped_total", "Live-feed clients dropped because they fell behind."
)
LIVE_DELAY = Histogram(
    "luckygas_gateway_live_delay_seconds",
    "From an event's occurred_at to its hand-over to the WebSocket.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)

LIVE_POSITIONS_SENT = Counter("luckygas_gateway_live_positions_sent_total", "Driver positions sent to live clients.")
LIVE_POSITIONS_COALESCED = Counter(
    "luckygas_gateway_live_positions_coalesced_total",
    "Driver positions replaced by a newer one before a slow client was sent them.",
)
LIVE_POSITION_DELAY = Histogram(
    "luckygas_gateway_live_position_delay_seconds",
    "From the tracking service receiving a position to its hand-over to a WebSocket.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)

POSITIONS_CHANNEL = "positions.live"
REPLAY_LIMIT = 10_000
CLOSE_TOO_SLOW = 4008  # private-use close code: "you fell behind; reconnect with your last cursor"


@dataclass(frozen=True)
class LiveEvent:
    cursor: str
    stream: str
    message: dict[str, Any]
    # The message as the JSON text frame every client is sent: encoded once, not once per client.
    text: str


@dataclass(frozen=True)
class LivePosition:
    """A driver's position as clients receive it (``{"type": "driver.position", "payload": …}``), encoded once."""

    payload: dict[str, Any]
    text: str


def decode_entry(stream: str, entry_id: str, fields: dict[str, str]) -> LiveEvent:
    """A stream entry as the message clients receive: the envelope's fields, payload decoded."""
    message: dict[str, Any] = {key: value for key, value in fields.items() if key != "trace_context"}
    with contextlib.suppress(KeyError, ValueError):
        message["payload"] = json.loads(fields["payload"])
    message["cursor"] = f"{stream}/{entry_id}"
    message["stream"] = stream
    return LiveEvent(message["cursor"], stream, message, _encode(message))


def _encode(message: dict[str, Any]) -> str:
    # As Starlette's send_json encodes: compact separators, non-ASCII as it is.
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False)


def parse_cursor(cursor: str, streams: tuple[str, ...]) -> tuple[str, str]:
    stream, _, entry_id = cursor.rpartition("/")
    if stream not in streams or not entry_id.replace("-", "").isdigit():
        raise ValueError(f"{cursor!r} is not a cursor of this feed")
    return stream, entry_id


@dataclass(eq=False)
class LiveClient:
    accepts: Callable[[dict[str, Any]], bool]
    queue: asyncio.Queue[LiveEvent] = field(default_factory=lambda: asyncio.Queue(maxsize=256))
    fell_behind: asyncio.Event = field(default_factory=asyncio.Event)
    wants_positions: bool = False
    # Driver → the newest position not yet sent; ``positions_waiting`` is set while there is any.
    positions: dict[str, LivePosition] = field(default_factory=dict)
    positions_waiting: asyncio.Event = field(default_factory=asyncio.Event)

    def take_positions(self) -> list[LivePosition]:
        taken, self.positions = self.positions, {}
        self.positions_waiting.clear()
        return list(taken.values())


class LiveHub:
    def __init__(self, redis: aioredis.Redis, streams: tuple[str, ...], *, block_ms: int = 1000) -> None:
        self.redis = redis
        self.streams = streams
        self.block_ms = block_ms
        self.clients: set[LiveClient] = set()
        self._readers: list[asyncio.Task[None]] = []
        self._positions: dict[str, str] = {}

    async def start(self) -> None:
        self._readers = [
            asyncio.create_task(self._read_forever(), name="live-feed-reader"),
            asyncio.create_task(self._follow_positions(), name="live-positions-reader"),
        ]

    async def stop(self) -> None:
        for reader in self._readers:
            reader.cancel()
        for reader in self._readers:
            # Bounded: a reader cancelled inside a blocking XREAD must not hold up shutdown.
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(reader, 2.0)

    def subscribe(
        self, accepts: Callable[[dict[str, Any]], bool], queue_size: int = 256, *, positions: bool = False
    ) -> LiveClient:
        client = LiveClient(accepts=accepts, queue=asyncio.Queue(maxsize=queue_size), wants_positions=positions)
        self.clients.add(client)
        LIVE_CLIENTS.set(len(self.clients))
        return client

    def unsubscribe(self, client: LiveClient) -> None:
        self.clients.discard(client)
        LIVE_CLIENTS.set(len(self.clients))

    async def replay(self, cursor: str) -> list[LiveEvent]:
        """Events after ``cursor`` still held in its stream (at most REPLAY_LIMIT)."""
        stream, entry_id = parse_cursor(cursor, self.streams)
        entries = cast(StreamEntries, await self.redis.xrange(stream, min=f"({entry_id}", max="+", count=REPLAY_LIMIT))
        return [decode_entry(stream, _text(entry), _texts(fields)) for entry, fields in entries]

    def dispatch(self, event: LiveEvent) -> None:
        for client in list(self.clients):
            if client.fell_behind.is_set() or not client.accepts(event.message):
                continue
            try:
                client.queue.put_nowait(event)
            except asyncio.QueueFull:
                client.fell_behind.set()
                LIVE_DROPPED.inc()

    def dispatch_position(self, position: dict[str, Any]) -> None:
        driver = position.get("driver")
        if not isinstance(driver, str):
            return
        live = LivePosition(position, _encode({"type": "driver.position", "payload": position}))
        for client in list(self.clients):
            if not client.wants_positions:
                continue
            if driver in client.positions:
                LIVE_POSITIONS_COALESCED.inc()
            client.positions[driver] = live
            client.positions_waiting.set()

    async def _follow_positions(self) -> None:
        backoff = 0.1
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(POSITIONS_CHANNEL)
                backoff = 0.1
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is None or message.get("type") != "message":
                        continue
                    try:
                        position = json.loads(message["data"])
                    except (TypeError, ValueError):
                        _log.warning("ignored a malformed message on %s", POSITIONS_CHANNEL)
                        continue
                    if isinstance(position, dict):
                        self.dispatch_position(position)
            except (RedisConnectionError, RedisTimeoutError, OSError):
                _log.warning("live positions cannot read Redis; retrying", exc_info=True)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                with contextlib.suppress(RedisConnectionError, RedisTimeoutError, OSError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated

    async def _start_positions(self) -> None:
        # Start at each stream's newest entry: clients that need older events resume by cursor.
        for stream in self.streams:
            if stream not in self._positions:
                newest = cast(StreamEntries, await self.redis.xrevrange(stream, count=1))
                self._positions[stream] = _text(newest[0][0]) if newest else "0-0"

    async def _read_forever(self) -> None:
        backoff = 0.1
        while True:
            try:
                await self._start_positions()
                replies = cast(
                    "list[tuple[bytes | str, StreamEntries]] | None",
                    await self.redis.xread(dict(self._positions), count=500, block=self.block_ms),  # type: ignore[arg-type]
                )
                backoff = 0.1
            except (RedisConnectionError, RedisTimeoutError, OSError):
                _log.warning("live feed cannot read Redis; retrying", exc_info=True)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            for stream, entries in replies or []:
                name = _text(stream)
                for entry_id, fields in entries:
                    self._positions[name] = _text(entry_id)
                    event = decode_entry(name, _text(entry_id), _texts(fields))
                    _observe_delay(event.message)
                    self.dispatch(event)


def _observe_delay(message: dict[str, Any]) -> None:
    occurred = message.get("occurred_at")
    if isinstance(occurred, str):
        with contextlib.suppress(ValueError):
            LIVE_DELAY.observe(max(clock.timestamp() - datetime.fromisoformat(occurred).timestamp(), 0.0))


def observe_position_delay(position: dict[str, Any]) -> None:
    received = position.get("received_at")
    if isinstance(received, str):
        with contextlib.suppress(ValueError):
            LIVE_POSITION_DELAY.observe(max(clock.timestamp() - datetime.fromisoformat(received).timestamp(), 0.0))


# What redis-py's stream commands answer (its annotations are looser than the protocol): entries of
# (entry id, fields), and for XREAD a list of (stream, entries).
StreamEntries = list[tuple[bytes | str, dict[Any, Any]]]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _texts(fields: dict[Any, Any]) -> dict[str, str]:
    return {_text(key): _text(value) for key, value in fields.items()}
