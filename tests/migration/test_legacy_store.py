"""The legacy store on a real Postgres database of its own: the office's tables and their row versions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from services.migration import legacy_store, mapping
from services.migration.legacy_store import WRITER_LOCK, changes_since, customers, deliveries
from services.platform.database import create_engine

WAIT_SECONDS = 30.0


@pytest.fixture
async def legacy(legacy_url: str) -> AsyncIterator[AsyncEngine]:
    """The legacy database, emptied, with the office's tables installed."""
    engine = create_engine(legacy_url, pool_size=4)
    async with engine.begin() as connection:
        await connection.execute(text('DROP TABLE IF EXISTS "客戶資料", "配送紀錄" CASCADE'))
    await legacy_store.install(engine)
    await legacy_store.install(engine)  # idempotent, as `luckygas up` runs it every start
    yield engine
    await engine.dispose()


def customer(code: str, **columns: object) -> dict[str, object]:
    return {"客戶": code, "客戶簡稱": "鐵花小吃", "電話": "89322123", "系統上鋼瓶數量": "20*5+16*1", **columns}


async def test_every_insert_and_update_takes_a_new_row_version_across_tables(legacy: AsyncEngine) -> None:
    async with legacy.begin() as connection:
        await connection.execute(insert(customers).values(customer("1400001")))
        await connection.execute(insert(deliveries).values({"日期": 1140521, "客戶": "1400001", "20公斤": 2}))
    async with legacy.begin() as connection:
        await connection.execute(update(customers).where(customers.c["客戶"] == "1400001").values({"區域": "A-瑞光"}))
        customer_version = (await connection.execute(select(customers.c.row_version))).scalar_one()
        delivery_version = (await connection.execute(select(deliveries.c.row_version))).scalar_one()

    assert delivery_version > 0
    assert customer_version > delivery_version  # the update came last, whichever table it touched


async def test_changes_since_a_mark_are_the_rows_written_after_it_in_order(legacy: AsyncEngine) -> None:
    async with legacy.begin() as connection:
        for number in range(5):
            await connection.execute(insert(customers).values(customer(f"140010{number}")))
    async with legacy.connect() as connection:
        first = await changes_since(connection, "customers", 0, limit=3)
        rest = await changes_since(connection, "customers", first[-1]["row_version"], limit=100)

    assert [row["客戶"] for row in first + rest] == [f"140010{number}" for number in range(5)]
    versions = [row["row_version"] for row in first + rest]
    assert versions == sorted(versions)
    assert len(set(versions)) == 5
    assert first[0]["系統上鋼瓶數量"] == "20*5+16*1"  # kept as the office writes it


async def test_a_writer_waits_for_the_one_before_so_versions_are_seen_in_commit_order(legacy: AsyncEngine) -> None:
    """Two office programs write at once: the second draws its version only after the first commits, so a
    change-capture reader that has seen version N never finds a smaller one committed later."""
    first = await legacy.connect()
    transaction = await first.begin()
    await first.execute(insert(customers).values(customer("1400201")))

    async def second_writer() -> None:
        async with legacy.begin() as connection:
            await connection.execute(insert(customers).values(customer("1400202")))

    second = asyncio.create_task(second_writer())
    async with legacy.connect() as watcher:
        waiting = text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objid = :key")
        for _ in range(int(WAIT_SECONDS / 0.05)):
            if (await watcher.execute(waiting, {"key": WRITER_LOCK})).scalar_one():
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the second writer never waited for the first")
        assert await changes_since(watcher, "customers", 0, limit=10) == []  # nothing committed yet
    await transaction.commit()
    await first.close()
    await asyncio.wait_for(second, WAIT_SECONDS)

    async with legacy.connect() as connection:
        seen = await changes_since(connection, "customers", 0, limit=10)
    assert [row["客戶"] for row in seen] == ["1400201", "1400202"]
    assert seen[0]["row_version"] < seen[1]["row_version"]


async def test_a_delivery_status_outside_the_legacy_enum_is_refused(legacy: AsyncEngine) -> None:
    with pytest.raises(Exception, match="配送紀錄_狀態"):
        async with legacy.begin() as connection:
            await connection.execute(insert(deliveries).values({"日期": 1140521, "客戶": "1400001", "狀態": "LOST"}))


def test_the_mapping_reads_every_column_the_store_holds_by_the_same_name() -> None:
    """mapping.py is pure (no SQLAlchemy), so it names the columns itself: they must be the store's."""
    assert tuple(mapping.WINDOW_COLUMNS) == legacy_store.WINDOW_COLUMNS
    assert set(mapping.CUSTOMER_PRODUCT_COLUMNS) == set(legacy_store.CUSTOMER_PRODUCT_COLUMNS)
    assert set(mapping.DELIVERY_PRODUCT_COLUMNS) == set(legacy_store.DELIVERY_PRODUCT_COLUMNS)
    assert set(mapping.DELIVERY_KG_COLUMNS) == set(legacy_store.DELIVERY_KG_COLUMNS)
    assert set(mapping.RETURN_COLUMNS) == set(legacy_store.RETURN_COLUMNS)
    assert set(mapping.STATUS_MAP) == set(legacy_store.DELIVERY_STATUSES)
