"""Fault flags through the whole chain: flag service → watcher → a real service's fault interceptor."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator

import grpc
import pytest
import redis.asyncio as aioredis
from luckygas.customer.v1 import customer_pb2, customer_pb2_grpc
from luckygas.flags.v1 import flags_pb2 as pb
from luckygas.flags.v1 import flags_pb2_grpc

from services.customer.app import start
from services.customer.settings import CustomerSettings
from services.flags.app import RunningFlagService
from services.platform.database import Database
from services.platform.flags.faults import FaultInjectionInterceptor
from services.platform.flags.local import FlagStore, FlagWatcher
from services.platform.grpc_client import open_channel
from services.platform.interceptors import standard_interceptors
from tests.flags.factories import SRE

CUSTOMER_SERVICE = customer_pb2.DESCRIPTOR.services_by_name["CustomerService"]
# Slowed is at least the latency (a lower bound: a busy machine only adds to it); not slowed is under half of it,
# a margin no saturated machine eats on a local call.
LATENCY_MS = 2000
NOT_SLOWED_SECONDS = LATENCY_MS / 1000 / 2
WAIT_SECONDS = 30.0
SLOW_GET = {
    "state": "ENABLED",
    "variants": {"slow": {"latency_ms": [LATENCY_MS, LATENCY_MS], "methods": ["GetCustomer"]}, "none": {}},
    "defaultVariant": "slow",
}


@pytest.fixture
async def watched_customers(
    flag_server: RunningFlagService, database: Database, redis_client: aioredis.Redis
) -> AsyncIterator[tuple[customer_pb2_grpc.CustomerServiceStub, FlagStore]]:
    """The customer service with its in-process flags kept current from the flag service, as in production."""
    store = FlagStore()
    async with FlagWatcher(store, f"127.0.0.1:{flag_server.port}", watcher="customer", redis=redis_client):
        running = await start(
            CustomerSettings(),  # type: ignore[call-arg]
            database,
            port=0,
            interceptors=standard_interceptors(FaultInjectionInterceptor(store, "customer")),
        )
        # Far above the latency: the slowed call must end by answering, not at its deadline.
        channel = open_channel(f"127.0.0.1:{running.port}", CUSTOMER_SERVICE, default_deadline=WAIT_SECONDS)
        yield customer_pb2_grpc.CustomerServiceStub(channel), store
        await channel.close()
        await running.stop(grace=0)


async def timed(call: object) -> float:
    started = time.perf_counter()
    with contextlib.suppress(grpc.aio.AioRpcError):  # the id is made up (NOT_FOUND): only the time matters
        await call  # type: ignore[misc]
    return time.perf_counter() - started


async def until_revision_above(store: FlagStore, revision: int) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while store.revision <= revision and time.monotonic() < deadline:  # noqa: ASYNC110 - a revision number
        await asyncio.sleep(0.01)
    assert store.revision > revision


async def test_a_fault_flag_slows_one_method_only_and_turning_it_off_removes_it(
    flags: flags_pb2_grpc.FlagServiceStub,
    watched_customers: tuple[customer_pb2_grpc.CustomerServiceStub, FlagStore],
) -> None:
    customers, store = watched_customers
    get = customer_pb2.GetCustomerRequest(id="00000000-0000-0000-0000-000000000000")
    search = customer_pb2.SearchCustomersRequest(query="none")
    assert await timed(customers.GetCustomer(get)) < NOT_SLOWED_SECONDS

    before = store.revision
    await flags.PutFlag(
        pb.PutFlagRequest(key="fault.customer", definition_json=json.dumps(SLOW_GET), actor=SRE, reason="chaos")
    )
    await until_revision_above(store, before)

    assert await timed(customers.GetCustomer(get)) >= LATENCY_MS / 1000
    assert await timed(customers.SearchCustomers(search)) < NOT_SLOWED_SECONDS

    before = store.revision
    await flags.KillFlag(pb.KillFlagRequest(key="fault.customer", actor=SRE, reason="experiment over"))
    await until_revision_above(store, before)

    assert await timed(customers.GetCustomer(get)) < NOT_SLOWED_SECONDS
