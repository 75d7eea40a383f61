"""``/api/v1/migration`` through the gateway's ASGI app, over real gRPC, against the real migration-sync service.

migration-sync runs as services/migration/app.py's ``start`` serves it, over a legacy database of its own and the
real customer and order services (tests/migration/fixtures.py). ``pilot`` gives each route real state: seeded legacy
rows and a real backfill (counts, progress, a rejected customer and a delivery of an unknown customer), a customer
cut over to the new platform (a cutover) and then edited in legacy (an open conflict). A server interceptor keeps the
name of every RPC that reaches the service, so refused and invalid requests are shown never to reach it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import grpc
import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from services.flags.app import RunningFlagService
from services.gateway.tokens import AccessClaims, TokenSigner
from services.local import stores
from services.migration import legacy_store
from services.migration.app import Parts, start
from services.migration.settings import MigrationSettings
from services.platform.grpc_server import GrpcServer
from services.platform.interceptors import standard_interceptors
from tests.conftest import Stores
from tests.gateway.conftest import TEST_SECRET, bearer
from tests.migration.fixtures import CLEAN, DIRTY_CODE, UNKNOWN_CODE, legacy, migration_schema, parts, seeded

__all__ = ["legacy", "migration_schema", "parts"]  # fixtures of tests/migration/fixtures.py, used here by name

MIGRATION = "/api/v1/migration"
CUT_OVER = CLEAN.code  # the pilot customer: cut over to the new platform, then edited in legacy
RENAMED = "改名了"


@pytest.fixture(scope="session")
def legacy_url(embedded_stores: Stores) -> str:
    """A legacy database of its own beside the platform's, as `luckygas up` makes one."""
    url = make_url(embedded_stores.database_url)
    assert url.port is not None
    stores.create_database(url.port, "legacy_gateway_test")
    return url.set(database="legacy_gateway_test").render_as_string(hide_password=False)


class CallLog(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """The method of every RPC that reaches the migration-sync server (just the name, e.g. ``GetStatus``)."""

    def __init__(self) -> None:
        self.methods: list[str] = []

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        self.methods.append(handler_call_details.method.rsplit("/", 1)[-1])
        return await continuation(handler_call_details)


@pytest.fixture
def calls() -> CallLog:
    return CallLog()


@pytest.fixture
async def migration_server(parts: Parts, calls: CallLog) -> AsyncIterator[GrpcServer]:
    # The platform's standard interceptors, as the process serves it (less fault injection), and the log innermost.
    interceptors = standard_interceptors(calls)
    running = await start(MigrationSettings(legacy_database_url="unused"), parts, port=0, interceptors=interceptors)
    yield running
    await running.stop(grace=0)


@pytest.fixture
async def gateway(
    make_gateway: Callable[..., Awaitable[httpx.AsyncClient]],
    migration_server: GrpcServer,
    flag_server: RunningFlagService,
    redis_client: object,
) -> httpx.AsyncClient:
    # These routes reach migration-sync only; the flag service is there because every gateway watches its flags.
    return await make_gateway(
        "127.0.0.1:1",
        flags_address=f"127.0.0.1:{flag_server.port}",
        migration_address=f"127.0.0.1:{migration_server.port}",
    )


@pytest.fixture
async def pilot(parts: Parts, legacy: AsyncEngine, calls: CallLog) -> Parts:
    """Seeded and backfilled; ``CUT_OVER`` cut over to the new platform, then renamed in legacy: one open conflict."""
    await seeded(parts, legacy)
    parts.cohort.add(CUT_OVER)  # type: ignore[attr-defined]
    assert await parts.controller.reconcile_cohort() == 1
    async with legacy.begin() as connection:
        await connection.execute(
            update(legacy_store.customers)
            .where(legacy_store.customers.c["客戶"] == CUT_OVER)
            .values({"客戶簡稱": RENAMED})
        )
    await parts.sync.capture_cycle()
    assert calls.methods == []  # all of it directly, none over gRPC
    return parts


async def open_conflict_id(parts: Parts) -> str:
    (conflict,), _ = await parts.service.conflicts("open", "", 0, "")
    return str(conflict.id)


def as_role(role: str) -> dict[str, str]:
    signer = TokenSigner(TEST_SECRET, access_seconds=600, refresh_seconds=3600)
    return bearer(signer.access_token(AccessClaims(uuid.uuid4(), f"{role}-on-duty", role, None)))


async def ok(response: Awaitable[httpx.Response], status: int = 200) -> dict[str, Any]:
    answered = await response
    assert answered.status_code == status, answered.text
    body: dict[str, Any] = answered.json()
    return body


def taipei(moment: str) -> datetime:
    """A moment as the API gives it: ISO 8601 in Taipei time (+08:00)."""
    parsed = datetime.fromisoformat(moment)
    assert parsed.utcoffset() == timedelta(hours=8), moment
    return parsed


async def test_status_gives_counts_by_table_primaries_lag_conflicts_and_backfill(
    gateway: httpx.AsyncClient, pilot: Parts
) -> None:
    status = await ok(gateway.get(f"{MIGRATION}/status", headers=as_role("dispatcher")))

    assert status["tables"] == [
        {"table": "customers", "legacy_rows": 3, "migrated": 2, "rejected": 1, "pending": 0},
        {"table": "deliveries", "legacy_rows": 3, "migrated": 2, "rejected": 1, "pending": 0},
    ]
    assert (status["legacy_primary_customers"], status["new_primary_customers"], status["open_conflicts"]) == (1, 1, 1)
    assert [(lag["direction"], lag["pending"]) for lag in status["lag"]] == [("legacy_to_new", 0), ("new_to_legacy", 0)]
    backfill = status["backfill"]
    assert (backfill["state"], backfill["dry_run"]) == ("done", False)
    assert taipei(backfill["started_at"]) <= taipei(backfill["finished_at"])
    assert backfill == await ok(gateway.get(f"{MIGRATION}/backfill", headers=as_role("dispatcher")))


async def test_starting_a_dry_run_backfill_is_202_with_progress_of_the_tables_asked_for(
    gateway: httpx.AsyncClient, pilot: Parts, calls: CallLog
) -> None:
    started = await ok(
        gateway.post(f"{MIGRATION}/backfill", json={"tables": ["customers"], "dry_run": True}, headers=as_role("sre")),
        202,
    )
    finished = await pilot.backfill.wait()

    assert started["dry_run"] is True
    assert started["state"] in ("running", "done")
    assert calls.methods == ["StartBackfill"]
    assert (finished.dry_run, finished.state) == (True, "done")
    progress = await ok(gateway.get(f"{MIGRATION}/backfill", headers=as_role("dispatcher")))
    assert progress["dry_run"] is True
    assert {table["table"]: table["state"] for table in progress["tables"]}["customers"] == "done"
    customers = next(table for table in progress["tables"] if table["table"] == "customers")
    counts = [customers[name] for name in ("total", "done", "migrated", "rejected", "error")]
    assert counts == [3, 3, 2, 1, ""]
    dry = await ok(
        gateway.get(f"{MIGRATION}/backfill/rejections", params={"dry_run": "true"}, headers=as_role("dispatcher"))
    )
    assert [(row["table"], row["key"], row["dry_run"]) for row in dry["rejections"]] == [
        ("customers", DIRTY_CODE, True)
    ]  # customers only: deliveries were not asked for
    status = await ok(gateway.get(f"{MIGRATION}/status", headers=as_role("dispatcher")))
    assert [table["migrated"] for table in status["tables"]] == [2, 2]  # a dry run changes nothing


async def test_an_empty_backfill_body_starts_every_table_for_real(
    gateway: httpx.AsyncClient, pilot: Parts, calls: CallLog
) -> None:
    started = await ok(gateway.post(f"{MIGRATION}/backfill", json={}, headers=as_role("admin")), 202)
    finished = await pilot.backfill.wait()

    assert started["dry_run"] is False
    assert calls.methods == ["StartBackfill"]
    assert (finished.dry_run, finished.state) == (False, "done")
    assert [table.table for table in finished.tables] == ["customers", "deliveries"]
    status = await ok(gateway.get(f"{MIGRATION}/status", headers=as_role("dispatcher")))
    assert [(table["migrated"], table["rejected"]) for table in status["tables"]] == [(2, 1), (2, 1)]  # nothing twice


async def test_backfill_progress_and_rejections_with_every_problem(gateway: httpx.AsyncClient, pilot: Parts) -> None:
    progress = await ok(gateway.get(f"{MIGRATION}/backfill", headers=as_role("dispatcher")))
    everything = await ok(gateway.get(f"{MIGRATION}/backfill/rejections", headers=as_role("dispatcher")))
    first = await ok(
        gateway.get(f"{MIGRATION}/backfill/rejections", params={"page_size": 1}, headers=as_role("dispatcher"))
    )
    second = await ok(
        gateway.get(
            f"{MIGRATION}/backfill/rejections",
            params={"page_size": 1, "page_token": first["next_page_token"]},
            headers=as_role("dispatcher"),
        )
    )
    customers = await ok(
        gateway.get(f"{MIGRATION}/backfill/rejections", params={"table": "customers"}, headers=as_role("sre"))
    )
    dry = await ok(gateway.get(f"{MIGRATION}/backfill/rejections", params={"dry_run": "true"}, headers=as_role("sre")))

    assert [(table["table"], table["state"], table["total"], table["migrated"], table["rejected"]) for table in (
        progress["tables"]
    )] == [("customers", "done", 3, 2, 1), ("deliveries", "done", 3, 2, 1)]  # fmt: skip
    for table in progress["tables"]:
        assert table["done"] == table["migrated"] + table["rejected"]
        assert (table["eta_seconds"], table["error"]) == (0.0, "")
    assert everything["total"] == 2
    assert everything["next_page_token"] is None
    by_table = {row["table"]: row for row in everything["rejections"]}
    assert (by_table["customers"]["key"], by_table["customers"]["dry_run"]) == (DIRTY_CODE, False)
    assert by_table["customers"]["problems"][0]["column"] == "區域"
    assert by_table["customers"]["problems"][0]["value"] == "火星線"
    assert "unknown customer" in by_table["deliveries"]["problems"][0]["reason"]
    assert UNKNOWN_CODE in {problem["value"] for problem in by_table["deliveries"]["problems"]}
    assert (first["total"], len(first["rejections"]), second["total"], len(second["rejections"])) == (2, 1, 2, 1)
    assert first["next_page_token"]
    assert first["rejections"] + second["rejections"] == everything["rejections"]
    assert [row["key"] for row in customers["rejections"]] == [DIRTY_CODE]
    assert (dry["rejections"], dry["total"]) == ([], 0)  # no dry run yet


async def test_a_reconcile_run_gives_its_report_with_the_differing_fields(
    gateway: httpx.AsyncClient, pilot: Parts, calls: CallLog
) -> None:
    response = await gateway.post(
        f"{MIGRATION}/reconcile", json={"table": "customers", "repair": False}, headers=as_role("sre")
    )

    assert response.status_code == 201, response.text
    report = response.json()
    assert response.headers["Location"] == f"{MIGRATION}/reconcile/reports/{report['id']}"
    assert (report["table"], report["trigger"], report["repair"]) == ("customers", "manual", False)
    # The legacy side counts the rows it can map: the refused customer is not compared, so it is no difference.
    assert (report["legacy_rows"], report["new_rows"], report["rejected_rows"], report["differences"]) == (2, 2, 0, 1)
    assert report["rows"] == [
        {
            "key": CUT_OVER, "kind": "different", "customer_code": CUT_OVER, "primary": "new", "repaired": False,
            "fields": [{"field": "short_name", "legacy": RENAMED, "new": CLEAN.short_name}],
        }
    ]  # fmt: skip
    assert taipei(report["started_at"]) <= taipei(report["finished_at"])
    assert calls.methods == ["RunReconcile"]


async def test_a_repairing_reconcile_of_deliveries_finds_them_equal(gateway: httpx.AsyncClient, pilot: Parts) -> None:
    report = await ok(
        gateway.post(f"{MIGRATION}/reconcile", json={"table": "deliveries", "repair": True}, headers=as_role("admin")),
        201,
    )

    assert (report["table"], report["repair"], report["differences"], report["rows"]) == ("deliveries", True, 0, [])
    assert (report["legacy_rows"], report["rejected_rows"]) == (3, 1)


async def test_reconcile_reports_are_listed_and_one_is_read_by_id(
    gateway: httpx.AsyncClient, pilot: Parts, calls: CallLog
) -> None:
    customers = await ok(
        gateway.post(f"{MIGRATION}/reconcile", json={"table": "customers"}, headers=as_role("sre")), 201
    )
    deliveries = await ok(
        gateway.post(f"{MIGRATION}/reconcile", json={"table": "deliveries"}, headers=as_role("sre")), 201
    )

    listed = await ok(
        gateway.get(f"{MIGRATION}/reconcile/reports", params={"table": "customers"}, headers=as_role("dispatcher"))
    )
    every = await ok(gateway.get(f"{MIGRATION}/reconcile/reports", headers=as_role("dispatcher")))
    one = await ok(gateway.get(f"{MIGRATION}/reconcile/reports/{customers['id']}", headers=as_role("dispatcher")))
    missing = await gateway.get(f"{MIGRATION}/reconcile/reports/{uuid.uuid4()}", headers=as_role("dispatcher"))

    assert [(report["id"], report["differences"], report["rows"]) for report in listed["reports"]] == [
        (customers["id"], 1, [])  # a listing leaves the rows out
    ]
    assert listed["next_page_token"] is None
    assert [report["id"] for report in every["reports"]] == [deliveries["id"], customers["id"]]  # newest first
    assert one == customers
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert calls.methods[2:] == [
        "ListReconcileReports",
        "ListReconcileReports",
        "GetReconcileReport",
        "GetReconcileReport",
    ]


async def test_cutovers_of_everyone_and_of_one_customer(gateway: httpx.AsyncClient, pilot: Parts) -> None:
    everyone = await ok(gateway.get(f"{MIGRATION}/cutovers", headers=as_role("dispatcher")))
    filtered = await ok(
        gateway.get(f"{MIGRATION}/cutovers", params={"customer_code": CUT_OVER}, headers=as_role("sre"))
    )
    one = await ok(gateway.get(f"{MIGRATION}/customers/{CUT_OVER}/cutovers", headers=as_role("dispatcher")))
    other = await ok(gateway.get(f"{MIGRATION}/customers/3000002/cutovers", headers=as_role("dispatcher")))

    (cutover,) = everyone["cutovers"]
    assert (cutover["customer_code"], cutover["kind"], cutover["outcome"], cutover["detail"]) == (
        CUT_OVER, "cutover", "done", "",
    )  # fmt: skip
    uuid.UUID(cutover["id"])
    assert taipei(cutover["started_at"]) <= taipei(cutover["finished_at"])
    assert cutover["total_seconds"] > 0
    assert cutover["total_seconds"] >= cutover["sync_seconds"] + cutover["verify_seconds"] - 1e-6
    assert everyone["next_page_token"] is None
    assert filtered == one == everyone
    assert other == {"cutovers": [], "next_page_token": None}


async def test_a_rollback_is_listed_before_the_cutover(gateway: httpx.AsyncClient, pilot: Parts) -> None:
    pilot.cohort.clear()  # type: ignore[attr-defined]
    assert await pilot.controller.reconcile_cohort() == 1

    history = await ok(gateway.get(f"{MIGRATION}/customers/{CUT_OVER}/cutovers", headers=as_role("dispatcher")))

    assert [(row["kind"], row["outcome"]) for row in history["cutovers"]] == [("rollback", "done"), ("cutover", "done")]


async def test_conflicts_are_listed_open_by_default(gateway: httpx.AsyncClient, pilot: Parts) -> None:
    page = await ok(gateway.get(f"{MIGRATION}/conflicts", headers=as_role("dispatcher")))
    resolved = await ok(gateway.get(f"{MIGRATION}/conflicts", params={"state": "resolved"}, headers=as_role("sre")))
    someone_else = await ok(
        gateway.get(f"{MIGRATION}/conflicts", params={"customer_code": "3000002"}, headers=as_role("sre"))
    )

    (conflict,) = page["conflicts"]
    assert conflict["id"] == await open_conflict_id(pilot)
    assert (conflict["table"], conflict["key"], conflict["customer_code"], conflict["primary"]) == (
        "customers", CUT_OVER, CUT_OVER, "new",
    )  # fmt: skip
    assert (conflict["state"], conflict["resolution"], conflict["resolved_by"], conflict["values"]) == (
        "open", None, None, {},
    )  # fmt: skip
    assert conflict["resolved_at"] is None
    taipei(conflict["detected_at"])
    assert conflict["fields"] == [{"field": "short_name", "primary": CLEAN.short_name, "other": RENAMED}]
    assert page["next_page_token"] is None
    assert resolved == someone_else == {"conflicts": [], "next_page_token": None}


async def test_resolving_a_conflict_names_the_caller_as_resolver(
    gateway: httpx.AsyncClient, pilot: Parts, calls: CallLog
) -> None:
    conflict_id = await open_conflict_id(pilot)
    resolved = await ok(
        gateway.post(
            f"{MIGRATION}/conflicts/{conflict_id}/resolve",
            json={"resolution": "edit", "values": {"short_name": "好運小吃部"}},
            headers=as_role("sre"),
        )
    )

    assert (resolved["id"], resolved["state"], resolved["resolution"], resolved["resolved_by"]) == (
        conflict_id, "resolved", "edit", "sre-on-duty",
    )  # fmt: skip
    assert resolved["values"] == {"short_name": "好運小吃部"}
    assert taipei(resolved["detected_at"]) <= taipei(resolved["resolved_at"])
    assert calls.methods == ["ResolveConflict"]
    status = await ok(gateway.get(f"{MIGRATION}/status", headers=as_role("dispatcher")))
    assert status["open_conflicts"] == 0
    listed = await ok(gateway.get(f"{MIGRATION}/conflicts", params={"state": "all"}, headers=as_role("dispatcher")))
    assert listed["conflicts"] == [resolved]
    report = await ok(gateway.post(f"{MIGRATION}/reconcile", json={"table": "customers"}, headers=as_role("sre")), 201)
    assert report["differences"] == 0  # both sides now hold the edited name


async def test_resolving_an_unknown_conflict_is_404(gateway: httpx.AsyncClient, pilot: Parts) -> None:
    response = await gateway.post(
        f"{MIGRATION}/conflicts/{uuid.uuid4()}/resolve", json={"resolution": "keep_primary"}, headers=as_role("admin")
    )

    assert response.status_code == 404, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert (await pilot.service.status()).open_conflicts == 1


READS = [
    "/status",
    "/backfill",
    "/backfill/rejections",
    "/reconcile/reports",
    "/reconcile/reports/{report}",
    "/cutovers",
    f"/customers/{CUT_OVER}/cutovers",
    "/conflicts",
]
WRITES: list[tuple[str, dict[str, Any]]] = [
    ("/backfill", {"dry_run": True}),
    ("/reconcile", {"table": "customers"}),
    ("/conflicts/{conflict}/resolve", {"resolution": "take_other"}),
]


@pytest.fixture
async def ids(pilot: Parts) -> dict[str, str]:
    """A reconcile report and the open conflict, to put in the paths of READS and WRITES."""
    report = await pilot.service.run_reconcile("customers", repair=False)
    return {"report": str(report.id), "conflict": await open_conflict_id(pilot)}


@pytest.mark.parametrize("path", READS)
async def test_office_staff_and_operators_read_drivers_and_customers_may_not(
    gateway: httpx.AsyncClient, ids: dict[str, str], calls: CallLog, path: str
) -> None:
    path = path.format(**ids)
    for role in ("driver", "customer"):
        refused = await gateway.get(MIGRATION + path, headers=as_role(role))
        assert refused.status_code == 403, role
        assert refused.json()["detail"].endswith("it is for: admin, dispatcher, sre")
    assert calls.methods == []  # a refused call never reaches the service
    for role in ("dispatcher", "sre", "admin"):
        assert (await gateway.get(MIGRATION + path, headers=as_role(role))).status_code == 200, role
    assert len(calls.methods) == 3


async def what_changes(parts: Parts) -> tuple[Any, ...]:
    """What the WRITES change in migration-sync: the backfill, the reconcile reports, the conflicts."""
    progress = await parts.backfill.progress()
    reports, _ = await parts.service.reports("", 0, "")
    conflicts, _ = await parts.service.conflicts("all", "", 0, "")
    return (
        progress.dry_run,
        progress.started_at,
        sorted(str(report.id) for report in reports),
        [(conflict.state, conflict.resolved_by) for conflict in conflicts],
    )


@pytest.mark.parametrize(("path", "body"), WRITES, ids=[path for path, _ in WRITES])
async def test_only_sre_and_admin_act(
    gateway: httpx.AsyncClient, pilot: Parts, ids: dict[str, str], calls: CallLog, path: str, body: dict[str, Any]
) -> None:
    path = path.format(**ids)
    before = await what_changes(pilot)
    for role in ("dispatcher", "driver", "customer"):
        refused = await gateway.post(MIGRATION + path, json=body, headers=as_role(role))
        assert refused.status_code == 403, role
        assert refused.json()["detail"].endswith("it is for: admin, sre")
    assert calls.methods == []  # a refused call never reaches the service
    assert await what_changes(pilot) == before
    for role in ("sre", "admin"):
        assert (await gateway.post(MIGRATION + path, json=body, headers=as_role(role))).status_code in (200, 201, 202)
    await pilot.backfill.wait()
    assert len(calls.methods) == 2
    assert await what_changes(pilot) != before


async def test_no_token_is_401(gateway: httpx.AsyncClient, calls: CallLog) -> None:
    assert (await gateway.get(f"{MIGRATION}/status")).status_code == 401
    assert calls.methods == []


INVALID: list[tuple[str, str, dict[str, Any] | None, dict[str, Any] | None, str]] = [
    ("POST", "/backfill", {"tables": ["orders"]}, None, "tables[0]"),
    ("POST", "/backfill", {"dry_run": True, "limit": 5}, None, "limit"),
    ("POST", "/reconcile", {"table": "orders"}, None, "table"),
    ("POST", "/reconcile", {}, None, "table"),
    ("POST", "/conflicts/{conflict}/resolve", {"resolution": "merge"}, None, "resolution"),
    ("POST", "/conflicts/{conflict}/resolve", {"resolution": "edit"}, None, "values"),
    ("POST", "/conflicts/{conflict}/resolve", {"resolution": "keep_primary", "values": {"a": "b"}}, None, "values"),
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
    ids: dict[str, str],
    calls: CallLog,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    params: dict[str, Any] | None,
    field: str,
) -> None:
    response = await gateway.request(
        method, MIGRATION + path.format(**ids), json=body, params=params, headers=as_role("sre")
    )

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert [error["field"] for error in response.json()["errors"]] == [field]
    assert calls.methods == []


async def test_a_stopped_migration_service_is_503_problem(
    gateway: httpx.AsyncClient, pilot: Parts, migration_server: GrpcServer
) -> None:
    await ok(gateway.get(f"{MIGRATION}/status", headers=as_role("sre")))

    await migration_server.stop(grace=0)
    read = await gateway.get(f"{MIGRATION}/status", headers=as_role("sre"))
    write = await gateway.post(f"{MIGRATION}/reconcile", json={"table": "customers"}, headers=as_role("sre"))

    for response in (read, write):
        assert response.status_code == 503, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["Retry-After"] == "1"
    reports, _ = await pilot.service.reports("", 0, "")
    assert reports == []  # the reconcile never ran
