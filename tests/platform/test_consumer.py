"""The event consumer against real Redis Streams and Postgres: duplicates, dead consumers, poison events."""

from __future__ import annotations

import uuid
from typing import Any

import redis.asyncio as aioredis
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from prometheus_client import REGISTRY
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.platform.clock import utc_now
from services.platform.consumer import EventConsumer, Handler
from services.platform.outbox import EventEnvelope, OutboxRelay
from tests.platform.conftest import SCHEMA, EventBus, eventually

STREAM = "events.thing"


def envelope(version: int = 1, **overrides: Any) -> EventEnvelope:
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "type": "thing.changed",
        "aggregate_id": "t-1",
        "aggregate_version": version,
        "occurred_at": utc_now(),
        "schema_version": 1,
        "payload": {"n": version},
        "stream": STREAM,
    }
    return EventEnvelope(**(values | overrides))


def consumer(bus: EventBus, redis: aioredis.Redis, handler: Handler, **options: Any) -> EventConsumer:
    settings: dict[str, Any] = {
        "stream": STREAM,
        "group": "projection",
        "consumer_name": "c1",
        "handled_table": bus.handled,
        "block_ms": 10,
    }
    return EventConsumer(redis, bus.database, handler=handler, **(settings | options))


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def drain(events: EventConsumer) -> None:
    while await events.run_once():
        pass


async def pending(redis: aioredis.Redis, group: str = "projection") -> int:
    return int((await redis.xpending(STREAM, group))["pending"])


async def test_duplicate_entries_of_one_event_are_applied_once(
    eventbus: EventBus, redis_client: aioredis.Redis
) -> None:
    first, second = envelope(1), envelope(2)
    for event in (first, first, second, first, second):
        await redis_client.xadd(STREAM, event.to_fields())  # type: ignore[arg-type]

    await drain(consumer(eventbus, redis_client, eventbus.effect_writer()))

    assert await eventbus.effect_ids() == [first.id, second.id]
    assert await pending(redis_client) == 0
    assert await eventbus.scalar(f"SELECT count(*) FROM {SCHEMA}.handled_events") == 2


async def test_two_groups_each_apply_an_event_once(eventbus: EventBus, redis_client: aioredis.Redis) -> None:
    event = envelope()
    await redis_client.xadd(STREAM, event.to_fields())  # type: ignore[arg-type]

    await drain(consumer(eventbus, redis_client, eventbus.effect_writer("a"), group="a"))
    await drain(consumer(eventbus, redis_client, eventbus.effect_writer("b"), group="b"))

    assert await eventbus.scalar(f"SELECT count(*) FROM {SCHEMA}.effects WHERE event_id = '{event.id}'") == 2


async def test_entries_a_dead_consumer_left_pending_are_reclaimed_by_another(
    eventbus: EventBus, redis_client: aioredis.Redis
) -> None:
    events = [envelope(version) for version in range(1, 6)]
    survivor = consumer(eventbus, redis_client, eventbus.effect_writer(), consumer_name="b", reclaim_idle_ms=200)
    await survivor.ensure_group()
    for event in events:
        await redis_client.xadd(STREAM, event.to_fields())  # type: ignore[arg-type]
    # Consumer "a" reads everything and dies before acknowledging anything.
    [[_, taken]] = await redis_client.xreadgroup("projection", "a", {STREAM: ">"}, count=10)
    assert len(taken) == 5

    async def all_applied() -> bool:
        await survivor.run_once()
        return len(await eventbus.effect_ids()) >= 5

    await eventually(all_applied)

    assert sorted(map(str, await eventbus.effect_ids())) == sorted(str(event.id) for event in events)
    assert await pending(redis_client) == 0


async def test_an_event_whose_handler_always_fails_is_dead_lettered_after_max_deliveries(
    eventbus: EventBus, redis_client: aioredis.Redis
) -> None:
    calls: list[uuid.UUID] = []

    async def fail(event: EventEnvelope, session: AsyncSession) -> None:
        calls.append(event.id)
        await session.execute(insert(eventbus.effects).values(event_id=event.id, consumer_group="x"))
        raise ValueError("cannot apply a thing without a depot")

    poison, healthy = envelope(1), envelope(2)
    await redis_client.xadd(STREAM, poison.to_fields())  # type: ignore[arg-type]
    events = consumer(eventbus, redis_client, fail, max_deliveries=3, reclaim_idle_ms=50)

    async def dead_lettered() -> bool:
        await events.run_once()
        return int(await redis_client.xlen(f"dead.{STREAM}")) >= 1

    await eventually(dead_lettered)

    [(_, fields)] = await redis_client.xrange(f"dead.{STREAM}")
    assert EventEnvelope.from_fields(fields) == poison  # the event is recoverable from the dead letter
    assert fields[b"error"] == b"ValueError: cannot apply a thing without a depot"
    assert fields[b"deliveries"] == b"3"
    assert fields[b"original_stream"] == STREAM.encode()
    assert fields[b"consumer_group"] == b"projection"
    assert calls == [poison.id] * 3
    assert await pending(redis_client) == 0
    assert await eventbus.effect_ids() == []  # each failed attempt's writes were rolled back
    assert await eventbus.scalar(f"SELECT count(*) FROM {SCHEMA}.handled_events") == 0

    events.handler = eventbus.effect_writer()
    await redis_client.xadd(STREAM, healthy.to_fields())  # type: ignore[arg-type]
    await drain(events)
    assert await eventbus.effect_ids() == [healthy.id]  # the stream moves on past the dead letter


async def test_a_malformed_entry_is_dead_lettered_at_once(eventbus: EventBus, redis_client: aioredis.Redis) -> None:
    await redis_client.xadd(STREAM, {"id": "not-a-uuid", "type": "thing.changed"})

    await drain(consumer(eventbus, redis_client, eventbus.effect_writer()))

    [(_, fields)] = await redis_client.xrange(f"dead.{STREAM}")
    assert fields[b"id"] == b"not-a-uuid"
    assert fields[b"error"].startswith(b"ValueError")
    assert await pending(redis_client) == 0


async def test_a_consumer_started_at_the_end_ignores_earlier_entries(
    eventbus: EventBus, redis_client: aioredis.Redis
) -> None:
    early, late = envelope(1), envelope(2)
    await redis_client.xadd(STREAM, early.to_fields())  # type: ignore[arg-type]
    events = consumer(eventbus, redis_client, eventbus.effect_writer(), start_id="$")
    await events.ensure_group()
    await redis_client.xadd(STREAM, late.to_fields())  # type: ignore[arg-type]

    await drain(events)

    assert await eventbus.effect_ids() == [late.id]


async def test_the_handler_runs_in_the_trace_of_the_change_that_recorded_the_event(
    eventbus: EventBus, redis_client: aioredis.Redis
) -> None:
    producer = SpanContext(
        trace_id=0x0AF7651916CD43DD8448EB211C80319C, span_id=0xB7AD6B7169203331, is_remote=False,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )  # fmt: skip
    with trace.use_span(NonRecordingSpan(producer)):
        await eventbus.record(1)
    await OutboxRelay(eventbus.database, eventbus.outbox, redis_client).publish_pending()
    seen: list[int] = []

    async def remember_trace(event: EventEnvelope, session: AsyncSession) -> None:
        seen.append(trace.get_current_span().get_span_context().trace_id)

    await drain(consumer(eventbus, redis_client, remember_trace))

    assert seen == [producer.trace_id]


async def test_pending_entries_trimmed_from_the_stream_are_acknowledged_not_retried_forever(
    eventbus: EventBus, redis_client: aioredis.Redis
) -> None:
    survivor = consumer(eventbus, redis_client, eventbus.effect_writer(), consumer_name="b", reclaim_idle_ms=50)
    await survivor.ensure_group()
    for version in range(1, 4):
        await redis_client.xadd(STREAM, envelope(version).to_fields())  # type: ignore[arg-type]
    await redis_client.xreadgroup("projection", "a", {STREAM: ">"}, count=10)  # "a" dies holding all three
    await redis_client.xtrim(STREAM, maxlen=0)  # and the stream drops them before anyone applied them
    trimmed_before = metric("luckygas_events_handled_total", stream=STREAM, group="projection", outcome="trimmed")

    async def nothing_pending() -> bool:
        await survivor.run_once()
        return await pending(redis_client) == 0

    await eventually(nothing_pending)

    assert await eventbus.effect_ids() == []
    assert (
        metric("luckygas_events_handled_total", stream=STREAM, group="projection", outcome="trimmed") - (trimmed_before)
        == 3
    )
