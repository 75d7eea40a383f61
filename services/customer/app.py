"""Start-up of the customer service: engine, gRPC server, /metrics, graceful shutdown."""

from __future__ import annotations

import logging
from pathlib import Path

from services.customer.servicer import SERVICE_NAME, registrar
from services.customer.settings import CustomerSettings
from services.platform import migrations
from services.platform.database import Database, create_engine
from services.platform.grpc_server import GrpcServer, create_server, serve_until_terminated
from services.platform.telemetry import configure_logging, configure_tracing, start_metrics_endpoint

MIGRATIONS = Path(__file__).parent / "migrations"
SCHEMA = "customer"

_log = logging.getLogger(__name__)


def migrate(settings: CustomerSettings) -> None:
    migrations.upgrade(MIGRATIONS, settings.database_url, SCHEMA)


async def start(settings: CustomerSettings, database: Database, port: int | None = None) -> GrpcServer:
    """Start the gRPC server on ``port`` (settings' port when None; 0 for any free port)."""
    return await create_server(
        registrar(database),
        [SERVICE_NAME],
        host=settings.customer_grpc_host,
        port=settings.customer_grpc_port if port is None else port,
    )


async def serve(settings: CustomerSettings) -> None:
    configure_logging("customer", settings.log_level)
    tracer_provider = configure_tracing("customer")
    start_metrics_endpoint(settings.customer_metrics_port)
    database = Database(
        create_engine(settings.database_url, pool_size=settings.database_pool_size, application_name="customer")
    )
    running = await start(settings, database)
    _log.info("customer service listening", extra={"port": running.port})
    try:
        await serve_until_terminated(running, settings.shutdown_grace_seconds)
    finally:
        await database.dispose()
        tracer_provider.shutdown()
