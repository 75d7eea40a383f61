"""Order service fixtures: its schema migrated once, a real order server on a free port beside the customer one."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from luckygas.order.v1 import order_pb2, order_pb2_grpc

from services.platform.grpc_client import open_channel
from tests.timing import CALL_DEADLINE_SECONDS

ORDER_SERVICE = order_pb2.DESCRIPTOR.services_by_name["OrderService"]


@pytest.fixture
async def orders(order_server: int) -> AsyncIterator[order_pb2_grpc.OrderServiceStub]:
    channel: grpc.aio.Channel = open_channel(
        f"127.0.0.1:{order_server}", ORDER_SERVICE, default_deadline=CALL_DEADLINE_SECONDS
    )
    yield order_pb2_grpc.OrderServiceStub(channel)
    await channel.close()
