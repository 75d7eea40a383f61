"""Settings of the migration-sync process."""

from __future__ import annotations

from pydantic import Field

from services.platform.settings import PlatformSettings


class MigrationSettings(PlatformSettings):
    migration_grpc_host: str = "127.0.0.1"
    migration_grpc_port: int = 50056
    migration_metrics_port: int = 9106
    # The office system's database: its own URL, reached by this service alone (`luckygas up` creates it on the
    # embedded Postgres server as a separate database).
    legacy_database_url: str
    customer_address: str = "127.0.0.1:50051"
    order_address: str = "127.0.0.1:50052"
    # Deadline of each call to the customer and order services.
    downstream_deadline_seconds: float = 10.0
    # Backfill: rows per batch (at most 1,000, the order service's ImportLegacyOrders limit), and the most rows per
    # second it writes, so the office's traffic keeps its latency.
    backfill_batch_size: int = Field(default=1000, ge=1, le=1000)
    backfill_max_rows_per_second: float = 5000.0
    # Change capture legacy → new: rows read per cycle, and the pause between cycles that found nothing.
    sync_batch_size: int = 500
    sync_idle_seconds: float = 0.2
    # Scheduled reconcile of every table; 0 turns the schedule off (on demand only).
    reconcile_interval_seconds: float = 3600.0
