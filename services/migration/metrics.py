"""Migration-sync's Prometheus metrics, named for the migration dashboard; every label is bounded."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

CUSTOMERS_BY_PRIMARY = Gauge(
    "luckygas_migration_customers", "Customers known to migration-sync, by primary side (legacy, new).", ["primary"]
)
BACKFILL_ROWS = Counter(
    "luckygas_migration_backfill_rows_total",
    "Legacy rows the backfill went through, by table, outcome (migrated, rejected) and mode (run, dry_run).",
    ["table", "outcome", "mode"],
)
BACKFILL_REMAINING = Gauge(
    "luckygas_migration_backfill_remaining_rows", "Rows the running backfill has still to go through.", ["table"]
)
SYNC_OPERATIONS = Counter(
    "luckygas_migration_sync_operations_total",
    "Changes sync handled, by direction (legacy_to_new, new_to_legacy), table and outcome "
    "(applied, unchanged, conflict, rejected, failed).",
    ["direction", "table", "outcome"],
)
SYNC_LAG = Gauge(
    "luckygas_migration_sync_lag_seconds",
    "Age of the oldest change not yet applied, by direction; 0 when caught up.",
    ["direction"],
)
CONFLICTS_OPEN = Gauge("luckygas_migration_conflicts_open", "Conflicts waiting for a person, by table.", ["table"])
CONFLICTS_RECORDED = Counter(
    "luckygas_migration_conflicts_total", "Conflicts recorded (a change on the non-primary side), by table.", ["table"]
)
RECONCILE_MISMATCHES = Gauge(
    "luckygas_migration_reconcile_mismatches",
    "Rows that differ between the two sides at the last reconcile, by table and kind "
    "(only_legacy, only_new, different).",
    ["table", "kind"],
)
RECONCILE_SECONDS = Histogram(
    "luckygas_migration_reconcile_seconds",
    "How long a reconcile of one table took.",
    ["table"],
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
CUTOVER_SECONDS = Histogram(
    "luckygas_migration_cutover_seconds",
    "How long a customer's cutover or rollback took, by kind (cutover, rollback) and outcome (done, failed).",
    ["kind", "outcome"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
