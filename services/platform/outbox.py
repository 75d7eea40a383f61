"""Transactional outbox: events are written with the change that caused them, then relayed to Redis Streams."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

import asyncpg
from opentelemetry.propagate import inject
from prometheus_client import Counter, Gauge
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from services.platform.clock import utc_now
from services.platform.database import Database
from services.platform.errors import Unavailable

_log = logging.getLogger(__name__)

PUBLISHED = Counter(
    "luckygas_outbox_published_total", "Outbox events published to Redis Streams.", ["service", "stream"]
)
PUBLISH_ERRORS = Counter(
    "luckygas_outbox_publish_errors_total", "Outbox batches that failed to reach Redis.", ["service"]
)
LAG = Gauge("luckygas_outbox_lag_seconds", "Age of the oldest unpublished outbox event when last looked.", ["service"])

# Longest text kept from a publish error in outbox.last_error.
MAX_ERROR_LENGTH = 1000


def outbox_table(metadata: MetaData) -> Table:
    """The ``outbox`` table in the schema ``metadata`` carries (each service has its own)."""
    return Table(
        "outbox",
        metadata,
        Column("id", Uuid, primary_key=True),
        # Publish order: assigned at insert. Events of one aggregate are written by transactions that
        # serialise on the aggregate's row, so their positions follow commit order.
        Column("position", BigInteger, Identity(always=True), nullable=False),
        Column("stream", String(100), nullable=False),
        Column("type", String(100), nullable=False),
        Column("aggregate_id", String(100), nullable=False),
        Column("aggregate_version", BigInteger, nullable=False),
        Column("occurred_at", DateTime(timezone=True), nullable=False),
        Column("schema_version", Integer, nullable=False),
        Column("payload", JSONB, nullable=False),
        Column("trace_context", JSONB, nullable=False),
        Column("published_at", DateTime(timezone=True), nullable=True),
        Column("attempts", Integer, nullable=False, server_default=text("0")),
        Column("last_error", Text, nullable=True),
        # The relay's only query: the unpublished head, in order. Published rows drop out of the index.
        Index("ix_outbox_unpublished", "position", postgresql_where=text("published_at IS NULL")),
    )


def notify_channel(table: Table) -> str:
    """The LISTEN/NOTIFY channel that wakes the relay of ``table``'s schema."""
    return f"{table.schema or 'public'}_outbox"


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass(frozen=True)
class EventEnvelope:
    """One domain event as it travels: stored in the outbox, published as one Redis stream entry."""

    id: uuid.UUID
    type: str
    aggregate_id: str
    aggregate_version: int
    occurred_at: datetime
    schema_version: int
    payload: dict[str, Any]
    stream: str
    trace_context: dict[str, str] = field(default_factory=dict)

    def to_fields(self) -> dict[str, str]:
        """Flat string fields of a stream entry; payload and trace context as JSON."""
        return {
            "id": str(self.id),
            "type": self.type,
            "aggregate_id": self.aggregate_id,
            "aggregate_version": str(self.aggregate_version),
            "occurred_at": self.occurred_at.isoformat(),
            "schema_version": str(self.schema_version),
            "payload": json.dumps(self.payload, ensure_ascii=False, separators=(",", ":")),
            "trace_context": json.dumps(self.trace_context, separators=(",", ":")),
            "stream": self.stream,
        }

    @classmethod
    def from_fields(cls, fields: Mapping[Any, Any]) -> EventEnvelope:
        """Parse a stream entry (bytes or str, as the Redis client returns them); ValueError if malformed."""
        values = {_text(key): _text(value) for key, value in fields.items()}
        try:
            payload = json.loads(values["payload"])
            trace_context = json.loads(values.get("trace_context") or "{}")
            if not isinstance(payload, dict) or not isinstance(trace_context, dict):
                raise ValueError("payload and trace_context must be JSON objects")
            return cls(
                id=uuid.UUID(values["id"]),
                type=values["type"],
                aggregate_id=values["aggregate_id"],
                aggregate_version=int(values["aggregate_version"]),
                occurred_at=datetime.fromisoformat(values["occurred_at"]),
                schema_version=int(values["schema_version"]),
                payload=payload,
                stream=values["stream"],
                trace_context={str(key): str(value) for key, value in trace_context.items()},
            )
        except KeyError as error:
            raise ValueError(f"event entry lacks the field {error.args[0]!r}") from error


async def record_event(
    session: AsyncSession,
    table: Table,
    *,
    aggregate: str,
    type: str,
    aggregate_id: str,
    aggregate_version: int,
    payload: dict[str, Any],
    schema_version: int = 1,
) -> EventEnvelope:
    """Write an event in the caller's transaction: it is published if and only if that transaction commits."""
    trace_context: dict[str, str] = {}
    inject(trace_context)  # W3C traceparent/tracestate of the current span, if any
    envelope = EventEnvelope(
        id=uuid.uuid4(),
        type=type,
        aggregate_id=aggregate_id,
        aggregate_version=aggregate_version,
        occurred_at=utc_now(),
        schema_version=schema_version,
        payload=payload,
        stream=f"events.{aggregate}",
        trace_context=trace_context,
    )
    await session.execute(
        insert(table).values(
            id=envelope.id,
            stream=envelope.stream,
            type=envelope.type,
            aggregate_id=envelope.aggregate_id,
            aggregate_version=envelope.aggregate_version,
            occurred_at=envelope.occurred_at,
            schema_version=envelope.schema_version,
            payload=envelope.payload,
            trace_context=envelope.trace_context,
        )
    )
    # NOTIFY is delivered at commit and dropped on rollback; repeats within a transaction collapse into one.
    await session.execute(select(func.pg_notify(notify_channel(table), "")))
    return envelope


@dataclass(frozen=True)
class OutboxWriter:
    """What business code gets to record events: the request's session and the service's outbox table."""

    session: AsyncSession
    table: Table

    async def record(
        self,
        *,
        aggregate: str,
        type: str,
        aggregate_id: str,
        aggregate_version: int,
        payload: dict[str, Any],
        schema_version: int = 1,
    ) -> EventEnvelope:
        return await record_event(
            self.session,
            self.table,
            aggregate=aggregate,
            type=type,
            aggregate_id=aggregate_id,
            aggregate_version=aggregate_version,
            payload=payload,
            schema_version=schema_version,
        )


def _envelope(row: Any) -> EventEnvelope:
    return EventEnvelope(
        id=row.id,
        type=row.type,
        aggregate_id=row.aggregate_id,
        aggregate_version=row.aggregate_version,
        occurred_at=row.occurred_at,
        schema_version=row.schema_version,
        payload=row.payload,
        stream=row.stream,
        trace_context=row.trace_context,
    )


def _set_on_termination(lost: asyncio.Event, connection: object) -> None:
    lost.set()


class OutboxRelay:
    """Publishes a service's committed outbox events to Redis Streams, in order, at least once.

    Woken by NOTIFY at commit (a dedicated LISTEN connection) and, as a safety net, every
    ``poll_seconds``. One relay per schema publishes at a time (a transaction-scoped advisory
    lock), so replicas of a service never interleave batches and reorder a stream. A crash after
    XADD and before the commit that marks the batch sent republishes it: consumers dedupe by event id.
    """

    def __init__(
        self,
        database: Database,
        table: Table,
        redis: Redis,
        *,
        batch_size: int = 200,
        poll_seconds: float = 1.0,
        max_stream_length: int = 100_000,
        retry_initial_seconds: float = 0.5,
        retry_max_seconds: float = 30.0,
        service: str | None = None,
    ) -> None:
        self.database = database
        self.table = table
        self.redis = redis
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.max_stream_length = max_stream_length
        self.retry_initial_seconds = retry_initial_seconds
        self.retry_max_seconds = retry_max_seconds
        self.service = service or table.schema or "public"
        self.channel = notify_channel(table)
        self._wake = asyncio.Event()
        self._lag = LAG.labels(self.service)
        self._errors = PUBLISH_ERRORS.labels(self.service)

    async def run(self) -> None:
        """Publish until cancelled; failures are recorded and retried with capped exponential back-off."""
        listener = asyncio.create_task(self._listen(), name=f"{self.channel}-listener")
        delay = self.retry_initial_seconds
        try:
            while True:
                self._wake.clear()
                try:
                    await self.publish_pending()
                except Exception:  # noqa: BLE001 - the relay outlives any failure; the outbox keeps the events
                    _log.warning("outbox publish failed; retrying", extra={"retry_in_seconds": delay}, exc_info=True)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self.retry_max_seconds)
                    continue
                delay = self.retry_initial_seconds
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that arrives just as
                # the event is set, and this loop would then never end.
                with suppress(TimeoutError):
                    async with asyncio.timeout(self.poll_seconds):
                        await self._wake.wait()
        finally:
            listener.cancel()
            with suppress(asyncio.CancelledError):
                await listener

    async def publish_pending(self) -> int:
        """Publish every unpublished event, batch by batch; returns how many were published.

        Raises Unavailable when Redis or the database cannot be reached (after recording the attempt).
        """
        published = 0
        while True:
            count = await self._publish_batch()
            published += count
            if count < self.batch_size:
                return published

    async def _publish_batch(self) -> int:
        table = self.table
        async with self.database.session() as session:
            locked = await session.scalar(
                select(func.pg_try_advisory_xact_lock(func.hashtext("luckygas.outbox"), func.hashtext(self.channel)))
            )
            if not locked:  # another relay of this service is publishing; it will drain the outbox
                return 0
            rows = (
                await session.execute(
                    select(table)
                    .where(table.c.published_at.is_(None))
                    .order_by(table.c.position)
                    .limit(self.batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                self._lag.set(0)
                return 0
            envelopes = [_envelope(row) for row in rows]
            self._lag.set(max(0.0, (utc_now() - envelopes[0].occurred_at).total_seconds()))
            ids = [envelope.id for envelope in envelopes]
            try:
                await self._send(envelopes)
            except (RedisError, OSError) as error:
                self._errors.inc()
                reason = f"{type(error).__name__}: {error}"[:MAX_ERROR_LENGTH]
                # Same transaction: the batch's rows are ours until commit, and the note commits with it.
                await session.execute(
                    update(table).where(table.c.id.in_(ids)).values(attempts=table.c.attempts + 1, last_error=reason)
                )
                await session.commit()
                raise Unavailable("Redis is unreachable; outbox events stay queued") from error
            await session.execute(update(table).where(table.c.id.in_(ids)).values(published_at=func.now()))
        for envelope in envelopes:
            PUBLISHED.labels(self.service, envelope.stream).inc()
        if len(envelopes) < self.batch_size:
            self._lag.set(0)
        return len(envelopes)

    async def _send(self, envelopes: Sequence[EventEnvelope]) -> None:
        """XADD the batch in one MULTI/EXEC round trip: Redis applies all of it or none."""
        async with self.redis.pipeline(transaction=True) as pipeline:
            for envelope in envelopes:
                pipeline.xadd(
                    envelope.stream,
                    envelope.to_fields(),  # type: ignore[arg-type]  # str values are valid field values
                    maxlen=self.max_stream_length,
                    approximate=True,
                )
            await pipeline.execute()

    def _on_notify(self, connection: object, pid: int, channel: str, payload: str) -> None:
        self._wake.set()

    async def _listen(self) -> None:
        """Keep a LISTEN connection open, reconnecting with back-off; a lost wake-up is covered by polling."""
        dsn = self.database.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        delay = self.retry_initial_seconds
        while True:
            connection: Any = None
            try:
                connection = await asyncpg.connect(
                    dsn, timeout=5, server_settings={"application_name": f"{self.service}-outbox-relay"}
                )
                lost = asyncio.Event()
                connection.add_termination_listener(partial(_set_on_termination, lost))
                await connection.add_listener(self.channel, self._on_notify)
                self._wake.set()  # events may have committed while nobody listened
                delay = self.retry_initial_seconds
                while not lost.is_set():
                    with suppress(TimeoutError):
                        async with asyncio.timeout(30):  # not wait_for: see run()
                            await lost.wait()
                    if not lost.is_set():  # a half-open connection never reports termination: probe it
                        await connection.fetchval("SELECT 1", timeout=5)
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
                _log.warning("outbox LISTEN connection lost; reconnecting", extra={"retry_in_seconds": delay})
            finally:
                if connection is not None:
                    connection.terminate()
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.retry_max_seconds)
