"""Client channels: a deadline on every call, trace context propagated, retries only for idempotent methods.

Which methods are idempotent is declared in the .proto with the standard ``idempotency_level`` option,
so the contract says it once and every client obeys it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor
from google.protobuf.descriptor_pb2 import MethodOptions
from opentelemetry import propagate

DEFAULT_DEADLINE_SECONDS = 2.0

_RETRYABLE_LEVELS = {MethodOptions.NO_SIDE_EFFECTS, MethodOptions.IDEMPOTENT}


def idempotent_methods(service: ServiceDescriptor) -> list[MethodDescriptor]:
    return [method for method in service.methods if method.GetOptions().idempotency_level in _RETRYABLE_LEVELS]


def service_config(service: ServiceDescriptor, *, max_attempts: int = 3) -> str:
    """gRPC service config: retry UNAVAILABLE for idempotent methods, with a retry budget (throttling)."""
    names = [{"service": service.full_name, "method": method.name} for method in idempotent_methods(service)]
    config: dict[str, Any] = {
        "methodConfig": [
            {
                "name": names,
                "retryPolicy": {
                    "maxAttempts": max_attempts,
                    "initialBackoff": "0.05s",
                    "maxBackoff": "0.5s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        ]
        if names
        else [],
        # Retries stop when more than half of recent calls failed, so a sick service is not hammered.
        "retryThrottling": {"maxTokens": 10, "tokenRatio": 0.1},
        # Every address the name resolves to gets calls in turn: behind a headless Kubernetes Service that is each
        # ready pod, so calls spread over replicas instead of pinning one HTTP/2 connection to one pod.
        "loadBalancingConfig": [{"round_robin": {}}],
    }
    return json.dumps(config)


class _DeadlineAndTraceInterceptor(grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    def __init__(self, default_deadline: float) -> None:
        self.default_deadline = default_deadline

    async def intercept_unary_unary(
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Any], Any],
        client_call_details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        metadata = grpc.aio.Metadata(*(client_call_details.metadata or ()))
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        for key, value in carrier.items():
            metadata.add(key, value)
        timeout = client_call_details.timeout if client_call_details.timeout is not None else self.default_deadline
        details = grpc.aio.ClientCallDetails(
            method=client_call_details.method,
            timeout=timeout,
            metadata=metadata,
            credentials=client_call_details.credentials,
            wait_for_ready=client_call_details.wait_for_ready,
        )
        return await continuation(details, request)


def open_channel(
    address: str,
    service: ServiceDescriptor,
    *,
    default_deadline: float = DEFAULT_DEADLINE_SECONDS,
) -> grpc.aio.Channel:
    """An insecure channel (in-cluster traffic) to ``address`` for ``service``; close it in the lifespan."""
    return grpc.aio.insecure_channel(
        address,
        options=[
            ("grpc.service_config", service_config(service)),
            ("grpc.enable_retries", 1),
            # Reconnect quickly after a restarted server comes back.
            ("grpc.initial_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", 1000),
            ("grpc.min_reconnect_backoff_ms", 100),
        ],
        interceptors=[_DeadlineAndTraceInterceptor(default_deadline)],
    )
