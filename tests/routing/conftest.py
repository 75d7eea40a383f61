"""Routing service fixtures: a real routing server beside real order and customer servers, and stubs to call."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from luckygas.order.v1 import order_pb2, order_pb2_grpc
from luckygas.routing.v1 import routing_pb2, routing_pb2_grpc

from services.platform.grpc_client import open_channel
from tests.timing import CALL_DEADLINE_SECONDS

ROUTING_SERVICE = routing_pb2.DESCRIPTOR.services_by_name["RoutingService"]
ORDER_SERVICE = order_pb2.DESCRIPTOR.services_by_name["OrderService"]


@pytest.fixture
async def routing(routing_server: int) -> AsyncIterator[routing_pb2_grpc.RoutingServiceStub]:
    # Planning takes its whole time budget: a deadline well above the budgets the tests give.
    channel: grpc.aio.Channel = open_channel(f"127.0.0.1:{routing_server}", ROUTING_SERVICE, default_deadline=30)
    yield routing_pb2_grpc.RoutingServiceStub(channel)
    await channel.close()


@pytest.fixture
async def orders(order_server: int) -> AsyncIterator[order_pb2_grpc.OrderServiceStub]:
    channel: grpc.aio.Channel = open_channel(
        f"127.0.0.1:{order_server}", ORDER_SERVICE, default_deadline=CALL_DEADLINE_SECONDS
    )
    yield order_pb2_grpc.OrderServiceStub(channel)
    await channel.close()
