"""Start-up of the customer service: engine, gRPC server, outbox relay, /metrics, graceful shutdown."""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from pathlib import Path

from redis.asyncio import Redis

from services.customer.models import outbox
from services.customer.servicer import SERVICE_NAME, registrar
from services.customer.settings import CustomerSettings
from services.platform import migrations
from services.platform.database import Database, create_engine
from services.platform.errors import Unavailable
from services.platform.grpc_server import GrpcServer, create_server, serve_until_terminated
from services.platform.outbox import OutboxRelay
from services.platform.telemetry import configure_logging, configure_tracing, start_metrics_endpoint

MIGRATIONS = Path(__file__).parent / "migrations"
SCHEMA = "customer"

# After the server has drained, how long the relay may spend publishing what the last calls committed.
FINAL_PUBLISH_SECONDS = 2.0

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
    redis = Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=2)
    relay = OutboxRelay(database, outbox, redis)
    relay_task = asyncio.create_task(relay.run(), name="customer-outbox-relay")
    try:
        running = await start(settings, database)
        _log.info("customer service listening", extra={"port": running.port})
        await serve_until_terminated(running, settings.shutdown_grace_seconds)
    finally:
        relay_task.cancel()
        with suppress(asyncio.CancelledError):
            await relay_task
        # Events left over are not lost (they stay in the outbox for the next relay); this only makes them prompt.
        with suppress(Unavailable, TimeoutError):
            await asyncio.wait_for(relay.publish_pending(), FINAL_PUBLISH_SECONDS)
        await redis.aclose()
        await database.dispose()
        tracer_provider.shutdown()
