"""The client channel retries UNAVAILABLE only for methods the proto marks idempotent, and always sets a deadline."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest
from luckygas.customer.v1 import customer_pb2 as pb
from luckygas.customer.v1 import customer_pb2_grpc

from services.platform.grpc_client import idempotent_methods, open_channel

SERVICE = pb.DESCRIPTOR.services_by_name["CustomerService"]
# The deadline the deadline test sets as the channel's default; the other tests' channel has a generous one, so a
# retry (and its backoff) on a busy machine cannot run into it.
SHORT_DEADLINE_SECONDS = 0.3
PATIENT_DEADLINE_SECONDS = 30.0


class FlakyCustomers(customer_pb2_grpc.CustomerServiceServicer):
    """Answers UNAVAILABLE to the first call of each method, then succeeds; counts every attempt."""

    def __init__(self) -> None:
        self.attempts: dict[str, int] = {}
        self.released = asyncio.Event()

    async def _flaky(self, name: str, context: grpc.aio.ServicerContext) -> pb.Customer:
        self.attempts[name] = self.attempts.get(name, 0) + 1
        if self.attempts[name] == 1:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "warming up")
        return pb.Customer(id="c-1")

    async def GetCustomer(self, request: pb.GetCustomerRequest, context: grpc.aio.ServicerContext) -> pb.Customer:
        return await self._flaky("get", context)

    async def UpdateCustomer(self, request: pb.UpdateCustomerRequest, context: grpc.aio.ServicerContext) -> pb.Customer:
        return await self._flaky("update", context)

    async def SearchCustomers(
        self, request: pb.SearchCustomersRequest, context: grpc.aio.ServicerContext
    ) -> pb.SearchCustomersResponse:
        await self.released.wait()  # a hung handler: it answers only when the test ends
        return pb.SearchCustomersResponse()


@pytest.fixture
async def flaky_server() -> AsyncIterator[tuple[FlakyCustomers, str]]:
    servicer = FlakyCustomers()
    server = grpc.aio.server()
    customer_pb2_grpc.add_CustomerServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield servicer, f"127.0.0.1:{port}"
    servicer.released.set()
    await server.stop(0)


@pytest.fixture
async def flaky(
    flaky_server: tuple[FlakyCustomers, str],
) -> AsyncIterator[tuple[FlakyCustomers, customer_pb2_grpc.CustomerServiceStub]]:
    servicer, address = flaky_server
    channel = open_channel(address, SERVICE, default_deadline=PATIENT_DEADLINE_SECONDS)
    yield servicer, customer_pb2_grpc.CustomerServiceStub(channel)
    await channel.close()


def test_idempotency_comes_from_the_proto_options() -> None:
    names = {method.name for method in idempotent_methods(SERVICE)}
    assert names == {
        "CreateCustomer",
        "GetCustomer",
        "BatchGetCustomers",
        "SearchCustomers",
        "TerminateCustomer",
        "ChecksumCustomers",
        "ListCanonicalCustomers",
    }


async def test_idempotent_call_is_retried_after_unavailable(flaky) -> None:  # type: ignore[no-untyped-def]
    servicer, stub = flaky
    reply = await stub.GetCustomer(pb.GetCustomerRequest(id="c-1"))
    assert reply.id == "c-1"
    assert servicer.attempts["get"] == 2


async def test_non_idempotent_call_is_not_retried(flaky) -> None:  # type: ignore[no-untyped-def]
    servicer, stub = flaky
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.UpdateCustomer(pb.UpdateCustomerRequest(id="c-1"))
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    assert servicer.attempts["update"] == 1


async def test_every_call_gets_the_default_deadline(flaky_server: tuple[FlakyCustomers, str]) -> None:
    _, address = flaky_server
    channel = open_channel(address, SERVICE, default_deadline=SHORT_DEADLINE_SECONDS)
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await customer_pb2_grpc.CustomerServiceStub(channel).SearchCustomers(pb.SearchCustomersRequest())
    finally:
        await channel.close()
    assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    # The handler answers only once the test is over: without the deadline the call would never end. Bounded far
    # above what scheduling on a saturated machine adds.
    assert loop.time() - started < SHORT_DEADLINE_SECONDS + 10
