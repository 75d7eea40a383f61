"""Start-up of the flag service: in-memory copy loaded and kept current, gRPC server, outbox relay, /metrics."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

from redis.asyncio import Redis

from services.flags.catalogue import FlagCatalogue
from services.flags.fanout import CatalogueSync, publish
from services.flags.models import OUTBOX, SCHEMA
from services.flags.schemas import ChangeSet
from services.flags.service import FlagService
from services.flags.servicer import SERVICE_NAME, registrar
from services.flags.settings import FlagSettings
from services.platform import migrations
from services.platform.database import Database
from services.platform.grpc_server import GrpcServer, create_server, serve_until_terminated
from services.platform.process import service_process

MIGRATIONS = Path(__file__).parent / "migrations"

_log = logging.getLogger(__name__)
# How long stopping waits for the task that keeps the flag copy current.
STOP_SYNC_SECONDS = 5.0


def migrate(settings: FlagSettings) -> None:
    migrations.upgrade(MIGRATIONS, settings.database_url, SCHEMA)


def flag_service(database: Database, catalogue: FlagCatalogue, redis: Redis) -> FlagService:
    """Committed changes reach this replica's copy at once, and the other processes through Redis."""

    async def fan_out(changes: ChangeSet) -> None:
        catalogue.apply(changes)
        await publish(redis, changes)

    return FlagService(database, fan_out)


@dataclass
class RunningFlagService:
    """A started server and the task keeping its in-memory copy current."""

    server: GrpcServer
    catalogue: FlagCatalogue
    sync: CatalogueSync
    sync_task: asyncio.Task[None]

    @property
    def port(self) -> int:
        return self.server.port

    async def stop(self, grace: float) -> None:
        await self.server.stop(grace)
        self.catalogue.close()
        self.sync_task.cancel()
        # Bounded: a cancellation swallowed inside a client library (a test run once hung here for its whole
        # 300 s) must not keep the process from stopping; the task dies with the process.
        await asyncio.wait({self.sync_task}, timeout=STOP_SYNC_SECONDS)
        if not self.sync_task.done():
            _log.warning("the flag sync task did not stop within %s s; leaving it", STOP_SYNC_SECONDS)
        elif not self.sync_task.cancelled() and self.sync_task.exception() is not None:
            _log.warning("the flag sync task failed", exc_info=self.sync_task.exception())


async def start(
    settings: FlagSettings, database: Database, redis: Redis, port: int | None = None
) -> RunningFlagService:
    """Load every flag, start following changes, then serve on ``port`` (settings' port when None; 0: any)."""
    catalogue = FlagCatalogue()
    flags = flag_service(database, catalogue, redis)
    sync = CatalogueSync(
        catalogue,
        redis,
        lambda: flags.snapshot(include_deleted=True),
        flags.revision,
        resync_seconds=settings.flags_resync_seconds,
    )
    await sync.load()
    sync_task = asyncio.create_task(sync.run(), name="flags-sync")
    try:
        server = await create_server(
            registrar(flags, catalogue),
            [SERVICE_NAME],
            host=settings.flags_grpc_host,
            port=settings.flags_grpc_port if port is None else port,
        )
    except BaseException:
        sync_task.cancel()
        raise
    return RunningFlagService(server, catalogue, sync, sync_task)


async def serve(settings: FlagSettings) -> None:
    async with service_process(
        "flags", settings, metrics_port=settings.flags_metrics_port, outbox=OUTBOX, watch_flags=False
    ) as process:
        running = await start(settings, process.database, process.redis)
        _log.info("flag service listening", extra={"port": running.port, "revision": running.catalogue.revision})
        try:
            await serve_until_terminated(running.server, settings.shutdown_grace_seconds)
        finally:
            await running.stop(0)
