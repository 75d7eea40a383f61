"""Migration-sync on the embedded platform: `luckygas up --seed demo` loads the demo's legacy exports into the legacy
database, and the demo's `new-platform` flag has a pilot cohort of five customer codes.

1. A backfill SIGKILLed mid-run: the supervisor restarts migration-sync, the run goes on from its checkpoint and
   ends with loaded = migrated + rejected, and reconcile finds no difference (a row created twice would be one).
2. Dual-write: a legacy edit of a legacy-primary customer reaches the customer service, and an order placed through
   the API for a pilot customer reaches the legacy table. Each is timed against the 2 s target and printed; the
   test fails only past a bound a busy machine cannot reach.
3. Change capture SIGKILLed with a burst of legacy edits in flight, then the legacy database refusing connections
   while the new platform changes: once each is back, every change is on the other side, once.
4. Redis stopped (the event streams gone) while a pilot customer changes and gets an order delivered and the
   office edits another customer in legacy, then started again: every change arrives, once; reconcile is clean.
5. The pilot walkthrough: the cohort cut over, an order placed and delivered for each, a legacy edit of one a
   conflict, the kill switch rolls them all back, reconcile is clean and the orders are in the legacy table.

The legacy database is the office's: the tests edit it with SQL as the office's system would. To keep the
backfill to a minute on a busy machine, one delivery row in ten of the demo's history is kept.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any, TypeVar

import asyncpg
import httpx
import pytest

from e2e.conftest import Platform, demo_platform, log_in
from services.local.programs import LEGACY_DATABASE_NAME
from services.local.stores import POSTGRES_USER
from services.local.supervision import Layout, SupervisorClient
from services.platform.clock import taipei_date
from tests.gateway.factories import delivery_body, order_body

pytestmark = pytest.mark.e2e

MIGRATION = "/api/v1/migration"
PILOT_FLAG = "new-platform"
# Issue 13 §7: each direction within 2 s. Printed; the bound only catches a change that never arrives.
SYNC_TARGET_SECONDS = 2.0
ARRIVES_WITHIN_SECONDS = 90.0
# A backfill of ~15,000 rows, a cutover, a rollback: minutes on two saturated cores, not ten.
FINISHES_WITHIN_SECONDS = 600.0
POLL_SECONDS = 0.1
CUSTOMERS = '"客戶資料"'
DELIVERIES = '"配送紀錄"'

T = TypeVar("T")


def wait_for(check: Callable[[], T | None], what: str, within: float = ARRIVES_WITHIN_SECONDS) -> tuple[T, float]:
    """Poll ``check`` until it returns something true (not None, False or empty): that and the seconds it took."""
    began = time.monotonic()
    while True:
        found = check()
        if found:
            return found, time.monotonic() - began
        assert time.monotonic() - began < within, f"{what}: not within {within:.0f} s"
        time.sleep(POLL_SECONDS)


class Legacy:
    """The legacy database of the running platform, reached with SQL as the office's own system does."""

    def __init__(self, platform: Platform) -> None:
        self.port = int(json.loads((platform.data_dir / "state.json").read_text())["ports"]["postgres"])

    def _run(self, database: str, work: Callable[[asyncpg.Connection], Any]) -> Any:
        async def run() -> Any:
            connection = await asyncpg.connect(host="127.0.0.1", port=self.port, user=POSTGRES_USER, database=database)
            try:
                return await work(connection)
            finally:
                await connection.close()

        return asyncio.run(run())

    def fetch(self, query: str, *arguments: Any) -> list[asyncpg.Record]:
        return list(self._run(LEGACY_DATABASE_NAME, lambda connection: connection.fetch(query, *arguments)))

    def execute(self, query: str, *arguments: Any) -> None:
        self._run(LEGACY_DATABASE_NAME, lambda connection: connection.execute(query, *arguments))

    def refuse_connections(self, refused: bool) -> None:
        """Take the legacy database away (every connection ended, none accepted) or give it back."""

        async def switch(connection: asyncpg.Connection) -> None:
            await connection.execute(
                f"ALTER DATABASE {LEGACY_DATABASE_NAME} WITH ALLOW_CONNECTIONS {'false' if refused else 'true'}"
            )
            if refused:
                await connection.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", LEGACY_DATABASE_NAME
                )

        self._run("postgres", switch)


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    with demo_platform(tmp_path_factory.mktemp("migration") / "luckygas") as running:
        yield running


@pytest.fixture(scope="module")
def legacy(platform: Platform) -> Legacy:
    found = Legacy(platform)
    found.execute(f'DELETE FROM {DELIVERIES} WHERE "序號" % 10 <> 0')
    return found


@pytest.fixture(scope="module")
def client(platform: Platform) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=platform.base_url, timeout=120) as session:
        yield session


@pytest.fixture(scope="module")
def sre(client: httpx.Client) -> dict[str, str]:
    return log_in(client, "sre")


@pytest.fixture(scope="module")
def office(client: httpx.Client) -> dict[str, str]:
    return log_in(client, "dispatcher")


@pytest.fixture
def pilot(client: httpx.Client, sre: dict[str, str]) -> list[str]:
    """The pilot cohort's codes, once the backfill has brought everything over (the first test runs it)."""
    finished_backfill(client, sre)
    return cohort(client, sre)


def backfill_progress(client: httpx.Client, sre: dict[str, str]) -> dict[str, Any] | None:
    """The backfill's progress; None while migration-sync does not answer (it is being restarted)."""
    response = client.get(f"{MIGRATION}/backfill", headers=sre)
    return response.json() if response.status_code == 200 else None


def finished_backfill(client: httpx.Client, sre: dict[str, str]) -> dict[str, Any]:
    """Start the backfill unless it ran already, and wait for it to end."""
    progress, _ = wait_for(lambda: backfill_progress(client, sre), "migration-sync answering")
    if progress["state"] not in ("running", "done"):
        assert client.post(f"{MIGRATION}/backfill", json={}, headers=sre).status_code == 202

    def ended() -> dict[str, Any] | None:
        found = backfill_progress(client, sre)
        return found if found is not None and found["state"] == "done" else None

    done, _ = wait_for(ended, "the backfill's end", FINISHES_WITHIN_SECONDS)
    return done


def reconcile(client: httpx.Client, sre: dict[str, str], table: str) -> dict[str, Any]:
    """A reconcile report of ``table``; a 409 (the scheduled one or a backfill is running) is waited out."""

    def run() -> dict[str, Any] | None:
        response = client.post(f"{MIGRATION}/reconcile", json={"table": table, "repair": False}, headers=sre)
        assert response.status_code in (201, 409, 503), response.text
        return response.json() if response.status_code == 201 else None

    report, _ = wait_for(run, f"a reconcile of {table}", FINISHES_WITHIN_SECONDS)
    return report


def assert_reconciled(client: httpx.Client, sre: dict[str, str]) -> None:
    for table in ("customers", "deliveries"):
        report = reconcile(client, sre, table)
        assert report["differences"] == 0, f"{table}: {report['rows'][:5]}"
        # Every mappable legacy row is in the platform once: a duplicate or a lost row would be a difference.
        assert report["new_rows"] >= report["legacy_rows"] - report["rejected_rows"], report


def customer(client: httpx.Client, headers: dict[str, str], code: str) -> dict[str, Any]:
    page = client.get("/api/v1/customers", params={"q": code}, headers=headers)
    assert page.status_code == 200, page.text
    (found,) = [item for item in page.json()["items"] if item["code"] == code]
    return dict(found)


def legacy_primary_codes(
    legacy: Legacy, client: httpx.Client, headers: dict[str, str], pilot: list[str], count: int
) -> list[str]:
    """``count`` legacy customer codes outside the pilot that the backfill brought over (not refused)."""
    found: list[str] = []
    for row in legacy.fetch(f'SELECT "客戶" FROM {CUSTOMERS} ORDER BY "客戶" DESC'):
        code = str(row["客戶"])
        page = client.get("/api/v1/customers", params={"q": code}, headers=headers)
        if code not in pilot and any(item["code"] == code for item in page.json()["items"]):
            found.append(code)
        if len(found) == count:
            return found
    raise AssertionError(f"fewer than {count} migrated legacy-primary customers")


def legacy_address(legacy: Legacy, code: str) -> str:
    (row,) = legacy.fetch(f'SELECT "地址" FROM {CUSTOMERS} WHERE "客戶" = $1', code)
    return str(row["地址"])


def cohort(client: httpx.Client, sre: dict[str, str]) -> list[str]:
    flag = client.get(f"/api/v1/flags/{PILOT_FLAG}", headers=sre).json()
    (rule,) = flag["definition"]["targeting"]["if"][:1]
    return sorted(str(code) for code in rule["in"][1])


def cutovers(client: httpx.Client, sre: dict[str, str], code: str) -> list[dict[str, Any]]:
    response = client.get(f"{MIGRATION}/cutovers", params={"customer_code": code}, headers=sre)
    return list(response.json()["cutovers"]) if response.status_code == 200 else []


def primary_is(client: httpx.Client, sre: dict[str, str], code: str, kind: str) -> bool:
    """The customer's newest cutover or rollback is ``kind`` and done."""
    history = cutovers(client, sre, code)
    return bool(history) and history[0]["kind"] == kind and history[0]["outcome"] == "done"


def place(
    client: httpx.Client, office: dict[str, str], buyer: dict[str, Any], today: str, **overrides: Any
) -> dict[str, Any]:
    """An order for today paid as the customer pays (cash or monthly): two 20 kg cylinders unless overridden."""
    method = "monthly" if buyer["payment_terms"] == "monthly" else "cash"
    body = order_body(buyer["id"], scheduled_date=today, payment_method=method, **overrides)
    created = client.post("/api/v1/orders", json=body, headers={**office, "Idempotency-Key": str(uuid.uuid4())})
    assert created.status_code == 201, created.text
    return dict(created.json())


def place_and_deliver(client: httpx.Client, office: dict[str, str], buyer: dict[str, Any], today: str) -> str:
    """An order for today, confirmed, assigned, started and delivered with proof; its id."""
    order = place(client, office, buyer, today)
    monthly = buyer["payment_terms"] == "monthly"
    for step, step_body in (("confirm", None), ("assign", {"route_id": "R-E2E-MIG"}), ("start-delivery", None)):
        response = client.post(f"/api/v1/orders/{order['id']}/{step}", json=step_body, headers=office)
        assert response.status_code == 200, response.text
    delivered = client.post(
        f"/api/v1/orders/{order['id']}/delivery",
        json=delivery_body(cash_collected=0 if monthly else order["total"]),
        headers={**office, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert delivered.status_code == 200, delivered.text
    return str(order["id"])


def change_and_deliver(platform: Platform, client: httpx.Client, office: dict[str, str], code: str) -> tuple[str, str]:
    """A new address for the pilot customer ``code`` and an order placed and delivered for it: (address, order id)."""
    current = customer(client, office, code)
    address = f"台東市更生路{uuid.uuid4().int % 900 + 100}號"
    changed = client.patch(
        f"/api/v1/customers/{current['id']}",
        json={"address": address},
        headers={**office, "If-Match": f'"{current["version"]}"'},
    )
    assert changed.status_code == 200, changed.text
    today = taipei_date(platform.now()).isoformat()
    return address, place_and_deliver(client, office, changed.json(), today)


def assert_in_legacy_once(legacy: Legacy, code: str, address: str, order: str, after: int) -> None:
    """The customer's new address reaches legacy, and the order as one delivered row keyed above ``after``."""
    wait_for(lambda: legacy_address(legacy, code) == address, f"the address of {code} in legacy")
    query = f'SELECT "序號", "狀態" FROM {DELIVERIES} WHERE "客戶" = $1 AND "序號" > $2'
    wait_for(
        lambda: [row for row in legacy.fetch(query, code, after) if row["狀態"] == "COMPLETED"],
        f"order {order} delivered in legacy",
    )
    assert [row["狀態"] for row in legacy.fetch(query, code, after)] == ["COMPLETED"]


def test_a_backfill_sigkilled_mid_run_resumes_and_creates_nothing_twice(
    platform: Platform, legacy: Legacy, client: httpx.Client, sre: dict[str, str]
) -> None:
    started = client.post(f"{MIGRATION}/backfill", json={}, headers=sre)
    assert started.status_code == 202, started.text

    def deliveries_under_way() -> dict[str, Any] | None:
        progress = backfill_progress(client, sre)
        table = progress["tables"][-1] if progress is not None else None
        return table if table is not None and 0 < table["done"] < table["total"] else None

    before, _ = wait_for(deliveries_under_way, "the deliveries' backfill under way", FINISHES_WITHIN_SECONDS)
    os.kill(platform.pids()["migration"], signal.SIGKILL)

    done = finished_backfill(client, sre)
    for table in done["tables"]:
        assert table["state"] == "done", table
        assert table["done"] == table["total"] == table["migrated"] + table["rejected"], table
    (deliveries,) = [table for table in done["tables"] if table["table"] == "deliveries"]
    assert deliveries["done"] > before["done"]
    assert_reconciled(client, sre)
    print(
        f"\nbackfill SIGKILLed at {before['done']:,}/{before['total']:,} delivery rows; after the restart it ended"
        f" with {deliveries['migrated']:,} migrated and {deliveries['rejected']:,} rejected, reconcile clean"
    )


def test_a_legacy_edit_and_a_pilot_customers_order_each_reach_the_other_side(
    platform: Platform,
    legacy: Legacy,
    client: httpx.Client,
    sre: dict[str, str],
    office: dict[str, str],
    pilot: list[str],
) -> None:
    (code,) = legacy_primary_codes(legacy, client, office, pilot, 1)
    address = f"台東市中正路{uuid.uuid4().int % 900 + 100}號"
    legacy.execute(f'UPDATE {CUSTOMERS} SET "地址" = $1 WHERE "客戶" = $2', address, code)
    _, to_new = wait_for(
        lambda: customer(client, office, code)["address"] == address, f"legacy edit of {code} in the platform"
    )

    buyer_code = pilot[0]
    wait_for(lambda: primary_is(client, sre, buyer_code, "cutover"), f"the cutover of {buyer_code}")
    buyer = customer(client, office, buyer_code)
    (last,) = legacy.fetch(f'SELECT coalesce(max("序號"), 0) AS last FROM {DELIVERIES}')
    # For tomorrow, so that an order of this customer for today stays possible without marking it additional.
    tomorrow = (taipei_date(platform.now()) + timedelta(days=1)).isoformat()
    place(client, office, buyer, tomorrow, items=[{"product": "cylinder-16-regular", "quantity": 3}])
    rows, to_legacy = wait_for(
        lambda: legacy.fetch(
            f'SELECT "16公斤", "狀態" FROM {DELIVERIES} WHERE "客戶" = $1 AND "序號" > $2', buyer_code, last["last"]
        ),
        f"the order of pilot customer {buyer_code} in legacy",
    )
    assert [(row["16公斤"], row["狀態"]) for row in rows] == [(3, "PENDING")]
    print(
        f"\ndual-write: legacy edit → platform {to_new * 1000:.0f} ms, pilot order → legacy {to_legacy * 1000:.0f} ms"
        f" (target {SYNC_TARGET_SECONDS:.0f} s each)"
    )


def test_capture_killed_mid_burst_and_a_legacy_outage_lose_nothing_and_apply_nothing_twice(
    platform: Platform,
    legacy: Legacy,
    client: httpx.Client,
    sre: dict[str, str],
    office: dict[str, str],
    pilot: list[str],
) -> None:
    codes = legacy_primary_codes(legacy, client, office, pilot, 150)
    burst = f"burst-{uuid.uuid4().hex[:6]}"
    legacy.execute(f'UPDATE {CUSTOMERS} SET "地址" = "地址" || $1 WHERE "客戶" = ANY($2::text[])', f" {burst}", codes)
    os.kill(platform.pids()["migration"], signal.SIGKILL)
    wait_for(
        lambda: all(customer(client, office, code)["address"].endswith(burst) for code in codes[-3:]),
        "the burst after the restart",
        FINISHES_WITHIN_SECONDS,
    )
    assert all(customer(client, office, code)["address"].endswith(f" {burst}") for code in codes)

    # The legacy database away: a pilot customer's change and order wait, then arrive once it is back.
    code = pilot[1]
    wait_for(lambda: primary_is(client, sre, code, "cutover"), f"the cutover of {code}")
    (last,) = legacy.fetch(f'SELECT coalesce(max("序號"), 0) AS last FROM {DELIVERIES}')
    legacy.refuse_connections(True)
    try:
        address, order = change_and_deliver(platform, client, office, code)
    finally:
        legacy.refuse_connections(False)
    assert_in_legacy_once(legacy, code, address, order, last["last"])
    assert_reconciled(client, sre)


def test_redis_stopped_then_restarted_the_changes_made_meanwhile_arrive_once(
    platform: Platform,
    legacy: Legacy,
    client: httpx.Client,
    sre: dict[str, str],
    office: dict[str, str],
    pilot: list[str],
) -> None:
    code = pilot[2]
    wait_for(lambda: primary_is(client, sre, code, "cutover"), f"the cutover of {code}")
    (other,) = legacy_primary_codes(legacy, client, office, pilot, 1)
    (last,) = legacy.fetch(f'SELECT coalesce(max("序號"), 0) AS last FROM {DELIVERIES}')
    supervisor = SupervisorClient(Layout.at(platform.data_dir))
    before = supervisor.process("redis").pid
    supervisor.stop("redis")
    try:
        # Both directions while the event streams are away: the platform's writes wait in the services' outboxes,
        # the legacy edit goes through change capture, which needs no Redis.
        assert not supervisor.process("redis").alive
        address, order = change_and_deliver(platform, client, office, code)
        edited = f"台東市博愛路{uuid.uuid4().int % 900 + 100}號"
        legacy.execute(f'UPDATE {CUSTOMERS} SET "地址" = $1 WHERE "客戶" = $2', edited, other)
        wait_for(lambda: customer(client, office, other)["address"] == edited, f"legacy edit of {other}")
    finally:
        supervisor.start("redis")
    wait_for(lambda: supervisor.process("redis").alive, "Redis running again")
    assert supervisor.process("redis").pid != before
    assert_in_legacy_once(legacy, code, address, order, last["last"])
    assert_reconciled(client, sre)


def test_pilot_walkthrough_cutover_orders_conflict_kill_switch_rollback(
    platform: Platform,
    legacy: Legacy,
    client: httpx.Client,
    sre: dict[str, str],
    office: dict[str, str],
    pilot: list[str],
) -> None:
    assert len(pilot) == 5
    for code in pilot:
        wait_for(functools.partial(primary_is, client, sre, code, "cutover"), f"the cutover of {code}")
    (last,) = legacy.fetch(f'SELECT coalesce(max("序號"), 0) AS last FROM {DELIVERIES}')
    today = taipei_date(platform.now()).isoformat()
    orders = {code: place_and_deliver(client, office, customer(client, office, code), today) for code in pilot}

    edited = pilot[2]
    legacy.execute(f'UPDATE {CUSTOMERS} SET "地址" = "地址" || $1 WHERE "客戶" = $2', " 後門", edited)
    conflicts, _ = wait_for(
        lambda: client.get(f"{MIGRATION}/conflicts", params={"customer_code": edited}, headers=sre).json()["conflicts"],
        f"the conflict of {edited}",
    )
    assert (conflicts[0]["table"], conflicts[0]["state"]) == ("customers", "open")
    assert "address" in {field["field"] for field in conflicts[0]["fields"]}

    killed = client.post(f"/api/v1/flags/{PILOT_FLAG}/kill", json={"reason": "e2e: pilot walkthrough"}, headers=sre)
    assert killed.status_code == 200, killed.text
    for code in pilot:
        wait_for(
            functools.partial(primary_is, client, sre, code, "rollback"),
            f"the rollback of {code}",
            FINISHES_WITHIN_SECONDS,
        )
    assert_reconciled(client, sre)
    rows = legacy.fetch(
        f'SELECT "客戶", "狀態", "20公斤", "回收20公斤" FROM {DELIVERIES} WHERE "序號" > $1 ORDER BY "客戶"',
        last["last"],
    )
    assert [(row["客戶"], row["狀態"], row["20公斤"], row["回收20公斤"]) for row in rows] == [
        (code, "COMPLETED", 2, 2) for code in pilot
    ], orders
    # The conflict is never dropped: it waits for a person, with both values.
    still = client.get(f"{MIGRATION}/conflicts", params={"customer_code": edited}, headers=sre).json()["conflicts"]
    assert [conflict["state"] for conflict in still] == ["open"]
