"""The live feed: one Redis Streams reader per gateway process fans events out to WebSocket clients.

Each client has a bounded queue; the reader never waits for a client, so a slow or stalled client
cannot slow the others: when its queue is full it is dropped with a close code that tells it to
reconnect and resume from the last cursor it received. Cursors are ``<stream>/<entry id>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import redis.asyncio as aioredis
from prometheus_client import Counter, Gauge, Histogram
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

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

REPLAY_LIMIT = 10_000
CLOSE_TOO_SLOW = 4008  # private-use close code: "you fell behind; reconnect with your last cursor"


@dataclass(frozen=True)
class LiveEvent:
    cursor: str
    stream: str
    message: dict[str, Any]


def decode_entry(stream: str, entry_id: str, fields: dict[str, str]) -> LiveEvent:
    """A stream entry as the message clients receive: the envelope's fields, payload decoded."""
    message: dict[str, Any] = {key: value for key, value in fields.items() if key != "trace_context"}
    with contextlib.suppress(KeyError, ValueError):
        message["payload"] = json.loads(fields["payload"])
    message["cursor"] = f"{stream}/{entry_id}"
    message["stream"] = stream
    return LiveEvent(message["cursor"], stream, message)


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


class LiveHub:
    def __init__(self, redis: aioredis.Redis, streams: tuple[str, ...], *, block_ms: int = 1000) -> None:
        self.redis = redis
        self.streams = streams
        self.block_ms = block_ms
        self.clients: set[LiveClient] = set()
        self._reader: asyncio.Task[None] | None = None
        self._positions: dict[str, str] = {}

    async def start(self) -> None:
        self._reader = asyncio.create_task(self._read_forever(), name="live-feed-reader")

    async def stop(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            # Bounded: a reader cancelled inside a blocking XREAD must not hold up shutdown.
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._reader, 2.0)

    def subscribe(self, accepts: Callable[[dict[str, Any]], bool], queue_size: int = 256) -> LiveClient:
        client = LiveClient(accepts=accepts, queue=asyncio.Queue(maxsize=queue_size))
        self.clients.add(client)
        LIVE_CLIENTS.set(len(self.clients))
        return client

    def unsubscribe(self, client: LiveClient) -> None:
        self.clients.discard(client)
        LIVE_CLIENTS.set(len(self.clients))

    async def replay(self, cursor: str) -> list[LiveEvent]:
        """Events after ``cursor`` still held in its stream (at most REPLAY_LIMIT)."""
        stream, entry_id = parse_cursor(cursor, self.streams)
        entries = await self.redis.xrange(stream, min=f"({entry_id}", max="+", count=REPLAY_LIMIT)
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

    async def _start_positions(self) -> None:
        # Start at each stream's newest entry: clients that need older events resume by cursor.
        for stream in self.streams:
            if stream not in self._positions:
                newest = await self.redis.xrevrange(stream, count=1)
                self._positions[stream] = _text(newest[0][0]) if newest else "0-0"

    async def _read_forever(self) -> None:
        backoff = 0.1
        while True:
            try:
                await self._start_positions()
                replies = await self.redis.xread(self._positions, count=500, block=self.block_ms)
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
            LIVE_DELAY.observe(max(time.time() - datetime.fromisoformat(occurred).timestamp(), 0.0))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _texts(fields: dict[Any, Any]) -> dict[str, str]:
    return {_text(key): _text(value) for key, value in fields.items()}
