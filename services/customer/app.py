"""Start-up of the customer service: engine, gRPC server, outbox relay, /metrics, graceful shutdown."""

from __future__ import annotations

import logging
from pathlib import Path

import grpc

from services.customer.canonical_rows import CanonicalCustomers
from services.customer.models import outbox
from services.customer.service import CustomerService
from services.customer.servicer import SERVICE_NAME, registrar
from services.customer.settings import CustomerSettings
from services.platform import migrations
from services.platform.database import Database
from services.platform.grpc_server import GrpcServer, create_server, serve_until_terminated
from services.platform.process import service_process

MIGRATIONS = Path(__file__).parent / "migrations"
SCHEMA = "customer"

_log = logging.getLogger(__name__)


def migrate(settings: CustomerSettings) -> None:
    migrations.upgrade(MIGRATIONS, settings.database_url, SCHEMA)


async def start(
    settings: CustomerSettings,
    database: Database,
    port: int | None = None,
    *,
    interceptors: list[grpc.aio.ServerInterceptor] | None = None,
) -> GrpcServer:
    """Start the gRPC server on ``port`` (settings' port when None; 0 for any free port)."""
    return await create_server(
        registrar(CustomerService(database), CanonicalCustomers(database)),
        [SERVICE_NAME],
        host=settings.customer_grpc_host,
        port=settings.customer_grpc_port if port is None else port,
        interceptors=interceptors,
    )


async def serve(settings: CustomerSettings) -> None:
    async with service_process(
        "customer", settings, metrics_port=settings.customer_metrics_port, outbox=outbox
    ) as process:
        running = await start(settings, process.database, interceptors=process.interceptors())
        _log.info("customer service listening", extra={"port": running.port})
        await serve_until_terminated(running, settings.shutdown_grace_seconds)
