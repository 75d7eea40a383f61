"""Client channels: a deadline on every call, trace context propagated, retries only for idempotent methods.

Which methods are idempotent is declared in the .proto with the standard ``idempotency_level`` option,
so the contract says it once and every client obeys it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
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


class _DeadlineAndTrace:
    """A unary method of a channel whose calls carry the default deadline (unless the caller gave one) and the
    caller's W3C trace context in the metadata. Done in the call itself rather than by a client interceptor: grpc's
    intercepted calls run each call in a task of its own, which was a measurable share of the gateway's CPU."""

    def __init__(self, inner: grpc.aio.UnaryUnaryMultiCallable, default_deadline: float) -> None:
        self._inner = inner
        self._default_deadline = default_deadline

    def __call__(
        self,
        request: Any,
        *,
        timeout: float | None = None,
        metadata: grpc.aio.Metadata | Sequence[tuple[str, str | bytes]] | None = None,
        credentials: grpc.CallCredentials | None = None,
        wait_for_ready: bool | None = None,
        compression: grpc.Compression | None = None,
    ) -> grpc.aio.UnaryUnaryCall:
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        sent = [*(metadata or ()), *carrier.items()]
        return self._inner(
            request,
            timeout=self._default_deadline if timeout is None else timeout,
            metadata=sent,
            credentials=credentials,
            wait_for_ready=wait_for_ready,
            compression=compression,
        )


class _PlatformChannel(grpc.aio.Channel):  # type: ignore[misc]
    """A channel whose unary methods are ``_DeadlineAndTrace``; everything else is the wrapped channel's."""

    def __init__(self, channel: grpc.aio.Channel, default_deadline: float) -> None:
        self._channel = channel
        self._default_deadline = default_deadline

    async def __aenter__(self) -> _PlatformChannel:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._channel.close(None)

    async def close(self, grace: float | None = None) -> None:
        await self._channel.close(grace)

    def get_state(self, try_to_connect: bool = False) -> grpc.ChannelConnectivity:
        return self._channel.get_state(try_to_connect)

    async def wait_for_state_change(self, last_observed_state: grpc.ChannelConnectivity) -> None:
        await self._channel.wait_for_state_change(last_observed_state)

    async def channel_ready(self) -> None:
        await self._channel.channel_ready()

    def unary_unary(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return _DeadlineAndTrace(self._channel.unary_unary(method, *args, **kwargs), self._default_deadline)

    def unary_stream(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return self._channel.unary_stream(method, *args, **kwargs)

    def stream_unary(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return self._channel.stream_unary(method, *args, **kwargs)

    def stream_stream(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return self._channel.stream_stream(method, *args, **kwargs)


def open_channel(
    address: str,
    service: ServiceDescriptor,
    *,
    default_deadline: float = DEFAULT_DEADLINE_SECONDS,
) -> grpc.aio.Channel:
    """An insecure channel (in-cluster traffic) to ``address`` for ``service``; close it in the lifespan."""
    channel = grpc.aio.insecure_channel(
        address,
        options=[
            ("grpc.service_config", service_config(service)),
            ("grpc.enable_retries", 1),
            # Reconnect quickly after a restarted server comes back.
            ("grpc.initial_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", 1000),
            ("grpc.min_reconnect_backoff_ms", 100),
        ],
    )
    return _PlatformChannel(channel, default_deadline)
