"""Reconcile of a million deliveries a side: the bisecting data-diff against the naive full compare (issue 13 §8).

Starts an embedded Postgres of its own with two legacy-store databases, bulk-loads the same ``--rows`` deliveries
into both (INSERT … SELECT over generate_series, triggers off while loading), plants ``--differences`` differing
rows in the second (rows missing on either side, changed quantities, changed statuses, pairs of rows that swap
customers), then runs services/migration/reconcile.py's ``reconcile`` and ``naive_compare`` on the two, one after
the other, and prints seconds, the ratio, differences found out of those planted, false ones, checksum calls and
rows fetched. The right side is a second legacy store, not the order service: loading a million orders through
ImportLegacyOrders is a backfill benchmark of its own (``make bench-migration``). Checksums sum stored digests
on both sides (the legacy table's generated ``row_digest``; the order service keeps ``legacy_digests`` the same
way), while the naive compare computes every row's canonical text and ships it: that is the difference measured.

Aims, reported, not asserted: reconcile ≤ 30 s, every planted difference found, ≥ 5× faster than naive.
Run: ``.venv/bin/python -m loadtests.bench_reconcile [--rows N] [--differences N] [--seed N] [--keep]``.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from loadtests.harness import BenchError, Platform, run_bench
from services.local import stores
from services.migration import legacy_digest
from services.migration.legacy_digest import LegacyDeliverySide
from services.migration.reconcile import Report, naive_compare, reconcile
from services.platform.canonical import DELIVERY_FIELDS
from services.platform.database import create_engine

AIM_SECONDS = 30.0
AIM_RATIO = 5.0
DATABASES = ("legacy_left", "legacy_right")

# The same deterministic history on both sides: every status, flow kg and returns among the rows.
_FILL = text(
    'INSERT INTO "配送紀錄" ("序號", "日期", "時間", "業務員", "客戶", "狀態", "20公斤", "16公斤", "50公斤",'
    " \"流量50公斤\", \"回收20公斤\") SELECT g, 1120101 + (g / 3000) % 12 * 100 + g % 28, '09:00', '王小明',"
    " lpad((1000000 + g % 1300)::text, 7, '0'), (ARRAY['COMPLETED', 'COMPLETED', 'COMPLETED', 'FAILED',"
    " 'NOT_HOME', 'REFUSED', 'CANCELLED'])[1 + g % 7], 1 + g % 3, g % 2, g % 5 / 4,"
    " CASE WHEN g % 11 = 0 THEN (g % 400) / 10.0 ELSE 0 END, CASE WHEN g % 14 = 0 THEN 1 ELSE 0 END"
    " FROM generate_series(CAST(:first AS bigint), CAST(:last AS bigint)) AS g"
)
_BATCH = 250_000


@dataclass
class Planted:
    keys: set[int]
    description: str


@dataclass
class Measured:
    rows: int
    planted: Planted
    load_seconds: float
    bisecting: Report
    naive: Report


async def _load(engine: AsyncEngine, rows: int) -> None:
    await legacy_digest.install(engine)
    async with engine.begin() as connection:
        await connection.execute(text('TRUNCATE "配送紀錄"'))
        await connection.execute(text('ALTER TABLE "配送紀錄" DISABLE TRIGGER USER'))
    for first in range(1, rows + 1, _BATCH):
        async with engine.begin() as connection:
            await connection.execute(_FILL, {"first": first, "last": min(first + _BATCH - 1, rows)})
    async with engine.begin() as connection:
        await connection.execute(text('ALTER TABLE "配送紀錄" ENABLE TRIGGER USER'))
    async with engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(text('VACUUM ANALYZE "配送紀錄"'))


async def _plant(left: AsyncEngine, right: AsyncEngine, rows: int, count: int, seed: int) -> Planted:
    """Exactly ``count`` differing keys: a tenth of them pairs of neighbours swapping customers, the rest missing
    on the right, missing on the left, a quantity changed or a status changed."""
    rng = random.Random(seed)  # nosec B311 # a seeded, repeatable choice of rows to change, not a secret
    pairs = count // 20
    singles = count - 2 * pairs
    # Even keys only: a swap pairs k with k + 1, which is odd, so never another planted key.
    keys = rng.sample(range(2, rows - 1, 2), pairs + singles)
    swapped, rest = keys[:pairs], keys[pairs:]
    share = singles // 4
    missing_right, missing_left = rest[:share], rest[share : 2 * share]
    statuses, quantities = rest[2 * share : 3 * share], rest[3 * share :]
    async with right.begin() as connection:
        await connection.execute(text('DELETE FROM "配送紀錄" WHERE "序號" = ANY(:keys)'), {"keys": missing_right})
        await connection.execute(
            text('UPDATE "配送紀錄" SET "20公斤" = "20公斤" + 1 WHERE "序號" = ANY(:keys)'), {"keys": quantities}
        )
        await connection.execute(
            text(
                "UPDATE \"配送紀錄\" SET \"狀態\" = CASE WHEN \"狀態\" = 'NOT_HOME' THEN 'REFUSED' ELSE 'NOT_HOME' END,"
                ' "回收20公斤" = 0 WHERE "序號" = ANY(:keys)'
            ),
            {"keys": statuses},
        )
        # Neighbours' customers always differ (the fill cycles through 1,300 of them).
        await connection.execute(
            text(
                'UPDATE "配送紀錄" AS d SET "客戶" = v.code FROM ('
                ' SELECT k AS key, (SELECT "客戶" FROM "配送紀錄" WHERE "序號" = k + 1) AS code'
                " FROM unnest(CAST(:keys AS bigint[])) AS k UNION ALL"
                ' SELECT k + 1, (SELECT "客戶" FROM "配送紀錄" WHERE "序號" = k)'
                " FROM unnest(CAST(:keys AS bigint[])) AS k"
                ') AS v WHERE d."序號" = v.key'
            ),
            {"keys": swapped},
        )
    async with left.begin() as connection:
        await connection.execute(text('DELETE FROM "配送紀錄" WHERE "序號" = ANY(:keys)'), {"keys": missing_left})
    planted = {*rest, *swapped, *(key + 1 for key in swapped)}
    description = (
        f"{len(missing_right)} missing on the right, {len(missing_left)} missing on the left, {len(quantities)}"
        f" quantities, {len(statuses)} statuses, {len(swapped)} pairs of rows swapping customers"
    )
    return Planted(planted, description)


async def _measure(port: int, arguments: argparse.Namespace) -> Measured:
    left, right = (create_engine(stores.postgres_url(port, name), pool_size=10) for name in DATABASES)
    try:
        began = time.perf_counter()
        await asyncio.gather(_load(left, arguments.rows), _load(right, arguments.rows))
        load_seconds = time.perf_counter() - began
        planted = await _plant(left, right, arguments.rows, arguments.differences, arguments.seed)
        legacy_side, new_side = LegacyDeliverySide(left), LegacyDeliverySide(right)
        bisecting = await reconcile(
            legacy_side,
            new_side,
            DELIVERY_FIELDS,
            segments=arguments.segments,
            split=arguments.split,
            threshold=arguments.threshold,
        )
        naive = await naive_compare(legacy_side, new_side, DELIVERY_FIELDS)
        return Measured(arguments.rows, planted, load_seconds, bisecting, naive)
    finally:
        await left.dispose()
        await right.dispose()


def _create_database(port: int, name: str) -> None:
    # The port opens a moment before the server takes connections ("the database system is starting up").
    for _ in range(50):
        try:
            stores.create_database(port, name)
            return
        except asyncpg.CannotConnectNowError:
            time.sleep(0.2)
    stores.create_database(port, name)


def measure(root: Path, platform: Platform, arguments: argparse.Namespace) -> Measured:
    port = stores.free_port()
    postgres = platform.start("postgres", stores.prepare_postgres(root / "pg", port, durable=False))
    stores.wait_for_port(port, 30, postgres.process)
    for name in DATABASES:
        _create_database(port, name)
    try:
        return asyncio.run(_measure(port, arguments))
    except OSError as error:
        raise BenchError(f"the database went away: {error}\n{platform.log_tail('postgres')}") from error


def _line(name: str, report: Report, planted: set[int]) -> str:
    found = len(report.keys & planted)
    false = len(report.keys - planted)
    statistics = report.statistics
    return (
        f"{name:<10} {statistics.seconds:>8.2f} s  found {found}/{len(planted)}  false {false}"
        f"  checksum calls {statistics.checksum_calls:>3}  segments {statistics.segments_compared:>5}"
        f"  rows fetched {statistics.rows_fetched:>9,}"
    )


def report(measured: Measured) -> int:
    planted = measured.planted.keys
    bisecting, naive = measured.bisecting, measured.naive
    ratio = naive.statistics.seconds / bisecting.statistics.seconds
    print(f"reconcile of {measured.rows:,} deliveries a side, {len(planted)} planted differences")
    print(f"  planted: {measured.planted.description}")
    print("  left: a legacy store database; right: a second legacy store database (not the order service)")
    print(f"  bulk load of both sides: {measured.load_seconds:.1f} s")
    print(_line("bisecting", bisecting, planted))
    print(_line("naive", naive, planted))
    print(f"ratio naive / bisecting: {ratio:.1f}x")
    aims = [
        (bisecting.statistics.seconds <= AIM_SECONDS, f"bisecting ≤ {AIM_SECONDS:g} s"),
        (bisecting.keys == planted, "every planted difference found, no false one"),
        (ratio >= AIM_RATIO, f"≥ {AIM_RATIO:g}x faster than naive"),
        (naive.keys == planted, "naive agrees"),
    ]
    for met, aim in aims:
        print(f"  {'met ' if met else 'MISSED'} {aim}")
    return 0 if bisecting.keys == planted and naive.keys == planted else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--differences", type=int, default=100)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--segments", type=int, default=4096, help="segments of the first level")
    parser.add_argument("--split", type=int, default=16, help="parts a differing segment is cut into")
    parser.add_argument("--threshold", type=int, default=512, help="rows below which a segment is fetched")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir with the database and logs")
    run_bench("bench-reconcile", parser.parse_args(), measure, report)


if __name__ == "__main__":
    main()
