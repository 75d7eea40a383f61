"""The latest positions when Redis is away (fixes still stored) or comes back empty (restored from Postgres)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import grpc
import pytest
import redis.asyncio as aioredis
from luckygas.tracking.v1 import tracking_pb2 as pb
from luckygas.tracking.v1 import tracking_pb2_grpc
from prometheus_client import REGISTRY

from services.local.stores import free_port
from services.platform.database import Database
from services.platform.grpc_client import open_channel
from services.tracking.app import position_service, start
from services.tracking.settings import TrackingSettings
from tests.timing import CALL_DEADLINE_SECONDS
from tests.tracking.factories import DEPOT, TRACKING_SERVICE, batch, count, driver, fix, north_of, now

Stub = tracking_pb2_grpc.TrackingServiceStub


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
async def without_redis(tracking_database: Database) -> AsyncIterator[Stub]:
    """A tracking server whose Redis is nowhere to be found."""
    redis = aioredis.Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.2)
    running = await start(TrackingSettings(), tracking_database, redis, port=0)
    channel: grpc.aio.Channel = open_channel(
        f"127.0.0.1:{running.port}", TRACKING_SERVICE, default_deadline=CALL_DEADLINE_SECONDS
    )
    yield tracking_pb2_grpc.TrackingServiceStub(channel)
    await channel.close()
    await running.stop(grace=0)
    await redis.aclose()


async def test_without_redis_fixes_are_still_stored_and_live_reads_are_unavailable(
    without_redis: Stub, tracking_database: Database
) -> None:
    await without_redis.PutDriver(pb.PutDriverRequest(driver=driver("driver01")))

    answer = await without_redis.RecordPositions(batch("driver01", [fix(DEPOT, now() - timedelta(seconds=10))]))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await without_redis.ListLivePositions(pb.ListLivePositionsRequest())

    assert (answer.stored, answer.latest.driver) == (1, "driver01")
    assert await count(tracking_database, "positions") == 1
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_latest_positions_come_back_from_postgres_after_redis_lost_them(
    tracking: Stub, tracking_database: Database, redis_client: aioredis.Redis
) -> None:
    for username, metres in (("driver01", 0), ("driver02", 700)):
        await tracking.PutDriver(pb.PutDriverRequest(driver=driver(username)))
        older, newer = now() - timedelta(minutes=2), now() - timedelta(minutes=1)
        await tracking.RecordPositions(
            batch(username, [fix(north_of(DEPOT, metres), older), fix(north_of(DEPOT, metres + 50), newer)])
        )
    await redis_client.flushdb()

    restored = await position_service(TrackingSettings(), tracking_database, redis_client).restore_live()
    live = await tracking.ListLivePositions(pb.ListLivePositionsRequest())

    assert restored == 2
    assert [(p.driver, round(p.latitude, 6)) for p in live.positions] == [
        ("driver01", round(north_of(DEPOT, 50)[0], 6)),
        ("driver02", round(north_of(DEPOT, 750)[0], 6)),
    ]


async def test_stored_duplicate_and_batch_counters_follow_what_was_received(tracking: Stub) -> None:
    await tracking.PutDriver(pb.PutDriverRequest(driver=driver("driver01")))
    fixes = [fix(DEPOT, now() - timedelta(minutes=5) + timedelta(seconds=15 * i)) for i in range(5)]
    before = {
        "stored": metric("luckygas_tracking_positions_stored_total"),
        "duplicate": metric("luckygas_tracking_positions_duplicate_total"),
        "replayed": metric("luckygas_tracking_batches_total", outcome="replayed"),
        "sizes": metric("luckygas_tracking_batch_fixes_count"),
    }

    await tracking.RecordPositions(batch("driver01", fixes[:3], "a"))
    await tracking.RecordPositions(batch("driver01", fixes, "b"))
    await tracking.RecordPositions(batch("driver01", fixes, "b"))

    assert metric("luckygas_tracking_positions_stored_total") - before["stored"] == 5
    assert metric("luckygas_tracking_positions_duplicate_total") - before["duplicate"] == 3
    assert metric("luckygas_tracking_batches_total", outcome="replayed") - before["replayed"] == 1
    assert metric("luckygas_tracking_batch_fixes_count") - before["sizes"] == 2
