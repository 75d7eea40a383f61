"""Shared fixtures: one real embedded Postgres and Redis per test session, every schema migrated once."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import pytest
import redis.asyncio as aioredis
from luckygas.customer.v1 import customer_pb2, customer_pb2_grpc
from luckygas.flags.v1 import flags_pb2, flags_pb2_grpc
from sqlalchemy import text

from services.customer.app import start
from services.customer.settings import CustomerSettings
from services.local import stores
from services.order.app import migrate as migrate_order
from services.order.app import start as start_order
from services.order.customers import CustomerDirectory
from services.order.settings import OrderSettings
from services.platform.database import Database, create_engine
from services.platform.grpc_client import open_channel
from tests.order.factories import end_the_day, start_the_day
from tests.timing import CALL_DEADLINE_SECONDS

if TYPE_CHECKING:
    from services.flags.app import RunningFlagService


@pytest.fixture(autouse=True)
def one_day_per_test() -> Iterator[None]:
    """Every date a test computes (``day(1)``, ``today()``) is relative to the day it started on, so its dates agree
    with each other even when midnight passes while it runs (the suite runs at any hour)."""
    start_the_day()
    yield
    end_the_day()


class Stores:
    def __init__(self, database_url: str, redis_url: str) -> None:
        self.database_url = database_url
        self.redis_url = redis_url


@contextmanager
def running_stores(root: Path) -> Iterator[tuple[int, int]]:
    """A throwaway embedded Postgres and Redis under ``root``: their ports, until the block ends."""
    postgres_port, redis_port = stores.free_port(), stores.free_port()
    postgres = stores.RunningProcess(
        stores.prepare_postgres(root / "pg", postgres_port, durable=False), root / "pg.log"
    )
    redis_server = stores.RunningProcess(
        stores.redis_spec(root / "redis", redis_port, durable=False), root / "redis.log"
    )
    try:
        stores.wait_for_port(postgres_port, 60, postgres.process)
        stores.wait_for_port(redis_port, 30, redis_server.process)
        yield postgres_port, redis_port
    finally:
        postgres.stop()
        redis_server.stop()


@pytest.fixture(scope="session")
def embedded_stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stores]:
    with running_stores(tmp_path_factory.mktemp("stores")) as (postgres_port, redis_port):
        stores.create_database(postgres_port, "luckygas_test")
        found = Stores(stores.postgres_url(postgres_port, "luckygas_test"), stores.redis_url(redis_port))
        os.environ["LUCKYGAS_DATABASE_URL"] = found.database_url
        os.environ["LUCKYGAS_REDIS_URL"] = found.redis_url
        os.environ.setdefault("LUCKYGAS_ENVIRONMENT", "test")
        _migrate_all(found.database_url)
        yield found


def _migrate_all(database_url: str) -> None:
    """The customer and gateway schemas; the order and flags schemas are migrated by their own fixtures."""
    from services.customer.app import migrate as migrate_customer
    from services.gateway.app import migrate as migrate_gateway
    from services.gateway.settings import GatewaySettings

    migrate_customer(CustomerSettings(database_url=database_url))
    migrate_gateway(GatewaySettings(database_url=database_url))


@pytest.fixture
async def database(embedded_stores: Stores) -> AsyncIterator[Database]:
    db = Database(create_engine(embedded_stores.database_url, pool_size=5))
    async with db.engine.begin() as connection:
        existing = (
            (
                await connection.execute(
                    text(
                        # quote_ident: the order service's schema is the reserved word "order".
                        "SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) FROM pg_tables"
                        " WHERE schemaname IN ('customer', 'flags', 'gateway', 'order', 'routing', 'tracking')"
                        " AND tablename <> 'alembic_version'"
                    )
                )
            )
            .scalars()
            .all()
        )
        if existing:
            await connection.execute(text(f"TRUNCATE {', '.join(existing)} CASCADE"))
    yield db
    await db.dispose()


@pytest.fixture
async def redis_client(embedded_stores: Stores) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(embedded_stores.redis_url)
    await client.flushdb()
    yield client
    await client.aclose()


CUSTOMER_SERVICE = customer_pb2.DESCRIPTOR.services_by_name["CustomerService"]


@pytest.fixture
async def customer_server(database: Database, embedded_stores: object) -> AsyncIterator[int]:
    settings = CustomerSettings()  # type: ignore[call-arg]
    running = await start(settings, database, port=0)
    yield running.port
    await running.stop(grace=0)


@pytest.fixture
async def customers(customer_server: int) -> AsyncIterator[customer_pb2_grpc.CustomerServiceStub]:
    channel: grpc.aio.Channel = open_channel(
        f"127.0.0.1:{customer_server}", CUSTOMER_SERVICE, default_deadline=CALL_DEADLINE_SECONDS
    )
    yield customer_pb2_grpc.CustomerServiceStub(channel)
    await channel.close()


# Configuration rows the migrations write; the `database` fixture truncates every table, so they are put back.
CONFIGURATION_TABLES = ('"order".price_lists', '"order".prices')


def read_configuration(database_url: str, tables: tuple[str, ...]) -> dict[str, list[dict[str, Any]]]:
    """The rows migrations wrote into configuration tables, to put back after the ``database`` fixture truncates."""

    async def read() -> dict[str, list[dict[str, Any]]]:
        database = Database(create_engine(database_url, pool_size=1))
        try:
            async with database.session() as session:
                return {
                    table: [dict(row) for row in (await session.execute(text(f"SELECT * FROM {table}"))).mappings()]
                    for table in tables
                }
        finally:
            await database.dispose()

    return asyncio.run(read())


async def restore_configuration(database: Database, configuration: dict[str, list[dict[str, Any]]]) -> None:
    async with database.session() as session:
        for table, rows in configuration.items():
            if rows:
                columns = list(rows[0])
                await session.execute(
                    text(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})"),
                    rows,
                )


@pytest.fixture(scope="session")
def order_configuration(embedded_stores: Stores) -> dict[str, list[dict[str, Any]]]:
    """Migrate the order schema once per session and keep the price lists it seeds."""
    migrate_order(OrderSettings(database_url=embedded_stores.database_url))
    return read_configuration(embedded_stores.database_url, CONFIGURATION_TABLES)


@pytest.fixture
async def order_database(database: Database, order_configuration: dict[str, list[dict[str, Any]]]) -> Database:
    """The test database with the order schema's configuration (the demo price list) back in place."""
    await restore_configuration(database, order_configuration)
    return database


@pytest.fixture
async def order_server(order_database: Database, customer_server: int, embedded_stores: Stores) -> AsyncIterator[int]:
    """The real order service on a free port, talking to the real customer service; its own pool, like in prod."""
    settings = OrderSettings(customer_address=f"127.0.0.1:{customer_server}")  # type: ignore[call-arg]
    database = Database(create_engine(embedded_stores.database_url, pool_size=10, application_name="order"))
    channel: grpc.aio.Channel = open_channel(
        settings.customer_address, CUSTOMER_SERVICE, default_deadline=CALL_DEADLINE_SECONDS
    )
    running = await start_order(settings, database, CustomerDirectory(channel), port=0)
    yield running.port
    await running.stop(grace=0)
    await channel.close()
    await database.dispose()


# --- the flag service: its schema migrated once, real servers on free ports with their own Redis clients ---------

FLAG_SERVICE = flags_pb2.DESCRIPTOR.services_by_name["FlagService"]

StartServer = Callable[..., Awaitable["RunningFlagService"]]


@pytest.fixture(scope="session")
def flags_schema(embedded_stores: Stores) -> None:
    from services.flags.app import migrate as migrate_flags
    from services.flags.settings import FlagSettings

    migrate_flags(FlagSettings(database_url=embedded_stores.database_url))


@pytest.fixture
async def flags_database(database: Database, flags_schema: None) -> Database:
    return database


@pytest.fixture
async def start_flag_server(flags_database: Database, embedded_stores: Stores) -> AsyncIterator[StartServer]:
    """Starts flag servers (replicas: they share the database and Redis); all are stopped at the end."""
    from services.flags.app import start as start_flags
    from services.flags.settings import FlagSettings

    started: list[tuple[RunningFlagService, aioredis.Redis]] = []

    async def start_one(**settings: object) -> RunningFlagService:
        redis = aioredis.Redis.from_url(embedded_stores.redis_url, socket_timeout=5, socket_connect_timeout=2)
        running = await start_flags(FlagSettings(**settings), flags_database, redis, port=0)  # type: ignore[arg-type]
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
    channel: grpc.aio.Channel = open_channel(
        f"127.0.0.1:{flag_server.port}", FLAG_SERVICE, default_deadline=CALL_DEADLINE_SECONDS
    )
    yield flags_pb2_grpc.FlagServiceStub(channel)
    await channel.close()


# --- the routing service: its schema migrated once (the Taitung depot kept), a real server on a free port --------

ROUTING_CONFIGURATION_TABLES = ("routing.depots",)


@pytest.fixture(scope="session")
def routing_configuration(embedded_stores: Stores) -> dict[str, list[dict[str, Any]]]:
    from services.routing.app import migrate as migrate_routing
    from services.routing.settings import RoutingSettings

    migrate_routing(RoutingSettings(database_url=embedded_stores.database_url))
    return read_configuration(embedded_stores.database_url, ROUTING_CONFIGURATION_TABLES)


@pytest.fixture
async def routing_database(
    order_database: Database, routing_configuration: dict[str, list[dict[str, Any]]]
) -> Database:
    await restore_configuration(order_database, routing_configuration)
    return order_database


@pytest.fixture
async def start_routing_server(
    routing_database: Database, customer_server: int, order_server: int, embedded_stores: Stores
) -> AsyncIterator[Callable[..., Awaitable[int]]]:
    """Starts real routing services (settings overridable) beside the real order and customer services."""
    from services.routing.app import start as start_routing
    from services.routing.app import travel_provider
    from services.routing.directory import ORDER_SERVICE, OrderDirectory
    from services.routing.directory import CustomerDirectory as RoutingCustomers
    from services.routing.settings import RoutingSettings

    opened: list[Any] = []

    async def start_one(**overrides: object) -> int:
        settings = RoutingSettings(  # type: ignore[call-arg]
            customer_address=f"127.0.0.1:{customer_server}",
            order_address=f"127.0.0.1:{order_server}",
            **overrides,
        )
        database = Database(create_engine(embedded_stores.database_url, pool_size=5, application_name="routing"))
        order_channel: grpc.aio.Channel = open_channel(
            settings.order_address, ORDER_SERVICE, default_deadline=CALL_DEADLINE_SECONDS
        )
        customer_channel: grpc.aio.Channel = open_channel(
            settings.customer_address, CUSTOMER_SERVICE, default_deadline=CALL_DEADLINE_SECONDS
        )
        running = await start_routing(
            settings,
            database,
            OrderDirectory(order_channel, deadline_seconds=10),
            RoutingCustomers(customer_channel, deadline_seconds=10),
            travel_provider(settings),
            port=0,
        )
        opened.append((running, order_channel, customer_channel, database))
        return running.port

    yield start_one
    for running, order_channel, customer_channel, database in opened:
        await running.stop(grace=0)
        await order_channel.close()
        await customer_channel.close()
        await database.dispose()


@pytest.fixture
async def routing_server(start_routing_server: Callable[..., Awaitable[int]]) -> int:
    """The real routing service on a free port, with the real order and customer services behind it."""
    return await start_routing_server()


# --- the tracking service: its schema migrated once, a real server on a free port with its own pool and Redis ------


@pytest.fixture(scope="session")
def tracking_schema(embedded_stores: Stores) -> None:
    from services.tracking.app import migrate as migrate_tracking
    from services.tracking.settings import TrackingSettings

    migrate_tracking(TrackingSettings(database_url=embedded_stores.database_url))


@pytest.fixture
async def tracking_database(database: Database, tracking_schema: None) -> Database:
    return database


@pytest.fixture
async def tracking_server(
    tracking_database: Database, redis_client: aioredis.Redis, embedded_stores: Stores
) -> AsyncIterator[int]:
    """The real tracking service on a free port (Redis flushed for the test by ``redis_client``)."""
    from services.tracking.app import start as start_tracking
    from services.tracking.settings import TrackingSettings

    settings = TrackingSettings()  # type: ignore[call-arg]
    database = Database(create_engine(embedded_stores.database_url, pool_size=5, application_name="tracking"))
    redis = aioredis.Redis.from_url(embedded_stores.redis_url, socket_timeout=5, socket_connect_timeout=2)
    running = await start_tracking(settings, database, redis, port=0)
    yield running.port
    await running.stop(grace=0)
    await redis.aclose()
    await database.dispose()
