"""Consuming events from Redis Streams: consumer groups, exactly-once effects by event id, reclaim, dead letters."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal

from opentelemetry import trace
from opentelemetry.propagate import extract
from opentelemetry.trace import SpanKind
from prometheus_client import Counter
from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError
from sqlalchemy import Column, DateTime, MetaData, String, Table, Uuid, func
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.platform.clock import utc_now
from services.platform.database import Database
from services.platform.errors import Unavailable
from services.platform.outbox import EventEnvelope

_log = logging.getLogger(__name__)
_tracer = trace.get_tracer("luckygas.events")


def consumer_name(service: str) -> str:
    """A name no other process in the consumer group has: in containers every process is pid 1, so the host name (a
    pod's name) comes first. A dead consumer's pending entries are claimed by the others (XAUTOCLAIM)."""
    return f"{service}-{socket.gethostname()}-{os.getpid()}"


HANDLED = Counter(
    "luckygas_events_handled_total",
    "Stream entries a consumer group processed, by outcome (handled, duplicate, failed, dead_lettered, trimmed).",
    ["stream", "group", "outcome"],
)

Handler = Callable[[EventEnvelope, AsyncSession], Awaitable[None]]
# trimmed: the entry was deleted by MAXLEN trimming before this group applied it, i.e. the group fell
# further behind than the stream's length; the event is lost to this group and logged as an error.
Outcome = Literal["handled", "duplicate", "failed", "dead_lettered", "trimmed"]

# Longest error text copied into a dead-letter entry.
MAX_ERROR_LENGTH = 2000


def handled_events_table(metadata: MetaData) -> Table:
    """Which events a consumer group has applied, written in the same transaction as the effects.

    Keyed by (event id, group): two groups of one service that consume the same stream each apply
    an event once.
    """
    return Table(
        "handled_events",
        metadata,
        Column("event_id", Uuid, primary_key=True),
        Column("consumer_group", String(100), primary_key=True),
        Column("handled_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class EventConsumer:
    """One consumer of one stream within a consumer group.

    Delivery is at least once (an entry is acknowledged only after its transaction commits); the
    effect is exactly once, because the handler's writes commit together with the handled-events
    row for the event id, and an id already there is skipped. Entries a dead consumer left pending
    are claimed after ``reclaim_idle_ms``; a failing entry is retried the same way and moved to the
    dead-letter stream once it has been delivered ``max_deliveries`` times. Entries are processed one
    at a time, in stream order, except that a failed entry is retried after later ones.
    """

    def __init__(
        self,
        redis: Redis,
        database: Database,
        *,
        stream: str,
        group: str,
        consumer_name: str,
        handler: Handler,
        handled_table: Table,
        max_deliveries: int = 5,
        dead_letter_stream: str | None = None,
        reclaim_idle_ms: int = 30_000,
        block_ms: int = 1000,
        batch: int = 100,
        start_id: Literal["0", "$"] = "0",
        retry_initial_seconds: float = 0.5,
        retry_max_seconds: float = 30.0,
    ) -> None:
        self.redis = redis
        self.database = database
        self.stream = stream
        self.group = group
        self.consumer_name = consumer_name
        self.handler = handler
        self.handled_table = handled_table
        self.max_deliveries = max_deliveries
        self.dead_letter_stream = dead_letter_stream or f"dead.{stream}"
        self.reclaim_idle_ms = reclaim_idle_ms
        self.block_ms = block_ms
        self.batch = batch
        self.start_id = start_id
        self.retry_initial_seconds = retry_initial_seconds
        self.retry_max_seconds = retry_max_seconds
        self._group_ready = False
        # After a restart under the same name, one pass over our own pending entries comes first.
        self._history_cursor: str | None = "0"
        self._reclaim_cursor = "0-0"

    async def ensure_group(self) -> None:
        """XGROUP CREATE … MKSTREAM, starting at ``start_id`` ("0": the whole stream, "$": new entries only)."""
        if self._group_ready:
            return
        try:
            await self.redis.xgroup_create(self.stream, self.group, id=self.start_id, mkstream=True)
        except ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise
        self._group_ready = True

    async def run(self) -> None:
        """Consume until cancelled; Redis and database outages are waited out with capped back-off."""
        delay = self.retry_initial_seconds
        while True:
            try:
                await self.run_once()
            except (RedisError, OSError, Unavailable):
                self._group_ready = False  # the stream and its group may be gone (NOGROUP): create it again
                _log.warning(
                    "event consumer cannot reach its stores; retrying",
                    extra={"stream": self.stream, "group": self.group, "retry_in_seconds": delay},
                    exc_info=True,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry_max_seconds)
                continue
            delay = self.retry_initial_seconds

    async def run_once(self) -> int:
        """Process one batch: our own pending history once, then reclaimed entries, else new ones.

        Returns how many entries it processed (whatever their outcome); blocks up to ``block_ms``
        when there is nothing to do.
        """
        await self.ensure_group()
        if self._history_cursor is not None:
            entries = await self._read(self._history_cursor, block=None)
            if entries:
                self._history_cursor = entries[-1][0]
                return await self._process_all(entries)
            self._history_cursor = None
        entries = await self._reclaim()
        if not entries:
            entries = await self._read(">", block=self.block_ms)
        return await self._process_all(entries)

    async def _read(self, start: str, *, block: int | None) -> list[tuple[str, dict[bytes, bytes]]]:
        # RESP2 reply: [[stream, [(entry id, fields), ...]]]; fields are None for an entry trimmed while pending.
        response: Any = await self.redis.xreadgroup(
            self.group, self.consumer_name, {self.stream: start}, count=self.batch, block=block
        )
        entries: list[tuple[str, dict[bytes, bytes]]] = []
        for _stream, stream_entries in response or []:
            entries.extend((_text(entry_id), fields or {}) for entry_id, fields in stream_entries)
        return entries

    async def _reclaim(self) -> list[tuple[str, dict[bytes, bytes]]]:
        """XAUTOCLAIM entries idle longer than reclaim_idle_ms: left by a dead consumer, or failed earlier."""
        response = await self.redis.xautoclaim(
            self.stream,
            self.group,
            self.consumer_name,
            self.reclaim_idle_ms,
            start_id=self._reclaim_cursor,
            count=self.batch,
        )
        self._reclaim_cursor = _text(response[0])
        claimed = response[1]
        entries = [(_text(entry_id), fields or {}) for entry_id, fields in claimed if entry_id is not None]
        if len(entries) < len(claimed):
            # Redis 6.2 answers nil, without the id, for a claimed entry that trimming already deleted.
            await self._acknowledge_trimmed()
        return entries

    async def _acknowledge_trimmed(self) -> None:
        pending = await self.redis.xpending_range(
            self.stream, self.group, min="-", max="+", count=self.batch, consumername=self.consumer_name
        )
        for item in pending:
            entry_id = _text(item["message_id"])
            if not await self.redis.xrange(self.stream, min=entry_id, max=entry_id):
                HANDLED.labels(self.stream, self.group, await self._drop_trimmed(entry_id)).inc()

    async def _drop_trimmed(self, entry_id: str) -> Outcome:
        _log.error(
            "event trimmed from the stream before this group applied it",
            extra={"entry_id": entry_id, "stream": self.stream, "group": self.group},
        )
        await self.redis.xack(self.stream, self.group, entry_id)
        return "trimmed"

    async def _process_all(self, entries: list[tuple[str, dict[bytes, bytes]]]) -> int:
        for entry_id, fields in entries:
            outcome = await self._process(entry_id, fields)
            HANDLED.labels(self.stream, self.group, outcome).inc()
        return len(entries)

    async def _process(self, entry_id: str, fields: Mapping[bytes, bytes]) -> Outcome:
        if not fields:  # deleted by trimming while pending: nothing left to apply
            return await self._drop_trimmed(entry_id)
        try:
            envelope = EventEnvelope.from_fields(fields)
        except ValueError as error:  # no retry can fix a malformed entry
            await self._dead_letter(entry_id, fields, error, deliveries=1)
            return "dead_lettered"
        table = self.handled_table
        try:
            with _tracer.start_as_current_span(
                f"{self.stream} process",
                context=extract(envelope.trace_context),
                kind=SpanKind.CONSUMER,
                attributes={
                    "messaging.system": "redis",
                    "messaging.destination.name": self.stream,
                    "messaging.consumer.group.name": self.group,
                    "messaging.message.id": str(envelope.id),
                },
            ):
                async with self.database.session() as session:
                    first_time = await session.scalar(
                        insert(table)
                        .values(event_id=envelope.id, consumer_group=self.group)
                        .on_conflict_do_nothing()
                        .returning(table.c.event_id)
                    )
                    if first_time is not None:
                        await self.handler(envelope, session)
        except Unavailable:
            # The database is down: not the event's fault, so it never counts towards dead-lettering.
            _log.warning("event left pending: database unavailable", extra={"event_id": str(envelope.id)})
            return "failed"
        except Exception as error:  # noqa: BLE001 - any handler failure leaves the entry for a retry or dead letter
            deliveries = await self._deliveries(entry_id)
            _log.warning(
                "event handler failed",
                extra={"event_id": str(envelope.id), "stream": self.stream, "deliveries": deliveries},
                exc_info=True,
            )
            if deliveries >= self.max_deliveries:
                await self._dead_letter(entry_id, fields, error, deliveries=deliveries)
                HANDLED.labels(self.stream, self.group, "failed").inc()
                return "dead_lettered"
            return "failed"
        await self.redis.xack(self.stream, self.group, entry_id)
        return "handled" if first_time is not None else "duplicate"

    async def _deliveries(self, entry_id: str) -> int:
        pending = await self.redis.xpending_range(self.stream, self.group, min=entry_id, max=entry_id, count=1)
        return int(pending[0]["times_delivered"]) if pending else 1

    async def _dead_letter(
        self, entry_id: str, fields: Mapping[bytes, bytes], error: BaseException, *, deliveries: int
    ) -> None:
        """Copy the entry to the dead-letter stream with why it failed, and acknowledge it, atomically."""
        entry: dict[Any, Any] = dict(fields)
        entry.update(
            {
                "error": f"{type(error).__name__}: {error}"[:MAX_ERROR_LENGTH],
                "original_stream": self.stream,
                "original_entry_id": entry_id,
                "consumer_group": self.group,
                "deliveries": str(deliveries),
                "dead_lettered_at": utc_now().isoformat(),
            }
        )
        async with self.redis.pipeline(transaction=True) as pipeline:
            pipeline.xadd(self.dead_letter_stream, entry)
            pipeline.xack(self.stream, self.group, entry_id)
            await pipeline.execute()
        _log.error(
            "event dead-lettered",
            extra={"entry_id": entry_id, "stream": self.stream, "dead_letter_stream": self.dead_letter_stream},
        )
