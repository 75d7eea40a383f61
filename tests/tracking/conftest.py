"""Tracking fixtures: a real tracking server and stub, and the service's own event consumers fed through Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
import redis.asyncio as aioredis
from luckygas.tracking.v1 import tracking_pb2_grpc

from services.platform.database import Database
from services.platform.grpc_client import open_channel
from tests.timing import CALL_DEADLINE_SECONDS
from tests.tracking.factories import TRACKING_SERVICE, Events


@pytest.fixture
async def tracking(tracking_server: int) -> AsyncIterator[tracking_pb2_grpc.TrackingServiceStub]:
    channel: grpc.aio.Channel = open_channel(
        f"127.0.0.1:{tracking_server}", TRACKING_SERVICE, default_deadline=CALL_DEADLINE_SECONDS
    )
    yield tracking_pb2_grpc.TrackingServiceStub(channel)
    await channel.close()


@pytest.fixture
def events(redis_client: aioredis.Redis, tracking_database: Database) -> Events:
    return Events(redis_client, tracking_database)
