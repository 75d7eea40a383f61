"""``/api/v1/migration`` through the gateway's ASGI app, over real gRPC.

Most tests run against ``RecordedMigrationServicer``: a real grpc.aio server on an ephemeral port (the platform's own
server factory and interceptors) answering every MigrationService RPC with fixed, realistic messages mid-pilot and
recording each request it received, so each route's mapping, roles, validation and outage can be checked exactly.
It was written while the migration-sync service was not yet on main and stands in for a service the gateway only
ever reaches over gRPC. The last test runs the real service (services/migration/app.py's ``start``) behind the
gateway, over an empty legacy database and the real customer and order services.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any

import httpx
import pytest
from google.protobuf.message import Message
from luckygas.migration.v1 import migration_pb2 as pb
from luckygas.migration.v1 import migration_pb2_grpc
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from services.flags.app import RunningFlagService
from services.gateway.tokens import AccessClaims, TokenSigner
from services.local import stores
from services.migration import legacy_store
from services.migration.app import MIGRATIONS, assemble, start
from services.migration.customers import CUSTOMER_SERVICE, CustomerDirectory
from services.migration.models import SCHEMA
from services.migration.orders import ORDER_SERVICE, OrderBook
from services.migration.settings import MigrationSettings
from services.platform import migrations
from services.platform.database import Database
from services.platform.errors import NotFound
from services.platform.grpc_client import open_channel
from services.platform.grpc_server import GrpcServer, create_server
from services.platform.proto_values import timestamp
from tests.conftest import Stores
from tests.gateway.conftest import TEST_SECRET, bearer
from tests.timing import CALL_DEADLINE_SECONDS

MIGRATION = "/api/v1/migration"
STARTED = datetime.fromisoformat("2026-12-07T02:00:00+00:00")
FINISHED = datetime.fromisoformat("2026-12-07T02:00:12.5+00:00")
REPORT_ID = "7d0c5c1e-2f4b-4d59-9a53-0b7f1c3e8a11"
CONFLICT_ID = "c1a7e0f2-61d4-4b8e-9f0a-3c2d1e4b5a66"


def _progress(dry_run: bool = False) -> pb.BackfillProgress:
    return pb.BackfillProgress(
        state="running",
        dry_run=dry_run,
        tables=[
            pb.TableProgress(
                table="customers",
                state="done",
                total=1312,
                done=1312,
                migrated=1290,
                rejected=22,
                rows_per_second=2450.0,
                eta_seconds=0.0,
            ),
            pb.TableProgress(
                table="deliveries",
                state="running",
                total=151204,
                done=60000,
                migrated=59520,
                rejected=480,
                rows_per_second=3000.0,
                eta_seconds=30.4,
            ),
        ],
        started_at=timestamp(STARTED),
    )


def _report(with_rows: bool = True) -> pb.ReconcileReport:
    rows = [
        pb.RowDifference(
            key="1000123",
            kind="different",
            customer_code="1000123",
            primary="legacy",
            fields=[pb.FieldDifference(field="phones", legacy="089-322123", new="089-322-123")],
        ),
        pb.RowDifference(key="1000456", kind="only_legacy", customer_code="1000456", primary="legacy"),
    ]
    return pb.ReconcileReport(
        id=REPORT_ID, table="customers", trigger="manual", repair=False,
        started_at=timestamp(STARTED), finished_at=timestamp(FINISHED),
        legacy_rows=1312, new_rows=1289, differences=2, rows=rows if with_rows else [],
        checksum_calls=14, rows_fetched=64, seconds=12.5, rejected_rows=22,
    )  # fmt: skip


def _conflict(**changes: Any) -> pb.Conflict:
    values: dict[str, Any] = {
        "id": CONFLICT_ID, "table": "customers", "key": "1000789", "customer_code": "1000789", "primary": "new",
        "fields": [pb.FieldConflict(field="address", primary="台東市新生路135巷26號", other="台東市新生路135巷28號")],
        "state": "open", "detected_at": timestamp(STARTED),
    }  # fmt: skip
    values.update(changes)
    return pb.Conflict(**values)


class RecordedMigrationServicer(migration_pb2_grpc.MigrationServiceServicer):
    """Fixed answers of a migration-sync service mid-pilot; ``requests`` holds what each RPC received."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, Message]] = []

    def _record(self, name: str, request: Message) -> None:
        self.requests.append((name, request))

    async def GetStatus(self, request: pb.GetStatusRequest, context: object) -> pb.MigrationStatus:
        self._record("GetStatus", request)
        return pb.MigrationStatus(
            tables=[
                pb.TableStatus(table="customers", legacy_rows=1312, migrated=1290, rejected=22, pending=0),
                pb.TableStatus(table="deliveries", legacy_rows=151204, migrated=59520, rejected=480, pending=91204),
            ],
            legacy_primary_customers=1285,
            new_primary_customers=5,
            lag=[
                pb.SyncLag(direction="legacy_to_new", seconds=0.4, pending=3),
                pb.SyncLag(direction="new_to_legacy", seconds=0.0, pending=0),
            ],
            open_conflicts=1,
            backfill=_progress(),
        )

    async def StartBackfill(self, request: pb.StartBackfillRequest, context: object) -> pb.BackfillProgress:
        self._record("StartBackfill", request)
        return _progress(request.dry_run)

    async def GetBackfill(self, request: pb.GetBackfillRequest, context: object) -> pb.BackfillProgress:
        self._record("GetBackfill", request)
        return _progress()

    async def ListRejections(self, request: pb.ListRejectionsRequest, context: object) -> pb.ListRejectionsResponse:
        self._record("ListRejections", request)
        rejection = pb.Rejection(
            table="customers",
            key="",
            problems=[
                pb.Problem(column="客戶編號", value="", reason="blank customer code"),
                pb.Problem(column="平均日使用量", value="#DIV/0!", reason="not a number"),
            ],
            dry_run=request.dry_run,
        )
        return pb.ListRejectionsResponse(rejections=[rejection], next_page_token="page-2", total=22)

    async def RunReconcile(self, request: pb.RunReconcileRequest, context: object) -> pb.ReconcileReport:
        self._record("RunReconcile", request)
        report = _report()
        report.table, report.repair = request.table, request.repair
        return report

    async def ListReconcileReports(
        self, request: pb.ListReconcileReportsRequest, context: object
    ) -> pb.ListReconcileReportsResponse:
        self._record("ListReconcileReports", request)
        return pb.ListReconcileReportsResponse(reports=[_report(with_rows=False)])

    async def GetReconcileReport(self, request: pb.GetReconcileReportRequest, context: object) -> pb.ReconcileReport:
        self._record("GetReconcileReport", request)
        if request.id != REPORT_ID:
            raise NotFound(f"no reconcile report {request.id}")
        return _report()

    async def ListCutovers(self, request: pb.ListCutoversRequest, context: object) -> pb.ListCutoversResponse:
        self._record("ListCutovers", request)
        cutover = pb.Cutover(
            id="0b9e4f3a-8c71-4e2d-a5f6-1d2c3b4a5e6f",
            customer_code=request.customer_code or "1000789",
            kind="rollback",
            outcome="done",
            started_at=timestamp(STARTED),
            finished_at=timestamp(FINISHED),
            sync_seconds=0.8,
            verify_seconds=0.3,
            total_seconds=1.2,
            rows_synced=4,
        )
        return pb.ListCutoversResponse(cutovers=[cutover], next_page_token="")

    async def ListConflicts(self, request: pb.ListConflictsRequest, context: object) -> pb.ListConflictsResponse:
        self._record("ListConflicts", request)
        return pb.ListConflictsResponse(conflicts=[_conflict()], next_page_token="next")

    async def ResolveConflict(self, request: pb.ResolveConflictRequest, context: object) -> pb.Conflict:
        self._record("ResolveConflict", request)
        if request.id != CONFLICT_ID:
            raise NotFound(f"no conflict {request.id}")
        return _conflict(
            state="resolved",
            resolution=request.resolution,
            resolved_by=request.resolved_by,
            resolved_at=timestamp(FINISHED),
            values=dict(request.values),
        )


@pytest.fixture
async def recorded_migration_server() -> AsyncIterator[tuple[RecordedMigrationServicer, GrpcServer]]:
    servicer = RecordedMigrationServicer()
    running = await create_server(
        lambda server: migration_pb2_grpc.add_MigrationServiceServicer_to_server(servicer, server),
        [pb.DESCRIPTOR.services_by_name["MigrationService"].full_name],
    )
    yield servicer, running
    await running.stop(grace=0)


@pytest.fixture
def recorded(recorded_migration_server: tuple[RecordedMigrationServicer, GrpcServer]) -> RecordedMigrationServicer:
    return recorded_migration_server[0]


@pytest.fixture
async def gateway(
    make_gateway: Callable[..., Awaitable[httpx.AsyncClient]],
    recorded_migration_server: tuple[RecordedMigrationServicer, GrpcServer],
    flag_server: RunningFlagService,
    redis_client: object,
) -> httpx.AsyncClient:
    # These routes reach migration-sync only; the flag service is there because every gateway watches its flags.
    return await make_gateway(
        "127.0.0.1:1",
        flags_address=f"127.0.0.1:{flag_server.port}",
        migration_address=f"127.0.0.1:{recorded_migration_server[1].port}",
    )


def as_role(role: str) -> dict[str, str]:
    signer = TokenSigner(TEST_SECRET, access_seconds=600, refresh_seconds=3600)
    return bearer(signer.access_token(AccessClaims(uuid.uuid4(), f"{role}-on-duty", role, None)))


async def ok(response: Awaitable[httpx.Response], status: int = 200) -> dict[str, Any]:
    answered = await response
    assert answered.status_code == status, answered.text
    body: dict[str, Any] = answered.json()
    return body


async def test_status_gives_counts_by_table_primaries_lag_conflicts_and_backfill(gateway: httpx.AsyncClient) -> None:
    status = await ok(gateway.get(f"{MIGRATION}/status", headers=as_role("dispatcher")))

    assert status["tables"][1] == {
        "table": "deliveries", "legacy_rows": 151204, "migrated": 59520, "rejected": 480, "pending": 91204
    }  # fmt: skip
    assert (status["legacy_primary_customers"], status["new_primary_customers"], status["open_conflicts"]) == (
        1285, 5, 1,
    )  # fmt: skip
    assert status["lag"][0] == {"direction": "legacy_to_new", "seconds": 0.4, "pending": 3}
    assert status["backfill"]["state"] == "running"
    assert status["backfill"]["started_at"] == "2026-12-07T10:00:00+08:00"  # Taipei, as every moment the API gives
    assert status["backfill"]["finished_at"] is None


async def test_starting_a_backfill_is_202_with_progress_and_passes_tables_and_dry_run(
    gateway: httpx.AsyncClient, recorded: RecordedMigrationServicer
) -> None:
    progress = await ok(
        gateway.post(f"{MIGRATION}/backfill", json={"tables": ["customers"], "dry_run": True}, headers=as_role("sre")),
        202,
    )

    assert progress["dry_run"] is True
    assert progress["tables"][1] == {
        "table": "deliveries", "state": "running", "total": 151204, "done": 60000, "migrated": 59520,
        "rejected": 480, "rows_per_second": 3000.0, "eta_seconds": 30.4, "error": "",
    }  # fmt: skip
    name, request = recorded.requests[-1]
    assert name == "StartBackfill"
    assert isinstance(request, pb.StartBackfillRequest)
    assert (list(request.tables), request.dry_run) == (["customers"], True)


async def test_an_empty_backfill_body_starts_every_table_for_real(
    gateway: httpx.AsyncClient, recorded: RecordedMigrationServicer
) -> None:
    await ok(gateway.post(f"{MIGRATION}/backfill", json={}, headers=as_role("admin")), 202)

    request = recorded.requests[-1][1]
    assert isinstance(request, pb.StartBackfillRequest)
    assert (list(request.tables), request.dry_run) == ([], False)


async def test_backfill_progress_and_rejections_with_every_problem(
    gateway: httpx.AsyncClient, recorded: RecordedMigrationServicer
) -> None:
    progress = await ok(gateway.get(f"{MIGRATION}/backfill", headers=as_role("dispatcher")))
    page = await ok(
        gateway.get(
            f"{MIGRATION}/backfill/rejections",
            params={"table": "customers", "dry_run": "true", "page_size": 10, "page_token": "p1"},
            headers=as_role("dispatcher"),
        )
    )

    assert progress["tables"][0]["done"] == progress["tables"][0]["migrated"] + progress["tables"][0]["rejected"]
    assert page["total"] == 22
    assert page["next_page_token"] == "page-2"
    assert page["rejections"][0]["key"] == ""
    assert page["rejections"][0]["dry_run"] is True
    assert page["rejections"][0]["problems"][1] == {
        "column": "平均日使用量",
        "value": "#DIV/0!",
        "reason": "not a number",
    }
    request = recorded.requests[-1][1]
    assert isinstance(request, pb.ListRejectionsRequest)
    assert (request.table, request.dry_run, request.page_size, request.page_token) == ("customers", True, 10, "p1")


async def test_a_reconcile_run_gives_its_report_with_the_differing_fields(
    gateway: httpx.AsyncClient, recorded: RecordedMigrationServicer
) -> None:
    response = await gateway.post(
        f"{MIGRATION}/reconcile", json={"table": "deliveries", "repair": True}, headers=as_role("sre")
    )

    assert response.status_code == 201, response.text
    assert response.headers["Location"] == f"{MIGRATION}/reconcile/reports/{REPORT_ID}"
    report = response.json()
    assert (report["table"], report["repair"], report["differences"], report["rejected_rows"]) == (
        "deliveries", True, 2, 22,
    )  # fmt: skip
    assert report["rows"][0] == {
        "key": "1000123", "kind": "different", "customer_code": "1000123", "primary": "legacy", "repaired": False,
        "fields": [{"field": "phones", "legacy": "089-322123", "new": "089-322-123"}],
    }  # fmt: skip
    assert report["finished_at"] == "2026-12-07T10:00:12.500000+08:00"
    assert recorded.requests[-1] == ("RunReconcile", pb.RunReconcileRequest(table="deliveries", repair=True))


async def test_reconcile_reports_are_listed_and_one_is_read_by_id(
    gateway: httpx.AsyncClient, recorded: RecordedMigrationServicer
) -> None:
    listed = await ok(
        gateway.get(f"{MIGRATION}/reconcile/reports", params={"table": "customers"}, headers=as_role("dispatcher"))
    )
    one = await ok(gateway.get(f"{MIGRATION}/reconcile/reports/{REPORT_ID}", headers=as_role("dispatcher")))
    missing = await gateway.get(f"{MIGRATION}/reconcile/reports/{uuid.uuid4()}", headers=as_role("dispatcher"))

    assert [(report["id"], report["rows"]) for report in listed["reports"]] == [(REPORT_ID, [])]
    assert listed["next_page_token"] is None
    assert len(one["rows"]) == 2
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert ("ListReconcileReports", pb.ListReconcileReportsRequest(table="customers", page_size=20)) in (
        recorded.requests
    )


async def test_cutovers_of_everyone_and_of_one_customer(
    gateway: httpx.AsyncClient, recorded: RecordedMigrationServicer
) -> None:
    everyone = await ok(gateway.get(f"{MIGRATION}/cutovers", headers=as_role("dispatcher")))
    filtered = await ok(
        gateway.get(f"{MIGRATION}/cutovers", params={"customer_code": "1000555"}, headers=as_role("sre"))
    )
    one = await ok(gateway.get(f"{MIGRATION}/customers/1000321/cutovers", headers=as_role("dispatcher")))

    assert everyone["cutovers"][0] == {
        "id": "0b9e4f3a-8c71-4e2d-a5f6-1d2c3b4a5e6f", "customer_code": "1000789", "kind": "rollback",
        "outcome": "done", "started_at": "2026-12-07T10:00:00+08:00", "finished_at": "2026-12-07T10:00:12.500000+08:00",
        "sync_seconds": 0.8, "verify_seconds": 0.3, "total_seconds": 1.2, "detail": "", "rows_synced": 4,
    }  # fmt: skip
    assert everyone["next_page_token"] is None
    assert filtered["cutovers"][0]["customer_code"] == "1000555"
    assert one["cutovers"][0]["customer_code"] == "1000321"
    codes = [
        request.customer_code for name, request in recorded.requests if isinstance(request, pb.ListCutoversRequest)
    ]
    assert codes == ["", "1000555", "1000321"]


async def test_conflicts_are_listed_open_by_default(
    gateway: httpx.AsyncClient, recorded: RecordedMigrationServicer
) -> None:
    page = await ok(gateway.get(f"{MIGRATION}/conflicts", headers=as_role("dispatcher")))

    conflict = page["conflicts"][0]
    assert (conflict["state"], conflict["resolution"], conflict["resolved_by"], conflict["values"]) == (
        "open", None, None, {},
    )  # fmt: skip
    assert conflict["fields"] == [
        {"field": "address", "primary": "台東市新生路135巷26號", "other": "台東市新生路135巷28號"}
    ]
    assert page["next_page_token"] == "next"
    assert recorded.requests[-1] == ("ListConflicts", pb.ListConflictsRequest(state="open", page_size=50))


async def test_resolving_a_conflict_names_the_caller_as_resolver(
    gateway: httpx.AsyncClient, recorded: RecordedMigrationServicer
) -> None:
    resolved = await ok(
        gateway.post(
            f"{MIGRATION}/conflicts/{CONFLICT_ID}/resolve",
            json={"resolution": "edit", "values": {"address": "台東市新生路135巷26號"}},
            headers=as_role("sre"),
        )
    )

    assert (resolved["state"], resolved["resolution"], resolved["resolved_by"]) == ("resolved", "edit", "sre-on-duty")
    assert resolved["values"] == {"address": "台東市新生路135巷26號"}
    request = recorded.requests[-1][1]
    assert isinstance(request, pb.ResolveConflictRequest)
    assert (request.id, request.resolved_by, dict(request.values)) == (
        CONFLICT_ID, "sre-on-duty", {"address": "台東市新生路135巷26號"},
    )  # fmt: skip


async def test_resolving_an_unknown_conflict_is_404(gateway: httpx.AsyncClient) -> None:
    response = await gateway.post(
        f"{MIGRATION}/conflicts/{uuid.uuid4()}/resolve", json={"resolution": "keep_primary"}, headers=as_role("admin")
    )

    assert response.status_code == 404, response.text


READS = [
    "/status",
    "/backfill",
    "/backfill/rejections",
    "/reconcile/reports",
    f"/reconcile/reports/{REPORT_ID}",
    "/cutovers",
    "/customers/1000789/cutovers",
    "/conflicts",
]
WRITES: list[tuple[str, dict[str, Any]]] = [
    ("/backfill", {"dry_run": True}),
    ("/reconcile", {"table": "customers"}),
    (f"/conflicts/{CONFLICT_ID}/resolve", {"resolution": "take_other"}),
]


@pytest.mark.parametrize("path", READS)
async def test_office_staff_and_operators_read_drivers_and_customers_may_not(
    gateway: httpx.AsyncClient, path: str
) -> None:
    for role in ("dispatcher", "sre", "admin"):
        assert (await gateway.get(MIGRATION + path, headers=as_role(role))).status_code == 200, role
    for role in ("driver", "customer"):
        refused = await gateway.get(MIGRATION + path, headers=as_role(role))
        assert refused.status_code == 403, role
        assert refused.json()["detail"].endswith("it is for: admin, dispatcher, sre")


@pytest.mark.parametrize(("path", "body"), WRITES, ids=[path for path, _ in WRITES])
async def test_only_sre_and_admin_act(
    gateway: httpx.AsyncClient, recorded: RecordedMigrationServicer, path: str, body: dict[str, Any]
) -> None:
    for role in ("dispatcher", "driver", "customer"):
        refused = await gateway.post(MIGRATION + path, json=body, headers=as_role(role))
        assert refused.status_code == 403, role
        assert refused.json()["detail"].endswith("it is for: admin, sre")
    assert recorded.requests == []  # a refused call never reaches the service
    for role in ("sre", "admin"):
        assert (await gateway.post(MIGRATION + path, json=body, headers=as_role(role))).status_code in (200, 201, 202)


async def test_no_token_is_401(gateway: httpx.AsyncClient) -> None:
    assert (await gateway.get(f"{MIGRATION}/status")).status_code == 401


INVALID: list[tuple[str, str, dict[str, Any] | None, dict[str, Any] | None, str]] = [
    ("POST", "/backfill", {"tables": ["orders"]}, None, "tables[0]"),
    ("POST", "/backfill", {"dry_run": True, "limit": 5}, None, "limit"),
    ("POST", "/reconcile", {"table": "orders"}, None, "table"),
    ("POST", "/reconcile", {}, None, "table"),
    ("POST", f"/conflicts/{CONFLICT_ID}/resolve", {"resolution": "merge"}, None, "resolution"),
    ("POST", f"/conflicts/{CONFLICT_ID}/resolve", {"resolution": "edit"}, None, "values"),
    ("POST", f"/conflicts/{CONFLICT_ID}/resolve", {"resolution": "keep_primary", "values": {"a": "b"}}, None, "values"),
    ("GET", "/backfill/rejections", None, {"table": "orders"}, "table"),
    ("GET", "/backfill/rejections", None, {"page_size": 1001}, "page_size"),
    ("GET", "/reconcile/reports", None, {"page_size": 101}, "page_size"),
    ("GET", "/cutovers", None, {"customer_code": "12345"}, "customer_code"),
    ("GET", "/cutovers", None, {"page_size": 0}, "page_size"),
    ("GET", "/customers/100078X/cutovers", None, None, "code"),
    ("GET", "/conflicts", None, {"state": "closed"}, "state"),
    ("GET", "/conflicts", None, {"customer_code": "12345678"}, "customer_code"),
]


@pytest.mark.parametrize(("method", "path", "body", "params", "field"), INVALID, ids=lambda value: str(value))
async def test_invalid_input_is_422_naming_the_field_and_reaches_no_service(
    gateway: httpx.AsyncClient,
    recorded: RecordedMigrationServicer,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    params: dict[str, Any] | None,
    field: str,
) -> None:
    response = await gateway.request(method, MIGRATION + path, json=body, params=params, headers=as_role("sre"))

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert [error["field"] for error in response.json()["errors"]] == [field]
    assert recorded.requests == []


async def test_a_stopped_migration_service_is_503_problem(
    gateway: httpx.AsyncClient, recorded_migration_server: tuple[RecordedMigrationServicer, GrpcServer]
) -> None:
    await ok(gateway.get(f"{MIGRATION}/status", headers=as_role("sre")))

    await recorded_migration_server[1].stop(grace=0)
    read = await gateway.get(f"{MIGRATION}/status", headers=as_role("sre"))
    write = await gateway.post(f"{MIGRATION}/reconcile", json={"table": "customers"}, headers=as_role("sre"))

    for response in (read, write):
        assert response.status_code == 503, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["Retry-After"] == "1"


def test_the_recorded_server_answers_every_rpc_of_the_contract() -> None:
    """The stand-in implements the whole MigrationService, so no route is tested against an UNIMPLEMENTED default."""
    methods = pb.DESCRIPTOR.services_by_name["MigrationService"].methods_by_name
    missing = [
        name
        for name in methods
        if getattr(RecordedMigrationServicer, name) is getattr(migration_pb2_grpc.MigrationServiceServicer, name)
    ]
    assert missing == []


# --- the real migration-sync service behind the gateway --------------------------------------------------------------


@pytest.fixture(scope="session")
def legacy_url(embedded_stores: Stores) -> str:
    """A legacy database of its own beside the platform's, as `luckygas up` makes one."""
    url = make_url(embedded_stores.database_url)
    assert url.port is not None
    stores.create_database(url.port, "legacy_gateway_test")
    return url.set(database="legacy_gateway_test").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def migration_schema(embedded_stores: Stores) -> None:
    migrations.upgrade(MIGRATIONS, embedded_stores.database_url, SCHEMA)


@pytest.fixture
async def real_migration_gateway(
    make_gateway: Callable[..., Awaitable[httpx.AsyncClient]],
    database: Database,
    migration_schema: None,
    legacy_url: str,
    customer_server: int,
    order_server: int,
    flag_server: RunningFlagService,
    redis_client: object,
) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway in front of migration-sync as services/migration/app.py starts it, over an empty legacy database
    and the real customer and order services."""
    legacy = create_async_engine(legacy_url)
    await legacy_store.install(legacy)
    async with legacy.begin() as connection:
        await connection.execute(text('TRUNCATE "客戶資料", "配送紀錄", legacy_imports'))
    customer_channel = open_channel(f"127.0.0.1:{customer_server}", CUSTOMER_SERVICE)
    order_channel = open_channel(f"127.0.0.1:{order_server}", ORDER_SERVICE)
    settings = MigrationSettings(legacy_database_url=legacy_url, reconcile_interval_seconds=0)
    parts = assemble(
        settings,
        database,
        legacy,
        CustomerDirectory(customer_channel, deadline_seconds=CALL_DEADLINE_SECONDS),
        OrderBook(order_channel, deadline_seconds=CALL_DEADLINE_SECONDS),
        frozenset,
    )
    running = await start(settings, parts, port=0)
    yield await make_gateway(
        f"127.0.0.1:{customer_server}",
        order_address=f"127.0.0.1:{order_server}",
        flags_address=f"127.0.0.1:{flag_server.port}",
        migration_address=f"127.0.0.1:{running.port}",
    )
    await running.stop(grace=0)
    await parts.backfill.stop()
    await customer_channel.close()
    await order_channel.close()
    await legacy.dispose()


async def test_the_real_service_answers_status_and_a_clean_reconcile_through_the_gateway(
    real_migration_gateway: httpx.AsyncClient,
) -> None:
    status = await ok(real_migration_gateway.get(f"{MIGRATION}/status", headers=as_role("dispatcher")))
    report = await ok(
        real_migration_gateway.post(f"{MIGRATION}/reconcile", json={"table": "customers"}, headers=as_role("sre")),
        201,
    )
    again = await ok(
        real_migration_gateway.get(f"{MIGRATION}/reconcile/reports/{report['id']}", headers=as_role("dispatcher"))
    )

    assert {table["table"] for table in status["tables"]} == {"customers", "deliveries"}
    assert all(table["legacy_rows"] == 0 for table in status["tables"])
    assert (report["table"], report["differences"], report["rows"]) == ("customers", 0, [])
    assert again["id"] == report["id"]
