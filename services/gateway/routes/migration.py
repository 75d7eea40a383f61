"""``/api/v1/migration``: the move off the legacy system through the migration-sync service — where it stands,
the backfill and the rows it refused, reconcile runs and their reports, each customer's cutovers and rollbacks, and
the conflicts between the two sides. Office staff read; sre and admin act."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Response, status
from luckygas.migration.v1 import migration_pb2 as pb

from services.gateway.context import GatewayContext, get_context
from services.gateway.mappers.migration import (
    backfill_out,
    conflict_out,
    conflict_page_out,
    cutover_page_out,
    rejection_page_out,
    report_out,
    report_page_out,
    status_out,
)
from services.gateway.schemas.migration import (
    BackfillIn,
    BackfillOut,
    ConflictOut,
    ConflictPage,
    CutoverPage,
    MigrationStatusOut,
    ReconcileIn,
    ReconcileReportOut,
    ReconcileReportPage,
    RejectionPage,
    ResolveIn,
    Table,
)
from services.gateway.security import DISPATCHER, SRE, Allow
from services.gateway.tokens import AccessClaims

router = APIRouter(prefix="/api/v1/migration", tags=["migration"])

Context = Annotated[GatewayContext, Depends(get_context)]
Readers = Annotated[AccessClaims, Depends(Allow(DISPATCHER, SRE))]
Operators = Annotated[AccessClaims, Depends(Allow(SRE))]

CUSTOMER_CODE = r"^[0-9]{7}$"
CustomerCode = Annotated[str, Path(pattern=CUSTOMER_CODE, description="7-digit customer code")]
CustomerCodeFilter = Annotated[str, Query(pattern=CUSTOMER_CODE, description="7-digit customer code; absent: all")]
TableFilter = Annotated[Table | None, Query(description="absent: every table")]
PageToken = Annotated[str, Query(max_length=500)]
ObjectId = Annotated[str, Path(min_length=1, max_length=100)]


@router.get("/status", response_model=MigrationStatusOut)
async def get_migration_status(context: Context, claims: Readers) -> MigrationStatusOut:
    """Where the migration stands: per table legacy rows, migrated, rejected and pending; customers by primary side;
    sync lag in each direction; open conflicts; the backfill's progress."""
    return status_out(await context.migration.GetStatus(pb.GetStatusRequest()))


@router.post("/backfill", status_code=status.HTTP_202_ACCEPTED, response_model=BackfillOut)
async def start_backfill(body: BackfillIn, context: Context, claims: Operators) -> BackfillOut:
    """Start (or resume) the backfill of legacy rows into the platform, or with dry_run report what it would create
    and reject. It runs on in the service; follow it with GET /backfill. Starting while one runs changes nothing."""
    progress = await context.migration.StartBackfill(pb.StartBackfillRequest(tables=body.tables, dry_run=body.dry_run))
    return backfill_out(progress)


@router.get("/backfill", response_model=BackfillOut)
async def get_backfill(context: Context, claims: Readers) -> BackfillOut:
    """The backfill's progress per table: rows done of total (done = migrated + rejected), rate and ETA."""
    return backfill_out(await context.migration.GetBackfill(pb.GetBackfillRequest()))


@router.get("/backfill/rejections", response_model=RejectionPage)
async def list_backfill_rejections(
    context: Context,
    claims: Readers,
    table: TableFilter = None,
    dry_run: Annotated[bool, Query(description="the last dry run's rejections instead of the backfill's")] = False,
    page_size: Annotated[int, Query(ge=1, le=1000)] = 100,
    page_token: PageToken = "",
) -> RejectionPage:
    """The legacy rows the backfill (or the last dry run) refused, each with every column, value and reason."""
    reply = await context.migration.ListRejections(
        pb.ListRejectionsRequest(table=table or "", dry_run=dry_run, page_size=page_size, page_token=page_token)
    )
    return rejection_page_out(reply)


@router.post("/reconcile", status_code=status.HTTP_201_CREATED, response_model=ReconcileReportOut)
async def run_reconcile(
    body: ReconcileIn, context: Context, claims: Operators, response: Response
) -> ReconcileReportOut:
    """Compare a table across both sides now (checksums over key ranges, down to the differing fields) and keep the
    report; with repair, re-sync each difference from its customer's primary side. 409 while a backfill moves rows
    (until it ends every row it has not reached differs) or while the same table is being compared."""
    report = await context.migration.RunReconcile(
        pb.RunReconcileRequest(table=body.table, repair=body.repair),
        timeout=context.settings.reconcile_deadline_seconds,
    )
    response.headers["Location"] = f"{router.prefix}/reconcile/reports/{report.id}"
    return report_out(report)


@router.get("/reconcile/reports", response_model=ReconcileReportPage)
async def list_reconcile_reports(
    context: Context,
    claims: Readers,
    table: TableFilter = None,
    page_size: Annotated[int, Query(ge=1, le=100)] = 20,
    page_token: PageToken = "",
) -> ReconcileReportPage:
    """Reconcile reports, newest first, without their rows (GET one report for them): manual, scheduled, and those
    run by cutovers and rollbacks."""
    reply = await context.migration.ListReconcileReports(
        pb.ListReconcileReportsRequest(table=table or "", page_size=page_size, page_token=page_token)
    )
    return report_page_out(reply)


@router.get("/reconcile/reports/{report_id}", response_model=ReconcileReportOut)
async def get_reconcile_report(report_id: ObjectId, context: Context, claims: Readers) -> ReconcileReportOut:
    """One reconcile report with its differing rows: missing on a side or different, field by field."""
    return report_out(await context.migration.GetReconcileReport(pb.GetReconcileReportRequest(id=report_id)))


@router.get("/cutovers", response_model=CutoverPage)
async def list_cutovers(
    context: Context,
    claims: Readers,
    customer_code: CustomerCodeFilter = "",
    page_size: Annotated[int, Query(ge=1, le=500)] = 50,
    page_token: PageToken = "",
) -> CutoverPage:
    """Cutovers to the new platform and rollbacks to legacy, newest first, with their timings and outcome."""
    reply = await context.migration.ListCutovers(
        pb.ListCutoversRequest(customer_code=customer_code, page_size=page_size, page_token=page_token)
    )
    return cutover_page_out(reply)


@router.get("/customers/{code}/cutovers", response_model=CutoverPage)
async def list_customer_cutovers(
    code: CustomerCode,
    context: Context,
    claims: Readers,
    page_size: Annotated[int, Query(ge=1, le=500)] = 50,
    page_token: PageToken = "",
) -> CutoverPage:
    """One customer's cutovers and rollbacks, newest first: when it moved, how long the final sync and the
    verification took, and what a failed one found."""
    reply = await context.migration.ListCutovers(
        pb.ListCutoversRequest(customer_code=code, page_size=page_size, page_token=page_token)
    )
    return cutover_page_out(reply)


@router.get("/conflicts", response_model=ConflictPage)
async def list_conflicts(
    context: Context,
    claims: Readers,
    state: Annotated[Literal["open", "resolved", "all"], Query()] = "open",
    customer_code: CustomerCodeFilter = "",
    page_size: Annotated[int, Query(ge=1, le=500)] = 50,
    page_token: PageToken = "",
) -> ConflictPage:
    """Changes made on a customer's non-primary side, with both values field by field; open ones by default."""
    reply = await context.migration.ListConflicts(
        pb.ListConflictsRequest(state=state, customer_code=customer_code, page_size=page_size, page_token=page_token)
    )
    return conflict_page_out(reply)


@router.post("/conflicts/{conflict_id}/resolve", response_model=ConflictOut)
async def resolve_conflict(conflict_id: ObjectId, body: ResolveIn, context: Context, claims: Operators) -> ConflictOut:
    """Resolve an open conflict: keep the primary side's values, take the other side's, or set values (edit) on
    both sides. The same resolution again returns the conflict unchanged."""
    conflict = await context.migration.ResolveConflict(
        pb.ResolveConflictRequest(
            id=conflict_id, resolution=body.resolution, values=body.values, resolved_by=claims.username
        )
    )
    return conflict_out(conflict)
