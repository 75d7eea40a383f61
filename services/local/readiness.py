"""Readiness checks of the platform's components (TCP port, standard gRPC health, HTTP probe) and the wait loop."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.local.stores import port_is_open

PROBE_TIMEOUT_SECONDS = 1.0


class Check(Protocol):
    @property
    def description(self) -> str: ...

    def probe(self) -> str | None:
        """None when ready; otherwise a short reason why not."""
        ...


@dataclass(frozen=True)
class PortCheck:
    host: str
    port: int

    @property
    def description(self) -> str:
        return "port open"

    def probe(self) -> str | None:
        return None if port_is_open(self.port, self.host) else f"nothing listens on {self.host}:{self.port}"


@dataclass(frozen=True)
class GrpcHealthCheck:
    """The standard ``grpc.health.v1`` check; service "" is the server as a whole."""

    host: str
    port: int
    service: str = ""

    @property
    def description(self) -> str:
        return "grpc health"

    def probe(self) -> str | None:
        channel = grpc.insecure_channel(f"{self.host}:{self.port}")
        try:
            stub = health_pb2_grpc.HealthStub(channel)
            request = health_pb2.HealthCheckRequest(service=self.service)
            response = stub.Check(request, timeout=PROBE_TIMEOUT_SECONDS)
        except grpc.RpcError as error:
            return f"health check failed: {error.code().name}"
        finally:
            channel.close()
        if response.status == health_pb2.HealthCheckResponse.SERVING:
            return None
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(response.status))


@dataclass(frozen=True)
class HttpCheck:
    url: str

    @property
    def description(self) -> str:
        return f"GET {httpx.URL(self.url).path}"

    def probe(self) -> str | None:
        try:
            response = httpx.get(self.url, timeout=PROBE_TIMEOUT_SECONDS)
        except httpx.HTTPError as error:
            return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        return None if response.status_code == 200 else f"HTTP {response.status_code}"


class NotReady(Exception):
    """A component did not become ready; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def wait_until_ready(
    check: Check,
    timeout: float,
    *,
    failure: Callable[[], str | None] = lambda: None,
    progress: Callable[[float], None] = lambda elapsed: None,
    interval: float = 0.2,
) -> float:
    """Probe until ready; return the seconds it took.

    ``failure`` reports a reason to give up early (e.g. the process went FATAL), so a broken program
    does not cost the whole timeout.
    """
    started = time.monotonic()
    last_reason = "not probed yet"
    while True:
        elapsed = time.monotonic() - started
        progress(elapsed)
        reason = check.probe()
        if reason is None:
            return time.monotonic() - started
        last_reason = reason
        fatal = failure()
        if fatal is not None:
            raise NotReady(fatal)
        if elapsed >= timeout:
            raise NotReady(f"not ready after {timeout:.0f}s ({check.description}: {last_reason})")
        time.sleep(interval)
