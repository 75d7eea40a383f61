"""What every gRPC service process sets up around its server: telemetry, database, Redis, outbox relay."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import grpc
from redis.asyncio import Redis
from sqlalchemy import Table

from services.platform.database import Database, create_engine
from services.platform.errors import Unavailable
from services.platform.flags.faults import FaultInjectionInterceptor
from services.platform.flags.local import FlagStore, FlagWatcher
from services.platform.interceptors import standard_interceptors
from services.platform.outbox import OutboxRelay
from services.platform.settings import PlatformSettings
from services.platform.telemetry import configure_logging, configure_tracing, start_metrics_endpoint

# On shutdown, one last publish pass so events committed just before SIGTERM go out promptly. Nothing is lost
# without it: unpublished events stay in the outbox for the next relay.
FINAL_PUBLISH_SECONDS = 2.0

_log = logging.getLogger(__name__)


@dataclass
class ServiceProcess:
    """The shared resources of a running service; background tasks are cancelled when the process ends."""

    name: str
    database: Database
    redis: Redis
    # The in-process flags, kept current by a watcher on the flag service (fail static when it is away).
    flags: FlagStore
    background: list[asyncio.Task[Any]] = field(default_factory=list)

    def interceptors(self) -> list[grpc.aio.ServerInterceptor]:
        """The standard server interceptors plus fault injection driven by the ``fault.<name>`` flag."""
        return standard_interceptors(FaultInjectionInterceptor(self.flags, self.name))

    def run_in_background(self, work: Coroutine[Any, Any, Any], name: str) -> None:
        self.background.append(asyncio.create_task(work, name=f"{self.name}-{name}"))


@asynccontextmanager
async def service_process(
    name: str, settings: PlatformSettings, *, metrics_port: int, outbox: Table, watch_flags: bool = True
) -> AsyncIterator[ServiceProcess]:
    """Logging, tracing and /metrics for ``name``; its database pool and Redis; its outbox relay running."""
    configure_logging(name, settings.log_level)
    tracer_provider = configure_tracing(name)
    start_metrics_endpoint(metrics_port, settings.metrics_host)
    database = Database(
        create_engine(settings.database_url, pool_size=settings.database_pool_size, application_name=name)
    )
    # The relay has its own two connections: under load it must not queue behind requests for the pool,
    # or every event waits as long as the slowest request.
    relay_database = Database(create_engine(settings.database_url, pool_size=2, application_name=f"{name}-relay"))
    redis = Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=2)
    relay = OutboxRelay(relay_database, outbox, redis)
    process = ServiceProcess(name, database, redis, FlagStore())
    process.run_in_background(relay.run(), "outbox-relay")
    # The flag service itself is the source of the flags: it does not watch its own stream.
    watcher = FlagWatcher(process.flags, settings.flags_address, watcher=name, redis=redis)
    if watch_flags:
        watcher.start()
    try:
        yield process
    finally:
        await watcher.stop()
        for task in process.background:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
        with suppress(Unavailable, TimeoutError):
            await asyncio.wait_for(relay.publish_pending(), FINAL_PUBLISH_SECONDS)
        await redis.aclose()
        await relay_database.dispose()
        await database.dispose()
        tracer_provider.shutdown()
