"""The legacy side of reconcile: the canonical text SQL computes from 配送紀錄 is what the mapping and the platform's
canonical form make of the same row, row type by row type; customers go through the mapping, refused rows apart."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.migration import legacy_digest
from services.migration.legacy_digest import (
    LegacyCustomerSide,
    LegacyDeliverySide,
    delivery_checksums,
    delivery_key_span,
    delivery_rows,
    mapped_delivery_text,
)
from services.migration.legacy_store import customers, deliveries
from services.migration.mapping import STATUS_MAP, MappedDelivery, map_delivery
from services.platform.canonical import RangeSummary, customer_key, digest, summarise
from services.platform.database import create_engine
from services.platform.zones import zone_names


@pytest.fixture
async def legacy(legacy_url: str) -> AsyncIterator[AsyncEngine]:
    """The legacy database, emptied, with the office's tables installed."""
    engine = create_engine(legacy_url, pool_size=4)
    async with engine.begin() as connection:
        await connection.execute(text('DROP TABLE IF EXISTS "客戶資料", "配送紀錄" CASCADE'))
    await legacy_digest.install(engine)
    yield engine
    await engine.dispose()


def delivery(key: int, **columns: object) -> dict[str, object]:
    return {"序號": key, "日期": 1140521, "客戶": "1400001", "時間": "09:30", "業務員": "王小明", **columns}


# One row of each kind the office records; each maps cleanly.
DELIVERY_ROWS = [
    *(
        delivery(index + 1, 狀態=status, **{"20公斤": 1})
        for index, status in enumerate(STATUS_MAP)  # every status, NOT_HOME and REFUSED among them
    ),
    delivery(20, **{"流量50公斤": Decimal("12.5"), "流量好運16公斤": Decimal("0.1")}),  # flow: kg off the meter
    delivery(21, **{"20公斤": 3, "好運桶20": 2, "16公斤": 1, "回收20公斤": 4, "回收16公斤": 1}),  # returns
    delivery(22, **{"50公斤": 2, "丙烷20": 1, "丙烷16": 1, "4公斤": 5, "幸福丸4": 2, "瓶安桶10": 1, "10公斤": 3}),
    delivery(23, 日期=990101, **{"好運桶16": 1, "流量20公斤": Decimal("40.0")}),  # a two-digit ROC year
    delivery(24, 客戶=" １４００００２ ", **{"20公斤": 1}),  # full-width digits and blanks (zh-TW input)
    delivery(25, 狀態="CANCELLED", **{"流量16公斤": Decimal("3.0"), "流量好運20公斤": Decimal("7.7")}),
]


async def insert_deliveries(engine: AsyncEngine, rows: list[dict[str, object]]) -> None:
    async with engine.begin() as connection:
        for row in rows:  # one by one: the rows name different columns
            await connection.execute(insert(deliveries).values(row))


async def test_sql_canonical_text_is_the_mapped_rows_canonical_text_for_every_row_type(legacy: AsyncEngine) -> None:
    await insert_deliveries(legacy, DELIVERY_ROWS)
    async with legacy.connect() as connection:
        stored = [dict(row) for row in (await connection.execute(select(deliveries))).mappings()]
        from_sql = await delivery_rows(connection, 0, 1000, 1000)

    expected = []
    for row in sorted(stored, key=lambda row: row["序號"]):
        mapped = map_delivery(row)  # type: ignore[arg-type]
        assert isinstance(mapped, MappedDelivery), mapped
        expected.append((row["序號"], mapped_delivery_text(mapped)))
    assert from_sql == expected
    assert len(from_sql) == len(DELIVERY_ROWS)


async def test_sql_renders_returns_flow_and_failure_reasons_as_the_canonical_form_says(legacy: AsyncEngine) -> None:
    await insert_deliveries(legacy, DELIVERY_ROWS)
    async with legacy.connect() as connection:
        rows = dict(await delivery_rows(connection, 0, 1000, 1000))

    not_home = 1 + list(STATUS_MAP).index("NOT_HOME")
    assert rows[not_home] == "1400001|2025-05-21|failed|not_home|cylinder-20-regular=1||"
    assert rows[20] == "1400001|2025-05-21|delivered|||flow-16-lucky=1,flow-50-regular=125|"
    assert rows[21].endswith("|16=1,20=4")
    assert rows[23].startswith("1400001|2010-01-01|")
    assert rows[24].startswith("1400002|")


RANGES = [(0, 5), (5, 21), (21, 22), (22, 1000), (1000, 2000)]


async def test_checksums_of_many_ranges_in_one_call_equal_pythons_summaries(legacy: AsyncEngine) -> None:
    await insert_deliveries(legacy, DELIVERY_ROWS)
    ranges = RANGES
    async with legacy.connect() as connection:
        every_row = await delivery_rows(connection, 0, 1000, 1000)
        sums = await delivery_checksums(connection, ranges)
        span = await delivery_key_span(connection)

    assert sums == [summarise(start, end, every_row) for start, end in ranges]
    assert sums[-1].count == 0
    assert sums[-1].digest_sum == 0
    assert sum(summary.count for summary in sums) == len(DELIVERY_ROWS)
    assert span == (1, 26)
    assert sums[2].digest_sum == digest(21, dict(every_row)[21])


async def test_the_stored_digests_follow_edits_by_any_program_and_a_changed_form_regenerates_them(
    legacy: AsyncEngine,
) -> None:
    await insert_deliveries(legacy, DELIVERY_ROWS)
    async with legacy.begin() as connection:  # as the office's system edits: plain SQL, no migration-sync code
        await connection.execute(text('UPDATE "配送紀錄" SET "20公斤" = 7, "狀態" = \'FAILED\' WHERE "序號" = 21'))
        await connection.execute(text('UPDATE "配送紀錄" SET "客戶" = \'1400009\' WHERE "序號" = 2'))
        await connection.execute(text('DELETE FROM "配送紀錄" WHERE "序號" = 3'))

    async def stored_and_live() -> tuple[list[RangeSummary], list[RangeSummary]]:
        async with legacy.connect() as connection:
            every_row = await delivery_rows(connection, 0, 1000, 1000)
            return await delivery_checksums(connection, RANGES), [summarise(s, e, every_row) for s, e in RANGES]

    stored, live = await stored_and_live()
    assert stored == live

    # A column generated with another form (an older release's) is regenerated by the next install, once.
    async with legacy.begin() as connection:
        await connection.execute(text("COMMENT ON COLUMN \"配送紀錄\".row_digest IS 'an older form'"))
    await legacy_digest.install(legacy)
    await legacy_digest.install(legacy)
    async with legacy.connect() as connection:
        comment = await connection.scalar(
            text(
                "SELECT col_description(attrelid, attnum) FROM pg_attribute"
                " WHERE attrelid = CAST('\"配送紀錄\"' AS regclass) AND attname = 'row_digest'"
            )
        )
    assert comment == legacy_digest.DIGEST_DEFINITION
    assert await stored_and_live() == (live, live)


async def test_an_empty_table_has_no_span(legacy: AsyncEngine) -> None:
    assert await LegacyDeliverySide(legacy).key_span() is None


async def test_legacy_customers_are_mapped_and_refused_rows_reported_apart(legacy: AsyncEngine) -> None:
    async with legacy.begin() as connection:
        for row in [
                {"客戶": "1400002", "客戶簡稱": "鐵花小吃", "電話": "89322123", "區域": "A-瑞光", "類型": "夜市",
                 "計價方式": "桶裝", "結帳方式": "現金", "1汽車/2機車/0全部": 1, "20KG": 5, "已解約": "V"},
                {"客戶": "1400001", "客戶簡稱": "池上便當", "電話": "89862345", "區域": "鹿野縣", "類型": "",
                 "計價方式": "流量", "結帳方式": "月結", "1汽車/2機車/0全部": 0, "50KG": 2, "平均日使用": "#DIV/0!"},
                {"客戶": "1400003", "客戶簡稱": "", "電話": "89322123", "區域": "Q", "類型": "",
                 "計價方式": "桶裝", "結帳方式": "現金", "1汽車/2機車/0全部": 0},
        ]:  # fmt: skip
            await connection.execute(insert(customers).values(row))
    side = LegacyCustomerSide(legacy, zone_names())

    rows = await side.rows(0, 10_000_000, 100)

    assert [key for key, _ in rows] == [customer_key("1400001"), customer_key("1400002")]
    assert rows[0][1].split("|")[:8] == ["1400001", "池上便當", "", "", "089862345", "", "H", "ordinary"]
    assert rows[1][1].endswith("|1")  # terminated, the last canonical field
    assert [(row.key, set(row.columns)) for row in side.rejected] == [("1400003", {"客戶簡稱", "區域"})]
    assert await side.checksum([(0, 1400002), (1400002, 10_000_000)]) == [
        summarise(0, 1400002, rows),
        summarise(1400002, 10_000_000, rows),
    ]
    assert await side.key_span() == (1400001, 1400003)
