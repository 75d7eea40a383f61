"""The gRPC transport of migration-sync: proto in, service call, proto out. No SQL here."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import grpc
from google.protobuf import timestamp_pb2
from luckygas.migration.v1 import migration_pb2 as pb
from luckygas.migration.v1 import migration_pb2_grpc

from services.migration.backfill import Progress
from services.migration.service import MigrationService, Status
from services.platform.proto_values import timestamp

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["MigrationService"].full_name


def _stamp(value: datetime | None) -> timestamp_pb2.Timestamp | None:
    return timestamp(value) if value is not None else None


def progress_to_proto(progress: Progress) -> pb.BackfillProgress:
    return pb.BackfillProgress(
        state=progress.state,
        dry_run=progress.dry_run,
        tables=[
            pb.TableProgress(
                table=table.table,
                state=table.state,
                total=table.total,
                done=table.done,
                migrated=table.migrated,
                rejected=table.rejected,
                rows_per_second=table.rows_per_second,
                eta_seconds=table.eta_seconds,
                error=table.error,
            )
            for table in progress.tables
        ],
        started_at=_stamp(progress.started_at),
        finished_at=_stamp(progress.finished_at),
    )


def status_to_proto(status: Status) -> pb.MigrationStatus:
    return pb.MigrationStatus(
        tables=[
            pb.TableStatus(
                table=table.table,
                legacy_rows=table.legacy_rows,
                migrated=table.migrated,
                rejected=table.rejected,
                pending=table.pending,
            )
            for table in status.tables
        ],
        legacy_primary_customers=status.legacy_primary,
        new_primary_customers=status.new_primary,
        lag=[
            pb.SyncLag(direction=direction, seconds=seconds, pending=pending)
            for direction, seconds, pending in status.lag
        ],
        open_conflicts=status.open_conflicts,
        backfill=progress_to_proto(status.backfill),
    )


def report_to_proto(report: Any, *, with_rows: bool = True) -> pb.ReconcileReport:
    return pb.ReconcileReport(
        id=str(report.id),
        table=report.table_name,
        trigger=report.trigger,
        repair=report.repair,
        started_at=_stamp(report.started_at),
        finished_at=_stamp(report.finished_at),
        legacy_rows=report.legacy_rows,
        new_rows=report.new_rows,
        differences=report.differences,
        rows=[
            pb.RowDifference(
                key=row["key"],
                kind=row["kind"],
                fields=[pb.FieldDifference(field=f["field"], legacy=f["legacy"], new=f["new"]) for f in row["fields"]],
                repaired=row.get("repaired", False),
                customer_code=row.get("customer_code", ""),
                primary=row.get("primary", ""),
            )
            for row in (report.rows if with_rows else [])
        ],
        checksum_calls=report.checksum_calls,
        rows_fetched=report.rows_fetched,
        seconds=report.seconds,
        rejected_rows=report.rejected_rows,
    )


def cutover_to_proto(row: Any) -> pb.Cutover:
    return pb.Cutover(
        id=str(row.id),
        customer_code=row.customer_code,
        kind=row.kind,
        outcome=row.outcome,
        started_at=_stamp(row.started_at),
        finished_at=_stamp(row.finished_at),
        sync_seconds=row.sync_seconds,
        verify_seconds=row.verify_seconds,
        total_seconds=row.total_seconds,
        detail=row.detail,
        rows_synced=row.rows_synced,
    )


def conflict_to_proto(row: Any) -> pb.Conflict:
    return pb.Conflict(
        id=str(row.id),
        table=row.table_name,
        key=row.key,
        customer_code=row.customer_code,
        primary=row.primary_side,
        fields=[pb.FieldConflict(field=f["field"], primary=f["primary"], other=f["other"]) for f in row.fields],
        state=row.state,
        resolution=row.resolution,
        detected_at=_stamp(row.detected_at),
        resolved_at=_stamp(row.resolved_at),
        resolved_by=row.resolved_by,
        values=row.values,
    )


class MigrationServicer(migration_pb2_grpc.MigrationServiceServicer):
    def __init__(self, migration: MigrationService) -> None:
        self._migration = migration

    async def GetStatus(self, request: pb.GetStatusRequest, context: grpc.aio.ServicerContext) -> pb.MigrationStatus:
        return status_to_proto(await self._migration.status())

    async def StartBackfill(
        self, request: pb.StartBackfillRequest, context: grpc.aio.ServicerContext
    ) -> pb.BackfillProgress:
        return progress_to_proto(await self._migration.start_backfill(list(request.tables), request.dry_run))

    async def GetBackfill(
        self, request: pb.GetBackfillRequest, context: grpc.aio.ServicerContext
    ) -> pb.BackfillProgress:
        return progress_to_proto(await self._migration.backfill.progress())

    async def ListRejections(
        self, request: pb.ListRejectionsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListRejectionsResponse:
        rows, token, total = await self._migration.rejections(
            request.table, request.dry_run, request.page_size, request.page_token
        )
        return pb.ListRejectionsResponse(
            rejections=[
                pb.Rejection(
                    table=row.table_name,
                    key=row.key,
                    problems=[
                        pb.Problem(column=p["column"], value=p["value"], reason=p["reason"]) for p in row.problems
                    ],
                    dry_run=row.dry_run,
                )
                for row in rows
            ],
            next_page_token=token,
            total=total,
        )

    async def RunReconcile(
        self, request: pb.RunReconcileRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReconcileReport:
        return report_to_proto(await self._migration.run_reconcile(request.table, repair=request.repair))

    async def ListReconcileReports(
        self, request: pb.ListReconcileReportsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListReconcileReportsResponse:
        rows, token = await self._migration.reports(request.table, request.page_size, request.page_token)
        return pb.ListReconcileReportsResponse(
            reports=[report_to_proto(row, with_rows=False) for row in rows], next_page_token=token
        )

    async def GetReconcileReport(
        self, request: pb.GetReconcileReportRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReconcileReport:
        return report_to_proto(await self._migration.report(request.id))

    async def ListCutovers(
        self, request: pb.ListCutoversRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListCutoversResponse:
        rows, token = await self._migration.cutovers(request.customer_code, request.page_size, request.page_token)
        return pb.ListCutoversResponse(cutovers=[cutover_to_proto(row) for row in rows], next_page_token=token)

    async def ListConflicts(
        self, request: pb.ListConflictsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListConflictsResponse:
        rows, token = await self._migration.conflicts(
            request.state, request.customer_code, request.page_size, request.page_token
        )
        return pb.ListConflictsResponse(conflicts=[conflict_to_proto(row) for row in rows], next_page_token=token)

    async def ResolveConflict(
        self, request: pb.ResolveConflictRequest, context: grpc.aio.ServicerContext
    ) -> pb.Conflict:
        row = await self._migration.resolve(request.id, request.resolution, dict(request.values), request.resolved_by)
        return conflict_to_proto(row)


def registrar(migration: MigrationService) -> Callable[[grpc.aio.Server], None]:
    def register(server: grpc.aio.Server) -> None:
        migration_pb2_grpc.add_MigrationServiceServicer_to_server(MigrationServicer(migration), server)

    return register
