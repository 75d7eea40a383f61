"""The grpc.aio server factory: standard health service, interceptors, graceful shutdown on SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from services.platform.interceptors import standard_interceptors

_log = logging.getLogger(__name__)

Registrar = Callable[[grpc.aio.Server], None]

# Every client connection is closed (GOAWAY) after about this long, so clients resolve the service's name again and
# spread over pods added since: behind a headless Kubernetes Service one long-lived HTTP/2 connection per pod would
# otherwise never see a scale-up. gRPC adds ±10% jitter; calls keep going on a new connection.
MAX_CONNECTION_AGE_SECONDS = 300.0
# In-flight calls on a closing connection may finish for this long: more than the longest deadline a caller gives
# (the gateway's reconcile, 120 s). Streams that never end (the flag watch) are cut then, and their watchers resume.
MAX_CONNECTION_AGE_GRACE_SECONDS = 180.0


@dataclass
class GrpcServer:
    """A started server, the port it bound, and its health service."""

    server: grpc.aio.Server
    port: int
    health: health.aio.HealthServicer

    async def stop(self, grace: float) -> None:
        """Report NOT_SERVING so balancers stop sending, let in-flight calls finish for ``grace`` s, stop."""
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)


async def create_server(
    register: Registrar,
    service_names: list[str],
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    interceptors: list[grpc.aio.ServerInterceptor] | None = None,
    max_connection_age: float = MAX_CONNECTION_AGE_SECONDS,
    max_connection_age_grace: float = MAX_CONNECTION_AGE_GRACE_SECONDS,
) -> GrpcServer:
    """Build, bind and start a server; ``port=0`` picks a free port (tests), the bound one is returned."""
    server = grpc.aio.server(
        interceptors=standard_interceptors() if interceptors is None else interceptors,
        options=[
            ("grpc.so_reuseport", 0),
            ("grpc.max_receive_message_length", 4 * 1024 * 1024),
            ("grpc.max_connection_age_ms", int(max_connection_age * 1000)),
            ("grpc.max_connection_age_grace_ms", int(max_connection_age_grace * 1000)),
        ],
    )
    register(server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection([*service_names, health.SERVICE_NAME, reflection.SERVICE_NAME], server)
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"could not bind gRPC server to {host}:{port}")
    await server.start()
    for name in ["", *service_names]:
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return GrpcServer(server=server, port=bound, health=health_servicer)


async def serve_until_terminated(running: GrpcServer, grace: float) -> None:
    """Block until SIGTERM or SIGINT, then shut down gracefully."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    serving = asyncio.create_task(running.server.wait_for_termination())
    stop_requested = asyncio.create_task(stopping.wait())
    await asyncio.wait({serving, stop_requested}, return_when=asyncio.FIRST_COMPLETED)
    if stopping.is_set():
        _log.info("shutting down", extra={"grace_seconds": grace})
        await running.stop(grace)
    serving.cancel()
    stop_requested.cancel()
