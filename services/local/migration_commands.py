"""``luckygas migration status`` and ``luckygas migration reconcile``: ask the running platform's migration-sync
service over gRPC (its port from the state file) and print what it says as tables a person reads."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping, Sequence

from luckygas.migration.v1 import migration_pb2 as pb
from luckygas.migration.v1 import migration_pb2_grpc

from services.local.programs import HOST, PlatformState
from services.platform.clock import TAIPEI
from services.platform.grpc_client import open_channel
from services.platform.proto_values import datetime_field

TABLES = ("customers", "deliveries")
ADDRESS_VARIABLE = "LUCKYGAS_MIGRATION_ADDRESS"
STATUS_DEADLINE_SECONDS = 10.0
# A reconcile compares a whole table before it answers; the service bounds its own work.
RECONCILE_DEADLINE_SECONDS = 900.0
# How many differing rows a reconcile prints (the report keeps them all, up to the service's cap).
SHOWN_ROWS = 20
KINDS = {"only_legacy": "only in legacy", "only_new": "only in the new platform", "different": "different"}
SERVICE = pb.DESCRIPTOR.services_by_name["MigrationService"]


def migration_address(state: PlatformState | None, environ: Mapping[str, str]) -> str | None:
    """Where migration-sync listens: ``LUCKYGAS_MIGRATION_ADDRESS``, else its gRPC port in the platform's state."""
    if environ.get(ADDRESS_VARIABLE):
        return environ[ADDRESS_VARIABLE]
    if state is not None and "migration_grpc" in state.ports:
        return f"{HOST}:{state.ports['migration_grpc']}"
    return None


async def fetch_status(address: str) -> pb.MigrationStatus:
    channel = open_channel(address, SERVICE, default_deadline=STATUS_DEADLINE_SECONDS)
    try:
        status: pb.MigrationStatus = await migration_pb2_grpc.MigrationServiceStub(channel).GetStatus(
            pb.GetStatusRequest()
        )
        return status
    finally:
        await channel.close()


async def run_reconciles(address: str, tables: Sequence[str], *, repair: bool) -> list[pb.ReconcileReport]:
    """One reconcile per table, one after the other (each reads a whole table on both sides)."""
    channel = open_channel(address, SERVICE, default_deadline=RECONCILE_DEADLINE_SECONDS)
    try:
        stub = migration_pb2_grpc.MigrationServiceStub(channel)
        return [await stub.RunReconcile(pb.RunReconcileRequest(table=table, repair=repair)) for table in tables]
    finally:
        await channel.close()


def status(address: str) -> list[str]:
    return status_lines(asyncio.run(fetch_status(address)))


def reconcile(address: str, tables: Sequence[str], *, repair: bool) -> tuple[list[str], bool]:
    """The reports' lines, and whether any found a difference."""
    reports = asyncio.run(run_reconciles(address, tables, repair=repair))
    lines: list[str] = []
    for report in reports:
        lines += [*reconcile_lines(report), ""]
    return lines[:-1], any(report.differences for report in reports)


# ---------------------------------------------------------------------------------------- what is printed


def table_lines(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[int] = ()) -> list[str]:
    """Columns aligned; the ``numeric`` ones right-aligned."""
    widths = [max(len(header), *(len(row[index]) for row in rows)) for index, header in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            cell.rjust(width) if index in numeric else cell.ljust(width)
            for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return [line(headers), *(line(row) for row in rows)]


def _count(value: int) -> str:
    return f"{value:,}"


def _seconds(value: float) -> str:
    if value >= 3600:
        return f"{value / 3600:.1f} h"
    if value >= 60:
        return f"{value / 60:.1f} min"
    return f"{value:.1f} s"


def _moment(message: pb.BackfillProgress | pb.ReconcileReport, field: str) -> str:
    moment = datetime_field(message, field)
    return moment.astimezone(TAIPEI).isoformat(sep=" ", timespec="seconds") if moment else "-"


def status_lines(status: pb.MigrationStatus) -> list[str]:
    lines = table_lines(
        ["table", "legacy rows", "migrated", "rejected", "pending"],
        [
            [table.table, *map(_count, (table.legacy_rows, table.migrated, table.rejected, table.pending))]
            for table in status.tables
        ],
        numeric=(1, 2, 3, 4),
    )
    lines.append("")
    lines.append(
        f"customers by primary side: legacy {_count(status.legacy_primary_customers)}, "
        f"new {_count(status.new_primary_customers)}"
    )
    lags = [
        f"{lag.direction.replace('_to_', ' → ').replace('_', ' ')} "
        + ("caught up" if lag.seconds == 0 and lag.pending == 0 else f"{_seconds(lag.seconds)} ({lag.pending} waiting)")
        for lag in status.lag
    ]
    lines.append(f"sync lag: {'; '.join(lags) if lags else 'not running'}")
    lines.append(f"open conflicts: {_count(status.open_conflicts)}")
    if status.HasField("backfill"):
        lines += ["", *backfill_lines(status.backfill)]
    return lines


def backfill_lines(progress: pb.BackfillProgress) -> list[str]:
    title = f"backfill{' (dry run)' if progress.dry_run else ''}: {progress.state}"
    if progress.HasField("started_at"):
        title += f", started {_moment(progress, 'started_at')}"
    if progress.HasField("finished_at"):
        title += f", finished {_moment(progress, 'finished_at')}"
    if not progress.tables:
        return [title]
    rows = [
        [
            table.table,
            table.state,
            f"{_count(table.done)}/{_count(table.total)}",
            _count(table.migrated),
            _count(table.rejected),
            f"{table.rows_per_second:,.0f}",
            _seconds(table.eta_seconds) if table.eta_seconds else "-",
            table.error,
        ]
        for table in progress.tables
    ]
    headers = ["table", "state", "done/total", "migrated", "rejected", "rows/s", "eta", "error"]
    return [title, *("  " + line for line in table_lines(headers, rows, numeric=(2, 3, 4, 5, 6)))]


def reconcile_lines(report: pb.ReconcileReport, shown: int = SHOWN_ROWS) -> list[str]:
    repair = "with repair" if report.repair else "no repair"
    refused = f" ({_count(report.rejected_rows)} legacy rows the mapping refuses, not counted)"
    lines = [
        f"reconcile {report.table}: report {report.id} ({report.trigger}, {repair}), {_seconds(report.seconds)}",
        f"rows compared: legacy {_count(report.legacy_rows)}, new {_count(report.new_rows)}"
        + (refused if report.rejected_rows else ""),
        f"checksum calls {_count(report.checksum_calls)}, rows fetched {_count(report.rows_fetched)}",
    ]
    if not report.differences:
        return [*lines, "differences: none"]
    kinds = Counter(row.kind for row in report.rows)
    by_kind = ", ".join(f"{label} {kinds[kind]}" for kind, label in KINDS.items())
    listed = "" if len(report.rows) >= report.differences else f" (the report lists {len(report.rows)})"
    lines.append(f"differences: {_count(report.differences)}{listed}: {by_kind}")
    rows: list[list[str]] = []
    for row in report.rows[:shown]:
        first = [row.key, row.kind, row.customer_code or "-", row.primary or "-", "yes" if row.repaired else "no"]
        fields = list(row.fields) or [pb.FieldDifference()]
        for index, field in enumerate(fields):
            rows.append([*(first if index == 0 else [""] * len(first)), field.field, field.legacy, field.new])
    headers = ["key", "kind", "customer", "primary", "repaired", "field", "legacy", "new"]
    lines += ["", *table_lines(headers, rows)]
    if len(report.rows) > shown:
        lines.append(f"… and {len(report.rows) - shown} more rows: GET /api/v1/migration/reconcile/reports/{report.id}")
    return lines
