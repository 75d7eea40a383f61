"""The outbox and its relay against real Postgres and Redis: order, atomicity, outages and crashes."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from prometheus_client import REGISTRY
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from sqlalchemy import select, text

from services.local import stores
from services.platform.consumer import EventConsumer
from services.platform.database import Database
from services.platform.outbox import EventEnvelope, OutboxRelay, record_event
from tests.conftest import Stores
from tests.platform.conftest import SCHEMA, EventBus, eventually, unpublished

REPOSITORY = Path(__file__).resolve().parents[2]


async def stream_envelopes(redis: aioredis.Redis, stream: str = "events.thing") -> list[EventEnvelope]:
    return [EventEnvelope.from_fields(fields) for _, fields in await redis.xrange(stream)]


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_recorded_events_are_published_in_order_and_marked_sent(
    eventbus: EventBus, redis_client: aioredis.Redis
) -> None:
    recorded = await eventbus.record(7) + await eventbus.record(11, aggregate_id="t-2") + await eventbus.record(7)
    relay = OutboxRelay(eventbus.database, eventbus.outbox, redis_client, batch_size=10)
    before = metric("luckygas_outbox_published_total", service=SCHEMA, stream="events.thing")

    published = await relay.publish_pending()

    assert published == 25
    assert await stream_envelopes(redis_client) == recorded  # every field survives the trip, in position order
    assert await unpublished(eventbus) == 0
    assert await eventbus.scalar(f"SELECT max(attempts) FROM {SCHEMA}.outbox") == 0
    assert await relay.publish_pending() == 0
    assert metric("luckygas_outbox_published_total", service=SCHEMA, stream="events.thing") - before == 25
    assert metric("luckygas_outbox_lag_seconds", service=SCHEMA) == 0


async def test_an_event_recorded_in_a_rolled_back_transaction_is_never_published(
    eventbus: EventBus, redis_client: aioredis.Redis
) -> None:
    async def change_that_fails() -> None:
        async with eventbus.database.session() as session:
            await record_event(
                session, eventbus.outbox, aggregate="thing", type="thing.changed", aggregate_id="t-9",
                aggregate_version=1, payload={},
            )  # fmt: skip
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        await change_that_fails()
    committed = await eventbus.record(1)

    assert await OutboxRelay(eventbus.database, eventbus.outbox, redis_client).publish_pending() == 1

    assert [envelope.id for envelope in await stream_envelopes(redis_client)] == [committed[0].id]
    assert await eventbus.scalar(f"SELECT count(*) FROM {SCHEMA}.outbox") == 1


async def test_an_event_carries_the_trace_context_it_was_recorded_in(eventbus: EventBus) -> None:
    parent = SpanContext(
        trace_id=0x4BF92F3577B34DA6A3CE929D0E0E4736,
        span_id=0x00F067AA0BA902B7,
        is_remote=False,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    with trace.use_span(NonRecordingSpan(parent)):
        [envelope] = await eventbus.record(1)

    assert envelope.trace_context["traceparent"] == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    async with eventbus.database.session() as session:
        stored = await session.scalar(select(eventbus.outbox.c.trace_context))
    assert stored == envelope.trace_context


async def listen_backend(database: Database) -> int | None:
    async with database.session() as session:
        pid = await session.scalar(
            text("SELECT pid FROM pg_stat_activity WHERE application_name = :name"), {"name": f"{SCHEMA}-outbox-relay"}
        )
    return None if pid is None else int(pid)


async def test_a_commit_wakes_the_relay_through_notify_even_after_the_listen_connection_is_lost(
    eventbus: EventBus, redis_client: aioredis.Redis
) -> None:
    # Polling an hour apart: only NOTIFY can make these events appear within the test's bound.
    relay = OutboxRelay(eventbus.database, eventbus.outbox, redis_client, poll_seconds=3600, retry_initial_seconds=0.05)
    task = asyncio.create_task(relay.run())
    try:
        await eventually(lambda: _is_listening(eventbus.database))
        first_pid = await listen_backend(eventbus.database)
        [first] = await eventbus.record(1)
        await eventually(lambda: _stream_length_is(redis_client, 1))

        async with eventbus.database.session() as session:
            await session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first_pid})

        async def listening_again() -> bool:
            pid = await listen_backend(eventbus.database)
            return pid is not None and pid != first_pid

        await eventually(listening_again)
        [second] = await eventbus.record(1, aggregate_id="t-2")
        await eventually(lambda: _stream_length_is(redis_client, 2))
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert [envelope.id for envelope in await stream_envelopes(redis_client)] == [first.id, second.id]


async def _is_listening(database: Database) -> bool:
    return await listen_backend(database) is not None


async def _stream_length_is(redis: aioredis.Redis, length: int, stream: str = "events.thing") -> bool:
    return int(await redis.xlen(stream)) == length


async def test_relay_retries_while_redis_is_down_and_publishes_everything_once_it_returns(
    eventbus: EventBus, tmp_path: Path
) -> None:
    port = stores.free_port()
    spec = stores.redis_spec(tmp_path / "redis", port, durable=False)
    server = stores.RunningProcess(spec, tmp_path / "redis.log")
    stores.wait_for_port(port, 10, server.process)
    redis = aioredis.from_url(
        stores.redis_url(port), socket_timeout=1, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0)
    )
    relay = OutboxRelay(
        eventbus.database,
        eventbus.outbox,
        redis,
        batch_size=5,
        poll_seconds=0.1,
        retry_initial_seconds=0.05,
        retry_max_seconds=0.2,
    )
    errors_before = metric("luckygas_outbox_publish_errors_total", service=SCHEMA)
    task = asyncio.create_task(relay.run())
    try:
        await eventbus.record(3)
        await eventually(lambda: _stream_length_is(redis, 3))

        server.process.kill()
        server.process.wait()
        server.stop()
        during_outage = await eventbus.record(12, aggregate_id="t-2")

        await eventually(lambda: _attempted_at_least(eventbus, 2))
        assert await unpublished(eventbus) == 12
        async with eventbus.database.session() as session:
            errors = (await session.scalars(text(f"SELECT DISTINCT last_error FROM {SCHEMA}.outbox"))).all()
        assert any(error and "Error" in error for error in errors)
        assert metric("luckygas_outbox_publish_errors_total", service=SCHEMA) - errors_before >= 2

        server = stores.RunningProcess(spec, tmp_path / "redis.log")  # same port, empty (not durable)
        stores.wait_for_port(port, 10, server.process)
        await eventually(lambda: _unpublished_is(eventbus, 0))
        async with aioredis.from_url(stores.redis_url(port)) as fresh:
            published = await stream_envelopes(fresh)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        server.stop()
        await redis.aclose()
    assert published == during_outage


async def _attempted_at_least(bus: EventBus, attempts: int) -> bool:
    return await bus.scalar(f"SELECT coalesce(max(attempts), 0) FROM {SCHEMA}.outbox WHERE published_at IS NULL") >= (
        attempts
    )


async def _unpublished_is(bus: EventBus, count: int) -> bool:
    return await unpublished(bus) == count


async def test_events_committed_around_a_sigkilled_relay_are_delivered_and_applied_exactly_once(
    eventbus: EventBus, redis_client: aioredis.Redis, embedded_stores: Stores
) -> None:
    before_crash = await eventbus.record(25) + await eventbus.record(25, aggregate_id="t-2")
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.platform.relay_process",
        eventbus.database.engine.url.render_as_string(hide_password=False),
        embedded_stores.redis_url,
        SCHEMA,
        "10",  # batch size
        "3",  # hang after the third batch reached Redis, before its commit
        cwd=REPOSITORY,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert child.stdout is not None
        lines = [(await asyncio.wait_for(child.stdout.readline(), 30)).decode().strip() for _ in range(4)]
        assert lines == ["ready", "sent 1 10", "sent 2 10", "sent 3 10"]
        # Now the third batch is in the stream but not marked sent: the window a crash can hit.
        assert await redis_client.xlen("events.thing") == 30
        assert await unpublished(eventbus) == 30
    finally:
        child.send_signal(signal.SIGKILL)
        await child.wait()
    assert child.returncode == -signal.SIGKILL
    after_crash = await eventbus.record(15, aggregate_id="t-3")  # committed while no relay runs

    relay = OutboxRelay(eventbus.database, eventbus.outbox, redis_client, batch_size=10)

    async def relay_drained() -> bool:
        # Postgres releases the dead relay's locks once it notices the closed connection.
        await relay.publish_pending()
        return await unpublished(eventbus) == 0

    await eventually(relay_drained)
    committed = before_crash + after_crash
    in_stream = await stream_envelopes(redis_client)
    assert len(in_stream) == len(committed) + 10  # the third batch went out twice
    first_sightings = list({envelope.id: envelope for envelope in reversed(in_stream)}.values())[::-1]
    assert first_sightings == committed  # each committed event, in order, after dropping repeats

    consumer = EventConsumer(
        redis_client,
        eventbus.database,
        stream="events.thing",
        group="projection",
        consumer_name="c1",
        handler=eventbus.effect_writer(),
        handled_table=eventbus.handled,
        block_ms=10,
        batch=16,
    )
    while await consumer.run_once():
        pass
    effects = await eventbus.effect_ids()
    assert sorted(map(str, effects)) == sorted(str(envelope.id) for envelope in committed)  # 65 rows, no repeats
    assert (await redis_client.xpending("events.thing", "projection"))["pending"] == 0


async def test_customer_migration_creates_the_outbox_the_platform_defines(database: Database) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from services.customer.models import Base

    def differences(connection: object) -> list[object]:
        context = MigrationContext.configure(
            connection,  # type: ignore[arg-type]
            opts={
                "include_schemas": True,
                "include_name": lambda name, kind, parent: kind != "schema" or name == "customer",
                "include_object": lambda item, name, kind, reflected, other: kind != "table" or name == "outbox",
                "compare_type": True,
                "compare_server_default": True,
                "version_table_schema": "customer",
            },
        )
        return list(compare_metadata(context, Base.metadata))

    async with database.engine.connect() as connection:
        assert await connection.run_sync(differences) == []
