"""A real customer gRPC server on an ephemeral port and a real channel to it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from luckygas.customer.v1 import customer_pb2, customer_pb2_grpc

from services.customer.app import start
from services.customer.settings import CustomerSettings
from services.platform.database import Database
from services.platform.grpc_client import open_channel

CUSTOMER_SERVICE = customer_pb2.DESCRIPTOR.services_by_name["CustomerService"]


@pytest.fixture
async def customer_server(database: Database, embedded_stores: object) -> AsyncIterator[int]:
    settings = CustomerSettings()  # type: ignore[call-arg]
    running = await start(settings, database, port=0)
    yield running.port
    await running.stop(grace=0)


@pytest.fixture
async def customers(customer_server: int) -> AsyncIterator[customer_pb2_grpc.CustomerServiceStub]:
    channel: grpc.aio.Channel = open_channel(f"127.0.0.1:{customer_server}", CUSTOMER_SERVICE)
    yield customer_pb2_grpc.CustomerServiceStub(channel)
    await channel.close()
