"""Order service fixtures: its schema migrated once, a real order server on a free port beside the customer one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from luckygas.order.v1 import order_pb2, order_pb2_grpc
from sqlalchemy import text

from services.order.app import migrate, start
from services.order.customers import CUSTOMER_SERVICE, CustomerDirectory
from services.order.settings import OrderSettings
from services.platform.database import Database, create_engine
from services.platform.grpc_client import open_channel
from tests.conftest import Stores

ORDER_SERVICE = order_pb2.DESCRIPTOR.services_by_name["OrderService"]
# Configuration rows the migrations write; the `database` fixture truncates every table, so they are put back.
CONFIGURATION_TABLES = ('"order".price_lists', '"order".prices')


@pytest.fixture(scope="session")
def order_configuration(embedded_stores: Stores) -> dict[str, list[dict[str, Any]]]:
    """Migrate the order schema once per session and keep the price lists it seeds."""
    migrate(OrderSettings(database_url=embedded_stores.database_url))

    async def read() -> dict[str, list[dict[str, Any]]]:
        database = Database(create_engine(embedded_stores.database_url, pool_size=1))
        try:
            async with database.session() as session:
                return {
                    table: [dict(row) for row in (await session.execute(text(f"SELECT * FROM {table}"))).mappings()]
                    for table in CONFIGURATION_TABLES
                }
        finally:
            await database.dispose()

    return asyncio.run(read())


@pytest.fixture
async def order_database(database: Database, order_configuration: dict[str, list[dict[str, Any]]]) -> Database:
    """The test database with the order schema's configuration (the demo price list) back in place."""
    async with database.session() as session:
        for table, rows in order_configuration.items():
            if rows:
                columns = list(rows[0])
                await session.execute(
                    text(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})"),
                    rows,
                )
    return database


@pytest.fixture
async def order_server(order_database: Database, customer_server: int, embedded_stores: Stores) -> AsyncIterator[int]:
    """The real order service on a free port, talking to the real customer service; its own pool, like in prod."""
    settings = OrderSettings(customer_address=f"127.0.0.1:{customer_server}")  # type: ignore[call-arg]
    database = Database(create_engine(embedded_stores.database_url, pool_size=10, application_name="order"))
    channel: grpc.aio.Channel = open_channel(settings.customer_address, CUSTOMER_SERVICE)
    running = await start(settings, database, CustomerDirectory(channel), port=0)
    yield running.port
    await running.stop(grace=0)
    await channel.close()
    await database.dispose()


@pytest.fixture
async def orders(order_server: int) -> AsyncIterator[order_pb2_grpc.OrderServiceStub]:
    channel: grpc.aio.Channel = open_channel(f"127.0.0.1:{order_server}", ORDER_SERVICE)
    yield order_pb2_grpc.OrderServiceStub(channel)
    await channel.close()
