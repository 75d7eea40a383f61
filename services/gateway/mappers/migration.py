"""Migration: REST bodies ↔ ``luckygas.migration.v1`` messages."""

from __future__ import annotations

from luckygas.migration.v1 import migration_pb2 as pb

from services.gateway.mappers.common import timestamp_field
from services.gateway.schemas.migration import (
    BackfillOut,
    ConflictOut,
    ConflictPage,
    CutoverOut,
    CutoverPage,
    FieldConflictOut,
    FieldDifferenceOut,
    MigrationStatusOut,
    ProblemOut,
    ReconcileReportOut,
    ReconcileReportPage,
    RejectionOut,
    RejectionPage,
    RowDifferenceOut,
    SyncLagOut,
    TableProgressOut,
    TableStatusOut,
)


def backfill_out(progress: pb.BackfillProgress) -> BackfillOut:
    return BackfillOut(
        state=progress.state,
        dry_run=progress.dry_run,
        tables=[
            TableProgressOut(
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
        started_at=timestamp_field(progress, "started_at"),
        finished_at=timestamp_field(progress, "finished_at"),
    )


def status_out(status: pb.MigrationStatus) -> MigrationStatusOut:
    return MigrationStatusOut(
        tables=[
            TableStatusOut(
                table=table.table,
                legacy_rows=table.legacy_rows,
                migrated=table.migrated,
                rejected=table.rejected,
                pending=table.pending,
            )
            for table in status.tables
        ],
        legacy_primary_customers=status.legacy_primary_customers,
        new_primary_customers=status.new_primary_customers,
        lag=[SyncLagOut(direction=lag.direction, seconds=lag.seconds, pending=lag.pending) for lag in status.lag],
        open_conflicts=status.open_conflicts,
        backfill=backfill_out(status.backfill) if status.HasField("backfill") else None,
    )


def rejection_page_out(reply: pb.ListRejectionsResponse) -> RejectionPage:
    return RejectionPage(
        rejections=[
            RejectionOut(
                table=rejection.table,
                key=rejection.key,
                problems=[
                    ProblemOut(column=problem.column, value=problem.value, reason=problem.reason)
                    for problem in rejection.problems
                ],
                dry_run=rejection.dry_run,
            )
            for rejection in reply.rejections
        ],
        next_page_token=reply.next_page_token or None,
        total=reply.total,
    )


def report_out(report: pb.ReconcileReport) -> ReconcileReportOut:
    return ReconcileReportOut(
        id=report.id,
        table=report.table,
        trigger=report.trigger,
        repair=report.repair,
        started_at=timestamp_field(report, "started_at"),
        finished_at=timestamp_field(report, "finished_at"),
        legacy_rows=report.legacy_rows,
        new_rows=report.new_rows,
        differences=report.differences,
        rows=[
            RowDifferenceOut(
                key=row.key,
                kind=row.kind,
                fields=[
                    FieldDifferenceOut(field=field.field, legacy=field.legacy, new=field.new) for field in row.fields
                ],
                repaired=row.repaired,
                customer_code=row.customer_code,
                primary=row.primary,
            )
            for row in report.rows
        ],
        checksum_calls=report.checksum_calls,
        rows_fetched=report.rows_fetched,
        seconds=report.seconds,
        rejected_rows=report.rejected_rows,
    )


def report_page_out(reply: pb.ListReconcileReportsResponse) -> ReconcileReportPage:
    return ReconcileReportPage(
        reports=[report_out(report) for report in reply.reports], next_page_token=reply.next_page_token or None
    )


def cutover_page_out(reply: pb.ListCutoversResponse) -> CutoverPage:
    return CutoverPage(
        cutovers=[
            CutoverOut(
                id=cutover.id,
                customer_code=cutover.customer_code,
                kind=cutover.kind,
                outcome=cutover.outcome,
                started_at=timestamp_field(cutover, "started_at"),
                finished_at=timestamp_field(cutover, "finished_at"),
                sync_seconds=cutover.sync_seconds,
                verify_seconds=cutover.verify_seconds,
                total_seconds=cutover.total_seconds,
                detail=cutover.detail,
                rows_synced=cutover.rows_synced,
            )
            for cutover in reply.cutovers
        ],
        next_page_token=reply.next_page_token or None,
    )


def conflict_out(conflict: pb.Conflict) -> ConflictOut:
    return ConflictOut(
        id=conflict.id,
        table=conflict.table,
        key=conflict.key,
        customer_code=conflict.customer_code,
        primary=conflict.primary,
        fields=[
            FieldConflictOut(field=field.field, primary=field.primary, other=field.other) for field in conflict.fields
        ],
        state=conflict.state,
        resolution=conflict.resolution or None,
        detected_at=timestamp_field(conflict, "detected_at"),
        resolved_at=timestamp_field(conflict, "resolved_at"),
        resolved_by=conflict.resolved_by or None,
        values=dict(conflict.values),
    )


def conflict_page_out(reply: pb.ListConflictsResponse) -> ConflictPage:
    return ConflictPage(
        conflicts=[conflict_out(conflict) for conflict in reply.conflicts],
        next_page_token=reply.next_page_token or None,
    )
