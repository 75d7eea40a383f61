"""``make bench-migration``: migration-sync's figures on a throw-away platform (loadtests/harness.py).

1. Backfill: the demo exports (~1,300 customers, ~150,000 delivery rows) loaded into a legacy database, then
   the real migration-sync process backfills them through the customer and order services: rows/s per table.
2. Sync lag while the office makes ``--office-rate`` changes a second:
   - legacy → new: a legacy-primary customer's address changed in the legacy table, until the customer service
     answers with it (polled every 10 ms);
   - new → legacy: a new-primary (pilot cohort) customer's address changed through the customer service, until
     the legacy row holds it.
   p50/p95/p99 over ``--samples`` changes each.
3. Reconcile of 1,000,000 rows a side against the naive compare: ``python -m loadtests.bench_reconcile``
   (run separately; it prints its own table).
Prints figures; fails only on real errors, never on timing.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from google.protobuf import field_mask_pb2
from luckygas.customer.v1 import customer_pb2, customer_pb2_grpc
from luckygas.migration.v1 import migration_pb2, migration_pb2_grpc
from sqlalchemy import select, update

from loadtests.harness import (
    BenchError,
    Platform,
    python_module,
    run_bench,
    run_step,
    start_platform,
    wait_grpc_ready,
)
from services.local import stores
from services.local.stores import ProcessSpec
from services.migration import legacy_store
from services.migration.office import run_office
from services.platform.database import create_engine
from services.platform.grpc_client import open_channel

DATABASE = "luckygas_bench_migration"
LEGACY_DATABASE = "luckygas_bench_legacy"
AIM_ROWS_PER_SECOND = 2000.0
AIM_LAG_P99_SECONDS = 1.0
POLL_SECONDS = 0.01
WAIT_SECONDS = 30.0
CUSTOMER_SERVICE = customer_pb2.DESCRIPTOR.services_by_name["CustomerService"]
MIGRATION_SERVICE = migration_pb2.DESCRIPTOR.services_by_name["MigrationService"]


@dataclass
class Measured:
    tables: dict[str, tuple[int, float]] = field(default_factory=dict)  # table → (rows, seconds)
    rejected: dict[str, int] = field(default_factory=dict)
    to_new: list[float] = field(default_factory=list)
    to_legacy: list[float] = field(default_factory=list)
    office_changes: int = 0
    missed: list[str] = field(default_factory=list)  # changes that did not arrive within WAIT_SECONDS


async def _backfill(stub: migration_pb2_grpc.MigrationServiceStub, measured: Measured) -> None:
    started = time.monotonic()
    seen: dict[str, float] = {}
    await stub.StartBackfill(migration_pb2.StartBackfillRequest())
    while True:
        progress = await stub.GetBackfill(migration_pb2.GetBackfillRequest())
        now = time.monotonic()
        for table in progress.tables:
            if table.state == "running" and table.table not in seen:
                seen[table.table] = now
            if table.state == "done" and table.table not in measured.tables:
                measured.tables[table.table] = (table.done, now - seen.get(table.table, started))
                measured.rejected[table.table] = table.rejected
        if progress.state == "failed":
            raise BenchError(f"the backfill failed: {progress}")
        if progress.state == "done":
            return
        await asyncio.sleep(0.2)


async def _wait_until(check: object, what: str) -> float:
    began = time.monotonic()
    while time.monotonic() - began < WAIT_SECONDS:
        if await check():  # type: ignore[operator]
            return time.monotonic() - began
        await asyncio.sleep(POLL_SECONDS)
    raise BenchError(f"{what} did not arrive within {WAIT_SECONDS:.0f} s")


async def _lag(
    customers: customer_pb2_grpc.CustomerServiceStub, legacy_url: str, arguments: argparse.Namespace, measured: Measured
) -> None:
    engine = create_engine(legacy_url, pool_size=4, application_name="bench-migration")
    table = legacy_store.customers
    pilot = arguments.pilot_code
    stop = asyncio.Event()
    office = asyncio.create_task(run_office(legacy_url, rate=arguments.office_rate, stop=stop, say=lambda _: None))
    try:
        async with engine.connect() as connection:
            codes = [
                str(code)
                # Past the demo pilot's cohort (1000001…1000013): these stay legacy-primary.
                for code in (
                    await connection.execute(
                        select(table.c["客戶"]).where(table.c["客戶"] > "1000100").order_by(table.c["客戶"]).limit(50)
                    )
                ).scalars()
            ]
        for sample in range(arguments.samples):
            code = codes[sample % len(codes)]
            address = f"台東市中正路{sample + 1}號 bench"
            async with engine.begin() as connection:
                await connection.execute(update(table).where(table.c["客戶"] == code).values({"地址": address}))

            async def arrived_new(code: str = code, address: str = address) -> bool:
                found = await customers.GetCustomer(customer_pb2.GetCustomerRequest(code=code))
                return bool(found.fields.address == address)

            try:
                measured.to_new.append(await _wait_until(arrived_new, f"legacy change {sample} of {code}"))
            except BenchError as lost:
                # The office may have written the same cell meanwhile, or sync is this far behind: counted.
                measured.missed.append(str(lost))
            current = await customers.GetCustomer(customer_pb2.GetCustomerRequest(code=pilot))
            address = f"台東市博愛路{sample + 1}號 bench"
            await customers.UpdateCustomer(
                customer_pb2.UpdateCustomerRequest(
                    id=current.id,
                    expected_version=current.version,
                    customer=customer_pb2.CustomerFields(address=address),
                    update_mask=field_mask_pb2.FieldMask(paths=["address"]),
                )
            )

            async def arrived_legacy(address: str = address) -> bool:
                async with engine.connect() as connection:
                    found = (
                        await connection.execute(select(table.c["地址"]).where(table.c["客戶"] == pilot))
                    ).scalar_one()
                return bool(found == address)

            try:
                measured.to_legacy.append(await _wait_until(arrived_legacy, f"new-platform change {sample} of {pilot}"))
            except BenchError as lost:
                measured.missed.append(str(lost))
    finally:
        stop.set()
        report = await office
        measured.office_changes = sum(report.changes.values())
        await engine.dispose()


async def _wait_for_pilot(stub: migration_pb2_grpc.MigrationServiceStub, code: str) -> None:
    async def cut_over() -> bool:
        reply = await stub.ListCutovers(migration_pb2.ListCutoversRequest(customer_code=code))
        return any(row.kind == "cutover" and row.outcome == "done" for row in reply.cutovers)

    await _wait_until(cut_over, f"the cutover of pilot customer {code}")


async def _run(ports: dict[str, int], legacy_url: str, arguments: argparse.Namespace, measured: Measured) -> None:
    migration_channel: grpc.aio.Channel = open_channel(
        f"127.0.0.1:{ports['migration_grpc']}", MIGRATION_SERVICE, default_deadline=30.0
    )
    customer_channel: grpc.aio.Channel = open_channel(
        f"127.0.0.1:{ports['customer_grpc']}", CUSTOMER_SERVICE, default_deadline=10.0
    )
    try:
        migration = migration_pb2_grpc.MigrationServiceStub(migration_channel)
        await _backfill(migration, measured)
        await _wait_for_pilot(migration, arguments.pilot_code)
        await _lag(customer_pb2_grpc.CustomerServiceStub(customer_channel), legacy_url, arguments, measured)
    finally:
        await migration_channel.close()
        await customer_channel.close()


def bench(root: Path, platform: Platform, arguments: argparse.Namespace) -> Measured:
    running = start_platform(
        platform, DATABASE, refill_history=False, extra_ports=("migration_grpc", "migration_metrics")
    )
    ports = running.ports
    stores.create_database(ports["postgres"], LEGACY_DATABASE)
    legacy_url = stores.postgres_url(ports["postgres"], LEGACY_DATABASE)
    environment = {
        **running.environment,
        "LUCKYGAS_LEGACY_DATABASE_URL": legacy_url,
        "LUCKYGAS_MIGRATION_GRPC_PORT": str(ports["migration_grpc"]),
        "LUCKYGAS_MIGRATION_METRICS_PORT": str(ports["migration_metrics"]),
        "LUCKYGAS_RECONCILE_INTERVAL_SECONDS": "0",
    }
    run_step(root, environment, "services.migration", "migrate")
    exports = str(root / "exports")
    print(
        "  "
        + run_step(root, environment, "services.migration", "seed", "--seed", "demo", "--out", exports).splitlines()[-1]
    )
    # The pilot's flags: the new-platform cohort is what migration-sync cuts over.
    print("  " + run_step(root, environment, "services.flags", "seed", "--seed", "demo").splitlines()[-1])
    platform.start("migration", ProcessSpec(argv=python_module("services.migration", "serve"), environment=environment))
    wait_grpc_ready(platform, "migration", ports["migration_grpc"])
    measured = Measured()
    asyncio.run(_run(ports, legacy_url, arguments, measured))
    return measured


def _percentiles(samples: list[float]) -> str:
    if not samples:
        return "no samples"
    ordered = sorted(samples)

    def at(share: float) -> float:
        return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]

    return (
        f"p50 {at(0.50) * 1000:7.1f} ms   p95 {at(0.95) * 1000:7.1f} ms   p99 {at(0.99) * 1000:7.1f} ms"
        f"   (n={len(samples)}, mean {statistics.fmean(samples) * 1000:.1f} ms)"
    )


def report(measured: Measured) -> int:
    print("\nbackfill (demo exports, through the customer and order services):")
    for table, (rows, seconds) in measured.tables.items():
        rate = rows / seconds if seconds > 0 else 0.0
        print(
            f"  {table:<10} {rows:>8} rows in {seconds:6.1f} s = {rate:8.0f} rows/s"
            f"   ({measured.rejected.get(table, 0)} rejected; aim ≥ {AIM_ROWS_PER_SECOND:.0f} rows/s)"
        )
    print(f"\nsync lag while the office makes changes ({measured.office_changes} office changes during the run):")
    print(f"  legacy → new  {_percentiles(measured.to_new)}")
    print(f"  new → legacy  {_percentiles(measured.to_legacy)}")
    print(f"  aim: p99 ≤ {AIM_LAG_P99_SECONDS * 1000:.0f} ms each way")
    for missed in measured.missed:
        print(f"  not arrived: {missed}")
    print("\nreconcile of 1,000,000 rows a side: python -m loadtests.bench_reconcile")
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=100, help="changes timed in each direction")
    parser.add_argument("--office-rate", type=float, default=50.0, help="office changes a second meanwhile")
    parser.add_argument("--pilot-code", default="1000001", help="a customer of the demo pilot cohort")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (data and logs) after the run")
    arguments = parser.parse_args()
    run_bench("bench-migration", arguments, bench, report)


if __name__ == "__main__":
    main()
