"""``python -m loadtests.bench_order_import``: legacy deliveries into the order service, and reconcile checksums.

Starts a throw-away platform (loadtests/harness.py), then through the order service's real gRPC server:
1. imports ``--rows`` generated legacy delivery rows in batches of ``--batch`` (as migration-sync's backfill
   sends them, one batch in flight), then the same rows again (every one unchanged): rows/s end to end;
2. multiplies those orders in SQL up to ``--checksum-rows`` orders with a legacy id (a fast way to a million rows;
   the copies are ordinary rows of the same shapes), then times ChecksumLegacyOrders over all of them: one range,
   and ``--ranges`` ranges in one call.
Prints figures; fails only on real errors (an RPC refused, a count that does not add up), never on timing.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import grpc
from luckygas.order.v1 import order_pb2 as pb
from luckygas.order.v1 import order_pb2_grpc
from sqlalchemy import text

from loadtests.harness import BenchError, Platform, run_bench, start_platform
from services.platform.database import Database, create_engine
from services.platform.grpc_client import open_channel

DATABASE = "luckygas_bench_order_import"
AIM_ROWS_PER_SECOND = 2000.0
AIM_CHECKSUM_SECONDS = 5.0
ORDER_SERVICE = pb.DESCRIPTOR.services_by_name["OrderService"]
CYLINDERS = ["cylinder-20-regular", "cylinder-16-regular", "cylinder-50-regular", "cylinder-20-lucky", "propane-20"]
FLOWS = ["flow-50-regular", "flow-20-regular"]


def legacy_rows(count: int, seed: int = 13) -> list[pb.LegacyOrder]:
    """Deterministic rows shaped like the office's history: mostly delivered, some metered, failed, cancelled."""
    chance = random.Random(seed)  # nosec B311 # seeded benchmark rows, the same for a seed
    customers = [(str(uuid.UUID(int=chance.getrandbits(128))), f"{1400000 + n:07d}") for n in range(1300)]
    first_day = date(2023, 6, 1)
    rows = []
    for legacy_id in range(1, count + 1):
        customer_id, code = chance.choice(customers)
        status = chance.choices(["delivered", "failed", "cancelled", "pending"], [90, 5, 4, 1])[0]
        metered = chance.random() < 0.1
        products = [] if metered else chance.sample(CYLINDERS, chance.choice([1, 1, 1, 2]))
        row = pb.LegacyOrder(
            legacy_id=legacy_id,
            customer_id=customer_id,
            customer_code=code,
            customer_zone=chance.choice("ABCDEFGH"),
            day=(first_day + timedelta(days=legacy_id * 700 // count)).isoformat(),
            time=chance.choice(["", f"{chance.randint(8, 19):02d}:{chance.choice([0, 15, 30, 45]):02d}"]),
            salesperson=chance.choice(["王小明", "林大同", "陳美玲"]),
            status=status,
            failure_reason=chance.choice(["", "not_home", "refused"]) if status == "failed" else "",
            items=[pb.OrderItemInput(product=product, quantity=chance.randint(1, 4)) for product in products],
            metered=[pb.MeteredGas(product=chance.choice(FLOWS), tenths_kg=chance.randint(50, 900))] if metered else [],
        )
        if status == "delivered" and products:
            sizes = {int(product.split("-")[1]) for product in products}
            row.empties.extend(pb.EmptiesBySize(size_kg=size, count=chance.randint(0, 3)) for size in sorted(sizes))
        rows.append(row)
    return rows


@dataclass
class Measured:
    rows: int = 0
    batch: int = 0
    import_seconds: float = 0.0
    again_seconds: float = 0.0
    outcomes: dict[str, int] = field(default_factory=dict)
    checksum_rows: int = 0
    one_range_seconds: float = 0.0
    many_ranges_seconds: float = 0.0
    ranges: int = 0
    errors: list[str] = field(default_factory=list)


async def _import(
    stub: order_pb2_grpc.OrderServiceStub, rows: list[pb.LegacyOrder], batch: int
) -> tuple[float, dict[str, int]]:
    outcomes: dict[str, int] = {}
    started = time.perf_counter()
    for offset in range(0, len(rows), batch):
        reply = await stub.ImportLegacyOrders(pb.ImportLegacyOrdersRequest(orders=rows[offset : offset + batch]))
        for entry in reply.orders:
            name = pb.ImportOutcome.Name(entry.outcome)
            outcomes[name] = outcomes.get(name, 0) + 1
    return time.perf_counter() - started, outcomes


# The imported orders copied ``copies`` times in SQL with legacy ids shifted by multiples of ``rows``.
_MULTIPLY = [
    "INSERT INTO \"order\".orders SELECT (md5(o.id::text || g))::uuid, 'LEGACY-' || (o.legacy_id + g * :rows),"
    " o.customer_id, o.customer_code, o.customer_zone, o.status, o.scheduled_date, o.window_start, o.window_end,"
    " o.urgent, o.additional, o.payment_method, o.notes, o.source, o.price_list_id, o.subtotal, o.urgent_surcharge,"
    " o.vat, o.total, o.credit_override_by, o.credit_override_reason, o.cancel_reason, o.failure_reason, o.route_id,"
    " o.paid_at, 'legacy:' || (o.legacy_id + g * :rows), o.create_fingerprint, o.created_by, o.created_at,"
    " o.updated_at, o.version, o.legacy_id + g * :rows, o.metered"
    ' FROM "order".orders AS o CROSS JOIN generate_series(1, :copies) AS g WHERE o.legacy_id <= :rows',
    'INSERT INTO "order".order_items SELECT (md5(i.order_id::text || g))::uuid, i.position, i.product, i.quantity,'
    ' i.unit_price, i.line_total FROM "order".order_items AS i JOIN "order".orders AS o ON o.id = i.order_id'
    " CROSS JOIN generate_series(1, :copies) AS g WHERE o.legacy_id <= :rows",
    'INSERT INTO "order".deliveries SELECT (md5(d.order_id::text || g))::uuid, d.outcome, d.request_id,'
    " d.fingerprint, d.recipient_name, d.signature_png, d.photo, d.photo_content_type, d.delivered,"
    " d.empties_received, d.residual_gas_kg, d.cash_collected, d.failure_reason, d.notes, d.occurred_at,"
    ' d.recorded_by, d.created_at FROM "order".deliveries AS d JOIN "order".orders AS o ON o.id = d.order_id'
    " CROSS JOIN generate_series(1, :copies) AS g WHERE o.legacy_id <= :rows",
]


async def _multiply(database_url: str, rows: int, target: int) -> int:
    copies = max(target // rows - 1, 0)
    database = Database(create_engine(database_url, pool_size=1))
    try:
        async with database.session() as session:
            for statement in _MULTIPLY:
                await session.execute(text(statement), {"rows": rows, "copies": copies})
        async with database.engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.exec_driver_sql('VACUUM ANALYZE "order".orders, "order".order_items, "order".deliveries')
    finally:
        await database.dispose()
    return rows * (copies + 1)


async def _checksum(stub: order_pb2_grpc.OrderServiceStub, total: int, ranges: int) -> tuple[float, float, list[str]]:
    errors = []
    started = time.perf_counter()
    whole = await stub.ChecksumLegacyOrders(
        pb.ChecksumLegacyOrdersRequest(ranges=[pb.KeyRange(start=0, end=total + 1)]), timeout=300
    )
    one_range = time.perf_counter() - started
    if whole.checksums[0].count != total:
        errors.append(f"one range counted {whole.checksums[0].count} orders, not {total}")
    width = total // ranges + 1
    bounds = [pb.KeyRange(start=1 + n * width, end=1 + (n + 1) * width) for n in range(ranges)]
    started = time.perf_counter()
    split = await stub.ChecksumLegacyOrders(pb.ChecksumLegacyOrdersRequest(ranges=bounds), timeout=300)
    many = time.perf_counter() - started
    if sum(entry.count for entry in split.checksums) != total:
        errors.append("the ranges' counts do not add up to the whole")
    if sum(int(entry.digest_sum) for entry in split.checksums) != int(whole.checksums[0].digest_sum):
        errors.append("the ranges' digest sums do not add up to the whole")
    return one_range, many, errors


async def _run(address: str, database_url: str, arguments: argparse.Namespace, measured: Measured) -> None:
    rows = legacy_rows(arguments.rows)
    channel: grpc.aio.Channel = open_channel(address, ORDER_SERVICE, default_deadline=120)
    stub = order_pb2_grpc.OrderServiceStub(channel)
    try:
        await stub.ImportLegacyOrders(pb.ImportLegacyOrdersRequest(orders=rows[:1]))  # warm-up: caches, plans
        print(f"importing {len(rows):,} rows in batches of {arguments.batch} …", flush=True)
        measured.import_seconds, created = await _import(stub, rows, arguments.batch)
        print("importing them again (all unchanged) …", flush=True)
        measured.again_seconds, again = await _import(stub, rows, arguments.batch)
        measured.outcomes = {f"first {name}": n for name, n in created.items()} | {
            f"again {name}": n for name, n in again.items()
        }
        if again.get("IMPORT_OUTCOME_UNCHANGED") != len(rows):
            measured.errors.append(f"the second import was not all unchanged: {again}")
        print(f"multiplying to {arguments.checksum_rows:,} orders in SQL …", flush=True)
        measured.checksum_rows = await _multiply(database_url, len(rows), arguments.checksum_rows)
        measured.ranges = arguments.ranges
        print("checksums …", flush=True)
        measured.one_range_seconds, measured.many_ranges_seconds, errors = await _checksum(
            stub, measured.checksum_rows, arguments.ranges
        )
        measured.errors += errors
    finally:
        await channel.close()


def bench(root: Path, platform: Platform, arguments: argparse.Namespace) -> Measured:
    running = start_platform(platform, DATABASE, refill_history=False)
    measured = Measured(rows=arguments.rows, batch=arguments.batch)
    address = f"127.0.0.1:{running.ports['order_grpc']}"
    try:
        asyncio.run(_run(address, running.environment["LUCKYGAS_DATABASE_URL"], arguments, measured))
    except grpc.aio.AioRpcError as error:
        raise BenchError(f"the order service answered {error.code().name}: {error.details()}") from error
    platform.check_alive()
    return measured


def report(measured: Measured) -> int:
    first = measured.rows / measured.import_seconds
    again = measured.rows / measured.again_seconds
    print(f"\nimport, {measured.rows:,} rows in batches of {measured.batch}, through gRPC, one batch in flight:")
    print(f"  created:   {first:8,.0f} rows/s ({measured.import_seconds:.1f} s)  aim >= {AIM_ROWS_PER_SECOND:,.0f}")
    print(f"  unchanged: {again:8,.0f} rows/s ({measured.again_seconds:.1f} s)")
    print(f"  outcomes: {measured.outcomes}")
    print(f"checksum over {measured.checksum_rows:,} orders with a legacy id:")
    print(f"  one range:          {measured.one_range_seconds:6.2f} s  aim <= {AIM_CHECKSUM_SECONDS:.0f}")
    print(f"  {measured.ranges:,} ranges, one call: {measured.many_ranges_seconds:6.2f} s")
    for error in measured.errors:
        print(f"error: {error}")
    return len(measured.errors)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m loadtests.bench_order_import", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000, help="legacy rows imported through gRPC")
    parser.add_argument("--batch", type=int, default=500, help="rows per ImportLegacyOrders call (at most 1000)")
    parser.add_argument("--checksum-rows", type=int, default=1_000_000, help="orders the checksum runs over")
    parser.add_argument("--ranges", type=int, default=1000, help="ranges in the split checksum call (at most 1000)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (data and logs) after the run")
    arguments = parser.parse_args()
    if not 1 <= arguments.batch <= 1000 or not 1 <= arguments.ranges <= 1000 or arguments.rows < 1:
        parser.error("--batch and --ranges are 1 to 1000, --rows positive")
    run_bench("bench-order-import", arguments, bench, report)


if __name__ == "__main__":
    main()
