"""Flag service fixtures: its schema migrated once, a real server on a free port with its own Redis client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import grpc
import pytest
from luckygas.flags.v1 import flags_pb2, flags_pb2_grpc
from redis.asyncio import Redis

from services.flags.app import RunningFlagService, migrate, start
from services.flags.settings import FlagSettings
from services.platform.database import Database
from services.platform.grpc_client import open_channel
from tests.conftest import Stores

FLAG_SERVICE = flags_pb2.DESCRIPTOR.services_by_name["FlagService"]

StartServer = Callable[..., Awaitable[RunningFlagService]]


@pytest.fixture(scope="session")
def flags_schema(embedded_stores: Stores) -> None:
    migrate(FlagSettings(database_url=embedded_stores.database_url))


@pytest.fixture
async def flags_database(database: Database, flags_schema: None) -> Database:
    return database


@pytest.fixture
async def start_flag_server(flags_database: Database, embedded_stores: Stores) -> AsyncIterator[StartServer]:
    """Starts flag servers (replicas: they share the database and Redis); all are stopped at the end."""
    started: list[tuple[RunningFlagService, Redis]] = []

    async def start_one(**settings: object) -> RunningFlagService:
        redis = Redis.from_url(embedded_stores.redis_url, socket_timeout=5, socket_connect_timeout=2)
        running = await start(FlagSettings(**settings), flags_database, redis, port=0)  # type: ignore[arg-type]
        started.append((running, redis))
        return running

    yield start_one
    for running, redis in started:
        await running.stop(grace=0)
        await redis.aclose()


@pytest.fixture
async def flag_server(start_flag_server: StartServer) -> RunningFlagService:
    return await start_flag_server()


@pytest.fixture
async def flags(flag_server: RunningFlagService) -> AsyncIterator[flags_pb2_grpc.FlagServiceStub]:
    channel: grpc.aio.Channel = open_channel(f"127.0.0.1:{flag_server.port}", FLAG_SERVICE)
    yield flags_pb2_grpc.FlagServiceStub(channel)
    await channel.close()
