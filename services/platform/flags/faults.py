"""Fault injection for chaos experiments, driven by flags: ``fault.<service>`` adds latency and errors to RPCs.

A fault flag's variants are JSON objects::

    {"latency_ms": [50, 150], "error_rate": 0.2, "error_code": "UNAVAILABLE", "methods": ["GetCustomer"]}

``latency_ms`` is a fixed ``[100, 100]`` or a range (uniform; a single number is fixed too), ``error_rate``
the share of calls aborted with ``error_code`` (default UNAVAILABLE), ``methods`` the RPC names it applies to
(missing or empty: every method of the service). ``{}``, or the flag DISABLED, is no fault. Targeting sees
``service`` and ``method`` in the context, so a rule may also pick a variant per method.

``FaultPolicy`` decides per call; ``FaultInjectionInterceptor`` applies it to gRPC servers (the gateway applies
the same policy to its REST routes). Install ``FaultInjectionInterceptor(store, "order")`` innermost, after
the standard interceptors, so traces, metrics and access logs include what it injects::

    create_server(register, names, interceptors=[*standard_interceptors(), FaultInjectionInterceptor(store, "order")])

Health and reflection RPCs are never faulted: a chaos experiment should not get its target restarted.
"""

from __future__ import annotations

import asyncio
import inspect
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import grpc
from prometheus_client import Counter

from services.platform.errors import FieldViolation, InvalidArgument
from services.platform.flags.engine import FlagDefinition, ValueKind, evaluate
from services.platform.flags.local import FlagStore

FAULT_FLAG_PREFIX = "fault."
FAULT_FIELDS = frozenset({"latency_ms", "error_rate", "error_code", "methods"})
MAX_LATENCY_MS = 60_000
EXEMPT_SERVICES = ("grpc.health.v1.Health", "grpc.reflection.")

FAULTS_INJECTED = Counter(
    "luckygas_flags_faults_injected_total",
    "Faults a fault-injection flag added to RPCs, by service, method and kind (latency or error).",
    ["service", "method", "kind"],
)


def fault_flag_key(service: str) -> str:
    return f"{FAULT_FLAG_PREFIX}{service}"


@dataclass(frozen=True)
class Fault:
    """What to do to one RPC."""

    latency_ms: tuple[float, float] | None = None
    error_rate: float = 0.0
    error_code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE
    methods: frozenset[str] = frozenset()

    @property
    def active(self) -> bool:
        return self.latency_ms is not None or self.error_rate > 0

    def applies_to(self, method: str) -> bool:
        return self.active and (not self.methods or method in self.methods)


NO_FAULT = Fault()
_STATUS_NAMES = {code.name: code for code in grpc.StatusCode if code is not grpc.StatusCode.OK}


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def parse_fault(value: Mapping[str, Any], *, field: str = "fault") -> Fault:
    """A fault variant checked; InvalidArgument names each bad field."""
    if not isinstance(value, Mapping):
        raise InvalidArgument.for_field(field, "a fault is a JSON object")
    violations = [
        FieldViolation(f"{field}.{unknown}", f"unknown field; a fault has {', '.join(sorted(FAULT_FIELDS))}")
        for unknown in sorted(set(value) - FAULT_FIELDS)
    ]
    latency: tuple[float, float] | None = None
    raw_latency = value.get("latency_ms")
    if raw_latency is not None:
        bounds = [raw_latency, raw_latency] if _number(raw_latency) else raw_latency
        if (
            not isinstance(bounds, list | tuple)
            or len(bounds) != 2
            or not all(_number(bound) for bound in bounds)
            or not 0 <= bounds[0] <= bounds[1] <= MAX_LATENCY_MS
        ):
            violations.append(
                FieldViolation(f"{field}.latency_ms", f"[min, max] milliseconds, 0 <= min <= max <= {MAX_LATENCY_MS}")
            )
        else:
            latency = (float(bounds[0]), float(bounds[1]))
    error_rate = value.get("error_rate", 0)
    if not _number(error_rate) or not 0 <= error_rate <= 1:
        violations.append(FieldViolation(f"{field}.error_rate", "a share of calls from 0 to 1"))
        error_rate = 0
    error_code = value.get("error_code", "UNAVAILABLE")
    if error_code not in _STATUS_NAMES:
        violations.append(FieldViolation(f"{field}.error_code", "a gRPC status name other than OK, e.g. UNAVAILABLE"))
        error_code = "UNAVAILABLE"
    methods = value.get("methods") or []
    if not isinstance(methods, list | tuple) or not all(isinstance(method, str) and method for method in methods):
        violations.append(FieldViolation(f"{field}.methods", 'a list of RPC method names, e.g. ["GetCustomer"]'))
        methods = []
    if violations:
        raise InvalidArgument.from_violations(violations)
    return Fault(latency, float(error_rate), _STATUS_NAMES[error_code], frozenset(methods))


def check_fault_flag(flag: FlagDefinition, *, field: str = "definition_json") -> None:
    """For the flag service: a ``fault.*`` flag must have JSON-object variants that are valid faults."""
    if flag.value_kind is not ValueKind.OBJECT:
        raise InvalidArgument.for_field(f"{field}.variants", "fault flags have JSON-object variants")
    violations: list[FieldViolation] = []
    for name, value in flag.variants.items():
        try:
            parse_fault(value, field=f"{field}.variants.{name}")
        except InvalidArgument as error:
            violations.extend(error.violations)
    if violations:
        raise InvalidArgument.from_violations(violations)


Behaviour = Callable[[Any, grpc.aio.ServicerContext], Any]


class FaultPolicy:
    """What ``fault.<service>`` asks of one call now, for the gRPC interceptor and the gateway's HTTP middleware.

    With no fault (flag missing, DISABLED, ``{}``, or another method) the answer is ``NO_FAULT`` after one
    dictionary lookup, or one evaluation when the flag is on.
    """

    def __init__(self, store: FlagStore, service: str, *, rng: random.Random | None = None) -> None:
        self.store = store
        self.service = service
        self.flag_key = fault_flag_key(service)
        self.rng = rng or random.Random()  # nosec B311 # picks which calls get an injected fault
        self._parsed: dict[int, tuple[Any, Fault]] = {}

    def enabled(self) -> bool:
        """False when no call can be faulted: the cheap check before working out a call's method name."""
        flag = self.store.get(self.flag_key)
        return flag is not None and flag.enabled

    def fault_for(self, method: str, *aliases: str) -> Fault:
        """The fault for ``method`` now (NO_FAULT when none); never raises. A fault's ``methods`` may name the
        call by ``method`` or by any of its ``aliases`` (the gateway's path template without the HTTP verb)."""
        flag = self.store.get(self.flag_key)
        if flag is None or not flag.enabled:
            return NO_FAULT
        evaluation = evaluate(
            flag, self.flag_key, {"service": self.service, "method": method}, expected_type=dict, default=None
        )
        value = evaluation.value
        if value is None:
            return NO_FAULT
        # Variant values are shared and immutable: each is parsed once (keyed by identity, kept alive here).
        seen, fault = self._parsed.get(id(value), (None, NO_FAULT))
        if seen is not value:
            try:
                fault = parse_fault(value)
            except InvalidArgument:
                fault = NO_FAULT  # the flag service checks fault flags; a bad one here injects nothing
            if len(self._parsed) >= 64:
                self._parsed.clear()
            self._parsed[id(value)] = (value, fault)
        return fault if any(fault.applies_to(name) for name in (method, *aliases)) else NO_FAULT

    async def delay(self, method: str, fault: Fault) -> None:
        """The fault's added latency, if it has one."""
        if fault.latency_ms is not None:
            low, high = fault.latency_ms
            # The sleep is the injected fault itself: this call is meant to be slow.
            await asyncio.sleep(self.rng.uniform(low, high) / 1000)
            FAULTS_INJECTED.labels(self.service, method, "latency").inc()

    def fails(self, method: str, fault: Fault) -> bool:
        """Whether this call is one the fault's error rate aborts (counted when it is)."""
        if fault.error_rate > 0 and self.rng.random() < fault.error_rate:
            FAULTS_INJECTED.labels(self.service, method, "error").inc()
            return True
        return False


class FaultInjectionInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Applies ``fault.<service>`` to each RPC: adds its latency and/or aborts with its status.

    Without a fault the handler is returned untouched.
    """

    def __init__(self, store: FlagStore, service: str, *, rng: random.Random | None = None) -> None:
        self.policy = FaultPolicy(store, service, rng=rng)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        full_method: str = handler_call_details.method
        if handler is None or full_method.lstrip("/").startswith(EXEMPT_SERVICES):
            return handler
        method = full_method.rpartition("/")[2]
        fault = self.policy.fault_for(method)
        if fault is NO_FAULT:
            return handler
        return self._wrap(handler, method, fault)

    async def _inject(self, method: str, fault: Fault, context: grpc.aio.ServicerContext) -> None:
        await self.policy.delay(method, fault)
        if self.policy.fails(method, fault):
            await context.abort(fault.error_code, f"fault injected by flag {self.policy.flag_key}")

    def _wrap(self, handler: grpc.RpcMethodHandler, method: str, fault: Fault) -> grpc.RpcMethodHandler:
        def wrap(behaviour: Behaviour) -> Behaviour:
            if inspect.isasyncgenfunction(behaviour):

                async def streaming(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
                    await self._inject(method, fault, context)
                    async for item in behaviour(request, context):
                        yield item

                return streaming

            async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
                await self._inject(method, fault, context)
                return await behaviour(request, context)

            return unary

        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                wrap(handler.unary_unary), handler.request_deserializer, handler.response_serializer
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                wrap(handler.unary_stream), handler.request_deserializer, handler.response_serializer
            )
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(
                wrap(handler.stream_unary), handler.request_deserializer, handler.response_serializer
            )
        return grpc.stream_stream_rpc_method_handler(
            wrap(handler.stream_stream), handler.request_deserializer, handler.response_serializer
        )
