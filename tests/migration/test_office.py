"""The simulated office: edits customers and takes and moves on deliveries in the legacy tables, as staff do (only
changes the mapping accepts, unless dirty), each write bumping row_version; deterministic for a seed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from services.local import stores
from services.migration import legacy_store
from services.migration.demo_exports import DemoExports, write_exports
from services.migration.legacy_load import load_file
from services.migration.legacy_store import customers, deliveries
from services.migration.mapping import MappedCustomer, MappedDelivery, RejectedRow, map_customer, map_delivery
from services.migration.office import Office, run_office
from services.platform.database import create_engine
from services.platform.demo_customers import DEMO_SEED
from services.platform.zones import zone_names
from tests.conftest import Stores

COUNT = 40


@pytest.fixture(scope="session")
def office_legacy_url(embedded_stores: Stores) -> str:
    url = make_url(embedded_stores.database_url)
    assert url.port is not None
    stores.create_database(url.port, "legacy_office_test")
    return url.set(database="legacy_office_test").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def exports(tmp_path_factory: pytest.TempPathFactory) -> DemoExports:
    return write_exports(tmp_path_factory.mktemp("exports"), DEMO_SEED, COUNT, date(2026, 5, 1))


async def fresh_legacy(url: str, exports: DemoExports) -> AsyncEngine:
    engine = create_engine(url, pool_size=4)
    async with engine.begin() as connection:
        await connection.execute(text('DROP TABLE IF EXISTS "客戶資料", "配送紀錄", legacy_imports CASCADE'))
        await connection.execute(text("DROP SEQUENCE IF EXISTS row_version_counter"))
    await legacy_store.install(engine)
    await load_file(engine, exports.customers)
    await load_file(engine, exports.deliveries)
    return engine


@pytest.fixture
async def legacy(office_legacy_url: str, exports: DemoExports) -> AsyncIterator[AsyncEngine]:
    engine = await fresh_legacy(office_legacy_url, exports)
    yield engine
    await engine.dispose()


async def high_water(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        marks = [
            (await connection.execute(select(func.coalesce(func.max(table.c.row_version), 0)))).scalar_one()
            for table in (customers, deliveries)
        ]
    return int(max(marks))


async def changed(engine: AsyncEngine, table: str, mark: int) -> list[dict[str, Any]]:
    async with engine.connect() as connection:
        return [dict(row) for row in await legacy_store.changes_since(connection, table, mark, limit=100_000)]


def without(row: dict[str, Any], *columns: str) -> dict[str, Any]:
    return {key: value for key, value in row.items() if key not in (*columns, "row_version")}


async def test_staff_changes_are_ones_the_mapping_accepts_and_each_bumps_row_version(legacy: AsyncEngine) -> None:
    mark = await high_water(legacy)
    office = Office(legacy, seed=1)

    kinds = [await office.step() for _ in range(300)]

    made = [kind for kind in kinds if kind is not None]
    assert len(made) >= 250
    assert {"new_delivery", "delivery_assigned", "delivery_in_progress", "delivery_completed"} <= set(made)
    assert {"customer_phone", "customer_address", "customer_windows", "customer_rest_days"} <= set(made)
    edited = await changed(legacy, "customers", mark)
    taken = await changed(legacy, "deliveries", mark)
    assert len(edited) >= 20
    assert len(taken) >= 40
    zones = zone_names()
    for row in edited:
        assert isinstance(map_customer(without(row), zones), MappedCustomer), row  # type: ignore[arg-type]
    codes = {row["客戶"] for row in edited} | set(await all_codes(legacy))
    for row in taken:
        assert isinstance(map_delivery(without(row), codes), MappedDelivery), row  # type: ignore[arg-type]
    completed = [row for row in taken if row["狀態"] == "COMPLETED"]
    assert completed
    assert all(sum(row[column] for column in legacy_store.RETURN_COLUMNS) > 0 for row in completed if row["20公斤"])
    assert office.report.changes.total() == len(made)


async def all_codes(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as connection:
        return list((await connection.execute(select(customers.c["客戶"]))).scalars())


async def test_the_same_seed_from_the_same_state_makes_the_same_changes(
    office_legacy_url: str, exports: DemoExports
) -> None:
    snapshots = []
    for _ in range(2):
        engine = await fresh_legacy(office_legacy_url, exports)
        try:
            mark = await high_water(engine)
            office = Office(engine, seed=7)
            kinds = [await office.step() for _ in range(80)]
            edited = sorted((without(row) for row in await changed(engine, "customers", mark)), key=str)
            taken = sorted((without(row, "時間", "日期") for row in await changed(engine, "deliveries", mark)), key=str)
            snapshots.append((kinds, edited, taken))
        finally:
            await engine.dispose()

    assert snapshots[0] == snapshots[1]


async def test_a_dirty_office_also_makes_typos_the_mapping_refuses(legacy: AsyncEngine) -> None:
    mark = await high_water(legacy)
    office = Office(legacy, seed=3, dirty=True)

    kinds = [await office.step() for _ in range(200)]

    assert {"customer_typo", "delivery_typo"} <= set(kinds)
    zones = zone_names()
    refused = [
        row
        for row in await changed(legacy, "customers", mark)
        if isinstance(map_customer(without(row), zones), RejectedRow)  # type: ignore[arg-type]
    ]
    assert refused
    codes = set(await all_codes(legacy))
    refused_deliveries = [
        row
        for row in await changed(legacy, "deliveries", mark)
        if isinstance(map_delivery(without(row), codes), RejectedRow)  # type: ignore[arg-type]
    ]
    assert refused_deliveries


async def test_the_office_keeps_its_rate_and_stops_when_told(
    office_legacy_url: str, legacy: AsyncEngine, tmp_path: Path
) -> None:
    lines: list[str] = []
    started = time.monotonic()
    report = await run_office(office_legacy_url, rate=50, duration=2.0, seed=5, say=lines.append)
    took = time.monotonic() - started

    assert 80 <= report.changes.total() + report.skipped <= 101
    assert took < 4
    assert lines[-1].startswith(f"office: {report.changes.total()} changes in 2s")

    stop = asyncio.Event()
    running = asyncio.create_task(run_office(office_legacy_url, rate=20, stop=stop, say=lines.append))
    await asyncio.sleep(0.5)
    stop.set()
    stopped = await asyncio.wait_for(running, 2)
    assert 5 <= stopped.changes.total() + stopped.skipped <= 12


async def test_the_rate_must_be_positive(office_legacy_url: str) -> None:
    with pytest.raises(ValueError, match="rate"):
        await run_office(office_legacy_url, rate=0, duration=1)
