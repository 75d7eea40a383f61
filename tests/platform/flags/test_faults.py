"""Fault-injection flags: latency and errors on the chosen methods of one service, and nothing when off."""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from luckygas.flags.v1 import flags_pb2, flags_pb2_grpc

from services.platform.errors import InvalidArgument
from services.platform.flags.engine import parse_flag
from services.platform.flags.faults import (
    NO_FAULT,
    Fault,
    FaultInjectionInterceptor,
    FaultPolicy,
    check_fault_flag,
    parse_fault,
)
from services.platform.flags.local import FlagChange, FlagStore
from services.platform.grpc_client import open_channel
from services.platform.grpc_server import GrpcServer, create_server
from services.platform.interceptors import standard_interceptors
from tests.platform.flags.conftest import WatchOnlyFlagService

FLAG_SERVICE = flags_pb2.DESCRIPTOR.services_by_name["FlagService"]
# Slowed is at least the latency (a lower bound: a busy machine only adds to it); not slowed is under half of it,
# a margin no saturated machine eats on a local call.
LATENCY_MS = 2000
NOT_SLOWED_SECONDS = LATENCY_MS / 1000 / 2


def test_a_fault_variant_is_parsed() -> None:
    fault = parse_fault(
        {"latency_ms": [50, 150], "error_rate": 0.2, "error_code": "UNAVAILABLE", "methods": ["GetFlag"]}
    )
    assert fault == Fault((50.0, 150.0), 0.2, grpc.StatusCode.UNAVAILABLE, frozenset({"GetFlag"}))
    assert parse_fault({"latency_ms": 100}).latency_ms == (100.0, 100.0)
    assert parse_fault({}) == NO_FAULT
    assert not NO_FAULT.active
    assert fault.applies_to("GetFlag")
    assert not fault.applies_to("ListFlags")
    assert parse_fault({"error_rate": 1}).applies_to("Anything")


def test_a_malformed_fault_names_each_field() -> None:
    with pytest.raises(InvalidArgument) as error:
        parse_fault({"latency_ms": [150, 50], "error_rate": 2, "error_code": "OK", "methods": "GetFlag", "x": 1})
    assert {violation.field for violation in error.value.violations} == {
        "fault.latency_ms",
        "fault.error_rate",
        "fault.error_code",
        "fault.methods",
        "fault.x",
    }


def test_the_flag_service_can_check_a_fault_flag() -> None:
    check_fault_flag(parse_flag("fault.order", fault_definition({"latency_ms": [1, 2]})))
    with pytest.raises(InvalidArgument) as error:
        check_fault_flag(parse_flag("fault.order", fault_definition({"error_rate": -1})))
    assert error.value.violations[0].field == "definition_json.variants.fault.error_rate"
    with pytest.raises(InvalidArgument):
        check_fault_flag(parse_flag("fault.order", {"state": "ENABLED", "variants": {"a": 1}, "defaultVariant": "a"}))


def fault_definition(fault: dict[str, Any], *, state: str = "ENABLED") -> dict[str, Any]:
    return {"state": state, "variants": {"fault": fault, "off": {}}, "defaultVariant": "fault"}


class UnaryFlagService(WatchOnlyFlagService):
    async def GetFlag(self, request: flags_pb2.GetFlagRequest, context: grpc.aio.ServicerContext) -> flags_pb2.Flag:
        return flags_pb2.Flag(key=request.key)

    async def ListFlags(
        self, request: flags_pb2.ListFlagsRequest, context: grpc.aio.ServicerContext
    ) -> flags_pb2.FlagSet:
        return flags_pb2.FlagSet(revision=1)


@pytest.fixture
def store() -> FlagStore:
    return FlagStore()


@pytest.fixture
async def faulty_server(store: FlagStore) -> AsyncIterator[tuple[GrpcServer, flags_pb2_grpc.FlagServiceAsyncStub]]:
    service = UnaryFlagService()
    service.change("a", {"state": "ENABLED", "variants": {"x": 1}, "defaultVariant": "x"})
    interceptor = FaultInjectionInterceptor(store, "flags", rng=random.Random(7))
    running = await create_server(
        lambda server: flags_pb2_grpc.add_FlagServiceServicer_to_server(service, server),
        ["luckygas.flags.v1.FlagService"],
        interceptors=[*standard_interceptors(), interceptor],
    )
    # Far above LATENCY_MS: a slowed call must end by answering, not at its deadline.
    channel = open_channel(f"127.0.0.1:{running.port}", FLAG_SERVICE, default_deadline=30)
    yield running, flags_pb2_grpc.FlagServiceStub(channel)
    await channel.close()
    await running.stop(grace=0)


def set_fault(store: FlagStore, fault: dict[str, Any], *, version: int, state: str = "ENABLED") -> None:
    flag = parse_flag("fault.flags", fault_definition(fault, state=state), version=version)
    store.apply_changes([FlagChange("fault.flags", version, flag)], revision=version)


async def timed(call: Any) -> float:
    started = time.perf_counter()
    await call
    return time.perf_counter() - started


async def test_latency_is_added_to_the_chosen_method_only(
    store: FlagStore, faulty_server: tuple[GrpcServer, flags_pb2_grpc.FlagServiceAsyncStub]
) -> None:
    _, stub = faulty_server
    set_fault(store, {"latency_ms": [LATENCY_MS, LATENCY_MS], "methods": ["GetFlag"]}, version=1)
    assert await timed(stub.GetFlag(flags_pb2.GetFlagRequest(key="a"))) >= LATENCY_MS / 1000
    assert await timed(stub.ListFlags(flags_pb2.ListFlagsRequest())) < NOT_SLOWED_SECONDS
    set_fault(store, {"latency_ms": [LATENCY_MS, LATENCY_MS], "methods": ["GetFlag"]}, version=2, state="DISABLED")
    assert await timed(stub.GetFlag(flags_pb2.GetFlagRequest(key="a"))) < NOT_SLOWED_SECONDS


async def test_errors_are_injected_at_the_configured_rate_with_the_chosen_status(
    store: FlagStore, faulty_server: tuple[GrpcServer, flags_pb2_grpc.FlagServiceAsyncStub]
) -> None:
    _, stub = faulty_server
    set_fault(store, {"error_rate": 1.0, "error_code": "RESOURCE_EXHAUSTED"}, version=1)
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await stub.ListFlags(flags_pb2.ListFlagsRequest())
    assert error.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "fault.flags" in (error.value.details() or "")

    set_fault(store, {"error_rate": 0.3, "error_code": "RESOURCE_EXHAUSTED"}, version=2)
    failures = 0
    for _ in range(200):
        try:
            await stub.ListFlags(flags_pb2.ListFlagsRequest())
        except grpc.aio.AioRpcError:
            failures += 1
    assert 35 <= failures <= 85

    set_fault(store, {}, version=3)  # the "{}" variant: no fault
    await stub.ListFlags(flags_pb2.ListFlagsRequest())


async def test_a_stream_is_delayed_or_refused_before_its_first_message(
    store: FlagStore, faulty_server: tuple[GrpcServer, flags_pb2_grpc.FlagServiceAsyncStub]
) -> None:
    _, stub = faulty_server
    set_fault(store, {"latency_ms": [150, 150], "methods": ["WatchFlags"]}, version=1)
    started = time.perf_counter()
    call = stub.WatchFlags(flags_pb2.WatchFlagsRequest(watcher="test"))
    first = await call.read()
    assert first.full
    assert time.perf_counter() - started >= 0.15
    call.cancel()
    set_fault(store, {"error_rate": 1, "methods": ["WatchFlags"]}, version=2)
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await stub.WatchFlags(flags_pb2.WatchFlagsRequest(watcher="test")).read()
    assert error.value.code() is grpc.StatusCode.UNAVAILABLE


async def test_health_checks_are_never_faulted(
    store: FlagStore, faulty_server: tuple[GrpcServer, flags_pb2_grpc.FlagServiceAsyncStub]
) -> None:
    running, _ = faulty_server
    set_fault(store, {"error_rate": 1}, version=1)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        response = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
    assert response.status == health_pb2.HealthCheckResponse.SERVING


def test_a_per_method_rule_in_the_flag_is_honoured(store: FlagStore) -> None:
    definition = {
        "state": "ENABLED",
        "variants": {"slow": {"latency_ms": [10, 10]}, "off": {}},
        "defaultVariant": "off",
        "targeting": {"if": [{"==": [{"var": "method"}, "GetFlag"]}, "slow", "off"]},
    }
    store.apply_changes([FlagChange("fault.flags", 1, parse_flag("fault.flags", definition, version=1))], 1)
    policy = FaultPolicy(store, "flags")
    assert policy.fault_for("GetFlag").latency_ms == (10.0, 10.0)
    assert policy.fault_for("ListFlags") is NO_FAULT
    assert FaultPolicy(FlagStore(), "flags").fault_for("GetFlag") is NO_FAULT
