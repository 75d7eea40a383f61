"""Reconcile finds every planted difference and nothing else: deliveries between two legacy stores (two real
databases), customers between the legacy store and the real customer service over gRPC."""

from __future__ import annotations

import unicodedata
from collections.abc import AsyncIterator

import pytest
from luckygas.customer.v1 import customer_pb2 as pb
from luckygas.customer.v1 import customer_pb2_grpc
from sqlalchemy import insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from services.local import stores
from services.migration import legacy_digest
from services.migration.customers import to_proto
from services.migration.legacy_digest import LegacyCustomerSide, LegacyDeliverySide
from services.migration.legacy_store import customers as legacy_customers
from services.migration.mapping import MappedCustomer, map_customer
from services.migration.reconcile import CustomerServiceSide, Report, naive_compare, reconcile, split_range
from services.platform.canonical import CUSTOMER_FIELDS, DELIVERY_FIELDS
from services.platform.database import Database, create_engine
from services.platform.zones import zone_names
from tests.conftest import Stores

ROWS = 3000
# Small segments and threshold, so a few thousand rows take several levels of bisection.
SMALL = {"segments": 8, "split": 4, "threshold": 16}


@pytest.fixture(scope="session")
def new_legacy_url(embedded_stores: Stores) -> str:
    """A second legacy database, standing for the new side of a delivery reconcile."""
    url = make_url(embedded_stores.database_url)
    assert url.port is not None
    stores.create_database(url.port, "legacy_store_test_other")
    return url.set(database="legacy_store_test_other").render_as_string(hide_password=False)


async def empty_store(url: str) -> AsyncEngine:
    engine = create_engine(url, pool_size=4)
    async with engine.begin() as connection:
        await connection.execute(text('DROP TABLE IF EXISTS "客戶資料", "配送紀錄" CASCADE'))
    await legacy_digest.install(engine)
    return engine


@pytest.fixture
async def two_stores(legacy_url: str, new_legacy_url: str) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    legacy, new = await empty_store(legacy_url), await empty_store(new_legacy_url)
    for engine in (legacy, new):
        await fill_deliveries(engine, ROWS)
    yield legacy, new
    await legacy.dispose()
    await new.dispose()


async def fill_deliveries(engine: AsyncEngine, count: int) -> None:
    """``count`` deliveries keyed 1…count, the same on every store: statuses, flow kg and returns among them."""
    async with engine.begin() as connection:
        await connection.execute(
            text(
                'INSERT INTO "配送紀錄" ("序號", "日期", "時間", "客戶", "狀態", "20公斤", "16公斤", "流量50公斤",'
                " \"回收20公斤\") SELECT g, 1140101 + g % 28, '09:00', lpad((1000000 + g % 500)::text, 7, '0'),"
                " (ARRAY['COMPLETED', 'FAILED', 'NOT_HOME', 'REFUSED'])[1 + g % 4], 1 + g % 3, g % 2,"
                " CASE WHEN g % 7 = 0 THEN (g % 100) / 10.0 ELSE 0 END, CASE WHEN g % 8 = 0 THEN 1 ELSE 0 END"
                " FROM generate_series(1, :count) AS g"
            ),
            {"count": count},
        )


async def plant_delivery_differences(legacy: AsyncEngine, new: AsyncEngine) -> None:
    async with new.begin() as connection:
        for statement in (
            'DELETE FROM "配送紀錄" WHERE "序號" = 100',  # missing on the new side
            'INSERT INTO "配送紀錄" ("序號", "日期", "客戶", "20公斤") VALUES (3005, 1140521, \'1000001\', 1)',  # extra
            'UPDATE "配送紀錄" SET "20公斤" = "20公斤" + 1 WHERE "序號" = 200',  # one quantity
            'UPDATE "配送紀錄" SET "狀態" = \'NOT_HOME\' WHERE "序號" = 1200',  # delivered → failed, not home
            # two rows swapping their customers
            'UPDATE "配送紀錄" SET "客戶" = CASE "序號" WHEN 401 THEN \'1000402\' ELSE \'1000401\' END'
            ' WHERE "序號" IN (401, 402)',
            # not differences once mapped: blanks around a code, the time of day (no canonical field)
            'UPDATE "配送紀錄" SET "客戶" = "客戶" || \' \' WHERE "序號" = 500',
            'UPDATE "配送紀錄" SET "時間" = \'17:45\' WHERE "序號" = 600',
        ):
            await connection.execute(text(statement))
    async with legacy.begin() as connection:
        await connection.execute(text('DELETE FROM "配送紀錄" WHERE "序號" = 2999'))  # missing on the legacy side


def delivery_expectation(report: Report) -> None:
    assert report.only_in_legacy == [100]
    assert report.only_in_new == [2999, 3005]
    assert {difference.key: difference.fields for difference in report.different} == {
        200: {"items": ("cylinder-20-regular=3", "cylinder-20-regular=4")},
        401: {"customer_code": ("1000401", "1000402")},
        402: {"customer_code": ("1000402", "1000401")},
        1200: {"status": ("delivered", "failed"), "failure_reason": ("", "not_home")},
    }


async def test_every_planted_delivery_difference_is_found_and_nothing_else(
    two_stores: tuple[AsyncEngine, AsyncEngine],
) -> None:
    legacy, new = two_stores
    await plant_delivery_differences(legacy, new)

    report = await reconcile(LegacyDeliverySide(legacy), LegacyDeliverySide(new), DELIVERY_FIELDS, **SMALL)

    delivery_expectation(report)
    assert report.statistics.levels > 2
    assert report.statistics.checksum_calls == 2 * report.statistics.levels
    assert report.statistics.rows_fetched < ROWS  # only the segments around the differences were read


async def test_the_naive_compare_reports_the_same_reading_every_row(
    two_stores: tuple[AsyncEngine, AsyncEngine],
) -> None:
    legacy, new = two_stores
    await plant_delivery_differences(legacy, new)

    report = await naive_compare(LegacyDeliverySide(legacy), LegacyDeliverySide(new), DELIVERY_FIELDS, page=700)

    delivery_expectation(report)
    assert report.statistics.rows_fetched == 2 * ROWS - 1  # every row of both sides: one deleted, one added


async def test_identical_sides_report_nothing(two_stores: tuple[AsyncEngine, AsyncEngine]) -> None:
    legacy, new = two_stores

    report = await reconcile(LegacyDeliverySide(legacy), LegacyDeliverySide(new), DELIVERY_FIELDS, **SMALL)

    assert report.clean
    assert report.statistics.levels == 1
    assert report.statistics.rows_fetched == 0


async def test_refused_rows_spread_over_the_table_are_left_out_and_cost_no_fetch(
    two_stores: tuple[AsyncEngine, AsyncEngine],
) -> None:
    legacy, new = two_stores
    refused = list(range(7, ROWS, 97))  # in every segment, on the legacy side only, as the backfill leaves them
    async with new.begin() as connection:
        await connection.execute(text('DELETE FROM "配送紀錄" WHERE "序號" = ANY(:keys)'), {"keys": refused})
    await plant_delivery_differences(legacy, new)
    excluded = [*refused, 999_999]  # a refused row deleted from legacy since is simply not there
    legacy_side = LegacyDeliverySide(legacy, excluded)

    report = await reconcile(legacy_side, LegacyDeliverySide(new), DELIVERY_FIELDS, **SMALL)

    delivery_expectation(report)
    assert await legacy_side.excluded_rows() == len(refused)
    unexcluded = await reconcile(LegacyDeliverySide(legacy), LegacyDeliverySide(new), DELIVERY_FIELDS, **SMALL)
    assert set(unexcluded.only_in_legacy) == {100, *refused}
    assert report.statistics.rows_fetched < unexcluded.statistics.rows_fetched / 2


async def test_a_side_with_no_rows_has_every_row_of_the_other_only_on_its_side(
    two_stores: tuple[AsyncEngine, AsyncEngine],
) -> None:
    legacy, new = two_stores
    async with new.begin() as connection:
        await connection.execute(text('DELETE FROM "配送紀錄"'))

    report = await reconcile(LegacyDeliverySide(legacy), LegacyDeliverySide(new), DELIVERY_FIELDS, **SMALL)

    assert report.only_in_legacy == list(range(1, ROWS + 1))
    assert report.only_in_new == []


def test_a_range_splits_into_consecutive_non_empty_parts() -> None:
    assert split_range(0, 10, 4) == [(0, 2), (2, 5), (5, 7), (7, 10)]
    assert split_range(5, 7, 16) == [(5, 6), (6, 7)]


# ---------------------------------------------------------------- customers: legacy store vs the customer service


def legacy_customer(code: str, name: str, **columns: object) -> dict[str, object]:
    return {
        "客戶": code, "客戶簡稱": name, "電話": "89322123", "地址": "台東市新生路135巷26號", "區域": "A-瑞光",
        "類型": "夜市", "計價方式": "桶裝", "結帳方式": "現金", "1汽車/2機車/0全部": 1, "20KG": 3, "8~9": 1,
        "最大週期": "11", "可延後天數": "6", "平均日使用": "4.6", **columns,
    }  # fmt: skip


NAMES = ["鐵花小吃", "池上便當", "都蘭咖啡", "知本溫泉", "成功漁港", "鹿野茶園", "關山米店", "太麻里"]
CAFE = "Café 小吃"  # é precomposed (NFC); the legacy sheet below holds it decomposed (NFD)


@pytest.fixture
async def legacy(legacy_url: str) -> AsyncIterator[AsyncEngine]:
    engine = await empty_store(legacy_url)
    yield engine
    await engine.dispose()


async def copy_customers(
    legacy: AsyncEngine, customers: customer_pb2_grpc.CustomerServiceStub, rows: list[dict[str, object]]
) -> dict[str, str]:
    """Write ``rows`` to the legacy store and each one the mapping takes to the customer service; code → id."""
    ids = {}
    async with legacy.begin() as connection:
        for row in rows:
            await connection.execute(insert(legacy_customers).values(row))
    for row in rows:
        mapped = map_customer(row, zone_names())  # type: ignore[arg-type]
        if isinstance(mapped, MappedCustomer):
            created = await customers.CreateCustomer(pb.CreateCustomerRequest(customer=to_proto(mapped.fields)))
            ids[mapped.fields.code] = created.id
            if mapped.terminated:
                await customers.TerminateCustomer(pb.TerminateCustomerRequest(id=created.id))
    return ids


async def rename(customers: customer_pb2_grpc.CustomerServiceStub, customer_id: str, name: str) -> None:
    current = await customers.GetCustomer(pb.GetCustomerRequest(id=customer_id))
    await customers.UpdateCustomer(
        pb.UpdateCustomerRequest(
            id=customer_id,
            expected_version=current.version,
            customer=pb.CustomerFields(short_name=name),
            update_mask={"paths": ["short_name"]},
        )
    )


async def test_every_planted_customer_difference_is_found_and_nothing_else(
    legacy: AsyncEngine, customers: customer_pb2_grpc.CustomerServiceStub, database: Database
) -> None:
    rows = [legacy_customer(f"{1500001 + index}", name) for index, name in enumerate(NAMES)]
    rows.append(legacy_customer("1500020", "已解約店", 已解約="V"))
    rows.append(legacy_customer("1500030", "打錯區域", 區域="Q"))  # refused by the mapping: reported apart
    ids = await copy_customers(legacy, customers, rows)
    # The Café: NFC on the new side, NFD in the legacy sheet.
    ids |= await copy_customers(legacy, customers, [legacy_customer("1500040", CAFE)])
    async with legacy.begin() as connection:
        await connection.execute(
            legacy_customers.update()
            .where(legacy_customers.c["客戶"] == "1500040")
            .values({"客戶簡稱": unicodedata.normalize("NFD", CAFE)})
        )
    # Missing on the new side: in the legacy sheet only.
    async with legacy.begin() as connection:
        await connection.execute(insert(legacy_customers).values(legacy_customer("1500050", "只在舊系統")))
    # Extra: created in the new platform only.
    extra = map_customer(legacy_customer("1500060", "只在新平台"), zone_names())  # type: ignore[arg-type]
    assert isinstance(extra, MappedCustomer)
    await customers.CreateCustomer(pb.CreateCustomerRequest(customer=to_proto(extra.fields)))
    # A changed field, two names swapped, and a trailing space written past the service's validation.
    current = await customers.GetCustomer(pb.GetCustomerRequest(id=ids["1500003"]))
    await customers.UpdateCustomer(
        pb.UpdateCustomerRequest(
            id=ids["1500003"], expected_version=current.version, customer=pb.CustomerFields(slip_days=9),
            update_mask={"paths": ["slip_days"]},
        )
    )  # fmt: skip
    await rename(customers, ids["1500005"], NAMES[5])
    await rename(customers, ids["1500006"], NAMES[4])
    async with database.session() as session:
        await session.execute(
            text("UPDATE customer.customers SET short_name = short_name || ' ' WHERE code = '1500007'")
        )
    legacy_side = LegacyCustomerSide(legacy, zone_names())

    report = await reconcile(
        legacy_side, CustomerServiceSide(customers), CUSTOMER_FIELDS, segments=8, split=8, threshold=2
    )

    assert report.only_in_legacy == [1500050]
    assert report.only_in_new == [1500060]
    assert {difference.key: difference.fields for difference in report.different} == {
        1500003: {"slip_days": ("6", "9")},
        1500005: {"short_name": (NAMES[4], NAMES[5])},
        1500006: {"short_name": (NAMES[5], NAMES[4])},
        1500007: {"short_name": (NAMES[6], NAMES[6] + " ")},
        1500040: {"short_name": (unicodedata.normalize("NFD", CAFE), CAFE)},
    }
    assert [(row.key, row.columns) for row in legacy_side.rejected] == [("1500030", ("區域",))]
    naive = await naive_compare(legacy_side, CustomerServiceSide(customers), CUSTOMER_FIELDS)
    assert (naive.only_in_legacy, naive.only_in_new, naive.different) == (
        report.only_in_legacy,
        report.only_in_new,
        report.different,
    )


async def test_customers_copied_through_the_mapping_reconcile_clean(
    legacy: AsyncEngine, customers: customer_pb2_grpc.CustomerServiceStub
) -> None:
    rows = [legacy_customer(f"{1600001 + index}", name) for index, name in enumerate(NAMES)]
    rows += [
        legacy_customer("1600100", "流量客戶", 計價方式="流量", 結帳方式="月結", **{"50KG": 2, "20KG": 0}),
        legacy_customer("1600101", "沒有時段", **{"8~9": 0}, 平均日使用="#DIV/0!", 訂閱式會員="V", 發報="V"),
        legacy_customer("1600102", "已解約", 已解約="V", 公休日="7", 時段早1午2晚3全天0=2),
    ]
    await copy_customers(legacy, customers, rows)

    report = await reconcile(LegacyCustomerSide(legacy, zone_names()), CustomerServiceSide(customers), CUSTOMER_FIELDS)

    assert report.clean, report
