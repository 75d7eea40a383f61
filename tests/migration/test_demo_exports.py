"""The demo's legacy exports: the customer service's demo customers in the office's conventions, two years of history,
the same bytes every time, each kind of dirty row present and refused where it should be, and the seed idempotent."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from services.local import stores
from services.migration import demo_exports, legacy_store
from services.migration.demo_exports import (
    CUSTOMER_DIRTY_KINDS,
    CUSTOMER_HEADERS,
    CUSTOMER_LOADER_REFUSES,
    CUSTOMER_MAPPING_REFUSES,
    DELIVERY_DIRTY_SHARES,
    DELIVERY_HEADERS,
    DELIVERY_LOADER_REFUSES,
    DELIVERY_MAPPING_REFUSES,
    customer_sheet,
    delivery_history,
    write_exports,
)
from services.migration.legacy_load import load_file, roc_number
from services.migration.mapping import (
    LegacyCustomerRow,
    LegacyDeliveryRow,
    MappedCustomer,
    MappedDelivery,
    RejectedRow,
    map_customer,
    map_delivery,
)
from services.platform.canonical import CUSTOMER_FIELDS, customer_values
from services.platform.database import create_engine
from services.platform.demo_customers import DEFAULT_COUNT, DEMO_SEED, generate_customers
from services.platform.taiwan import date_to_roc
from services.platform.zones import zone_names
from tests.conftest import Stores

TODAY = date(2026, 5, 1)
SMALL = 60


@pytest.fixture(scope="session")
def demo_legacy_url(embedded_stores: Stores) -> str:
    url = make_url(embedded_stores.database_url)
    assert url.port is not None
    stores.create_database(url.port, "legacy_demo_test")
    return url.set(database="legacy_demo_test").render_as_string(hide_password=False)


@pytest.fixture
async def legacy(demo_legacy_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(demo_legacy_url, pool_size=4)
    async with engine.begin() as connection:
        await connection.execute(text('DROP TABLE IF EXISTS "客戶資料", "配送紀錄", legacy_imports CASCADE'))
    await legacy_store.install(engine)
    yield engine
    await engine.dispose()


def as_customer_row(cells: list[object]) -> LegacyCustomerRow:
    return dict(zip(CUSTOMER_HEADERS, cells, strict=True))  # type: ignore[return-value]


def canonical(record: dict[str, object]) -> dict[str, str]:
    return customer_values({name: record.get(name) for name in CUSTOMER_FIELDS})


def test_the_same_seed_count_and_day_give_the_same_bytes(tmp_path: Path) -> None:
    first = write_exports(tmp_path / "one", DEMO_SEED, SMALL, TODAY)
    second = write_exports(tmp_path / "two", DEMO_SEED, SMALL, TODAY)

    assert first.customers.read_bytes() == second.customers.read_bytes()
    assert first.deliveries.read_bytes() == second.deliveries.read_bytes()
    assert first.version == second.version == f"v{demo_exports.GENERATOR_VERSION}-{DEMO_SEED}-{SMALL}-20260501"
    other_day = write_exports(tmp_path / "one", DEMO_SEED, SMALL, date(2026, 5, 2))
    assert other_day.deliveries.read_bytes() != first.deliveries.read_bytes()
    assert other_day.customers.read_bytes() == first.customers.read_bytes()  # the list has no dates


def test_written_files_are_reused_while_the_version_is_the_same(tmp_path: Path) -> None:
    first = write_exports(tmp_path, DEMO_SEED, SMALL, TODAY)
    written = first.deliveries.stat().st_mtime_ns

    assert write_exports(tmp_path, DEMO_SEED, SMALL, TODAY) == first
    assert first.deliveries.stat().st_mtime_ns == written


def test_every_clean_row_maps_back_to_exactly_the_customer_service_demo_customer() -> None:
    sheet = customer_sheet(DEMO_SEED, DEFAULT_COUNT)
    demo = {customer.code: customer for customer in generate_customers(DEMO_SEED, DEFAULT_COUNT)}
    dirty_rows = {row for rows in sheet.dirty.values() for row in rows}
    zones = zone_names()

    clean = [cells for number, cells in enumerate(sheet.rows, start=2) if number not in dirty_rows]

    assert sorted(str(cells[0]) for cells in clean) == sorted(demo)
    for cells in clean:
        mapped = map_customer(as_customer_row(cells), zones)
        assert isinstance(mapped, MappedCustomer), mapped
        expected = {**vars(demo[mapped.fields.code]), "terminated": False}
        assert canonical({**vars(mapped.fields), "terminated": mapped.terminated}) == canonical(expected)


def test_the_sheet_writes_the_office_conventions() -> None:
    sheet = customer_sheet(DEMO_SEED, SMALL)
    rows = [dict(zip(CUSTOMER_HEADERS, cells, strict=True)) for cells in sheet.rows]

    phones = [str(row["電話"]) for row in rows if row["電話"] is not None]
    assert all(not phone.startswith("0") for phone in phones)
    assert any(isinstance(row["電話"], int) for row in rows)  # a lone number is a number cell, as Excel keeps it
    assert all(row["區域"] is None or "-" in str(row["區域"]) for row in rows)
    assert {row["訂閱式會員"] for row in rows} <= {"V", None}
    assert all(row[column] in (0, 1, "V") for row in rows for column in legacy_store.WINDOW_COLUMNS)
    assert any("*" in str(row["系統上鋼瓶數量"]) for row in rows)


def test_each_dirty_kind_is_present_about_3_percent_of_customers_and_2_percent_of_history() -> None:
    sheet = customer_sheet(DEMO_SEED, DEFAULT_COUNT)
    history = delivery_history(DEMO_SEED, DEFAULT_COUNT, TODAY)

    assert set(sheet.dirty) == set(CUSTOMER_DIRTY_KINDS)
    dirty_customers = sum(map(len, sheet.dirty.values()))
    assert 0.02 <= dirty_customers / len(sheet.rows) <= 0.04
    assert set(history.dirty) == set(DELIVERY_DIRTY_SHARES)
    dirty_deliveries = sum(map(len, history.dirty.values()))
    assert 0.01 <= dirty_deliveries / len(history.rows) <= 0.03
    assert 140_000 <= len(history.rows) <= 170_000


def test_the_history_spans_two_years_to_today_with_legacy_statuses_late_ones_only_lately() -> None:
    history = delivery_history(DEMO_SEED, 200, TODAY)
    dirty = {row for rows in history.dirty.values() for row in rows}
    clean = [row for number, row in enumerate(history.rows, start=2) if number not in dirty]
    status_at, date_at = DELIVERY_HEADERS.index("狀態"), DELIVERY_HEADERS.index("日期")

    days = [roc_number(row[date_at]) for row in clean]
    assert max(days) == date_to_roc(TODAY)
    assert min(days) >= date_to_roc(date(2024, 5, 1))
    statuses = Counter(row[status_at] for row in clean)
    assert statuses["COMPLETED"] / len(clean) > 0.9
    assert {"FAILED", "NOT_HOME", "REFUSED", "CANCELLED", "PENDING", "ASSIGNED"} <= set(statuses)
    late = {row[status_at] for row in clean if roc_number(row[date_at]) < date_to_roc(date(2026, 4, 30))}
    assert not late & {"PENDING", "ASSIGNED", "IN_PROGRESS"}
    assert any(len(row[date_at]) == 5 for row in clean)  # a few Excel serials


def test_the_history_follows_each_customers_products_and_maps_whole() -> None:
    customers = {customer.code: customer for customer in generate_customers(DEMO_SEED, 100)}
    history = delivery_history(DEMO_SEED, 100, TODAY)
    dirty = {row for rows in history.dirty.values() for row in rows}

    for number, cells in enumerate(history.rows, start=2):
        if number in dirty:
            continue
        row: LegacyDeliveryRow = dict(zip(DELIVERY_HEADERS, cells, strict=True))  # type: ignore[assignment]
        mapped = map_delivery(row, customers)
        assert isinstance(mapped, MappedDelivery), (number, mapped)
        customer = customers[mapped.customer_code]
        if customer.pricing_method == "flow":
            assert not mapped.items
            assert set(mapped.metered_kg) <= set(customer.cylinders)
        else:
            assert set(mapped.items) == set(customer.cylinders)
            if mapped.status == "delivered":
                assert sum(mapped.empties.values()) >= sum(mapped.items.values()) - len(mapped.items)


async def test_dirty_rows_are_refused_by_the_loader_or_the_mapping_as_their_kind_says(
    legacy: AsyncEngine, tmp_path: Path
) -> None:
    exports = write_exports(tmp_path, DEMO_SEED, SMALL, TODAY)
    sheet = customer_sheet(DEMO_SEED, SMALL)
    history = delivery_history(DEMO_SEED, SMALL, TODAY)

    customer_report = await load_file(legacy, exports.customers)
    delivery_report = await load_file(legacy, exports.deliveries)

    refused = {refusal.row for refusal in customer_report.refused}
    assert refused == {row for kind in CUSTOMER_LOADER_REFUSES for row in sheet.dirty[kind]}
    assert customer_report.loaded == len(sheet.rows) - len(refused)
    refused = {refusal.row for refusal in delivery_report.refused}
    assert refused == {row for kind in DELIVERY_LOADER_REFUSES for row in history.dirty[kind]}
    assert delivery_report.loaded == len(history.rows) - len(refused)

    async with legacy.connect() as connection:
        loaded_customers = (await connection.execute(select(legacy_store.customers))).mappings().all()
        loaded_deliveries = (await connection.execute(select(legacy_store.deliveries))).mappings().all()
    zones = zone_names()
    mapped = {str(row["客戶"]): map_customer(dict(row), zones) for row in loaded_customers}  # type: ignore[arg-type]
    rejected = {code for code, result in mapped.items() if isinstance(result, RejectedRow)}
    by_code = {str(cells[0]): number for number, cells in enumerate(sheet.rows, start=2)}
    assert {by_code[code] for code in rejected} == {
        row for kind in CUSTOMER_MAPPING_REFUSES for row in sheet.dirty[kind]
    }
    # The rows that load and map: the clean ones (the demo customers, equal to the customer service's) and #DIV/0!
    # (no history yet: 0 kg a day) and the zone typo (鹿野縣 read as H).
    demo = {customer.code: customer for customer in generate_customers(DEMO_SEED, SMALL)}
    for code, customer in demo.items():
        result = mapped[code]
        assert isinstance(result, MappedCustomer)
        expected = canonical({**vars(customer), "terminated": False})
        assert canonical({**vars(result.fields), "terminated": result.terminated}) == expected
    for kind, zone in (("division_by_zero", None), ("zone_typo", "H")):
        for row in sheet.dirty[kind]:
            result = mapped[str(sheet.rows[row - 2][0])]
            assert isinstance(result, MappedCustomer)
            assert zone is None or result.fields.zone == zone
            assert zone is not None or result.fields.consumption_kg_per_day == 0.0

    known = set(mapped)
    outcomes = [map_delivery(dict(row), known) for row in loaded_deliveries]  # type: ignore[arg-type]
    reasons = Counter(
        problem.column for outcome in outcomes if isinstance(outcome, RejectedRow) for problem in outcome.problems
    )
    expected_rejections = sum(len(history.dirty[kind]) for kind in DELIVERY_MAPPING_REFUSES)
    assert sum(isinstance(outcome, RejectedRow) for outcome in outcomes) == expected_rejections
    assert {"客戶", "數量", "回收20公斤"} <= set(reasons)


async def test_the_seed_loads_once_and_a_rerun_adds_nothing(
    demo_legacy_url: str, legacy: AsyncEngine, tmp_path: Path
) -> None:
    first = await demo_exports.seed_demo(demo_legacy_url, "demo", tmp_path, SMALL, TODAY)
    again = await demo_exports.seed_demo(demo_legacy_url, "demo", tmp_path, SMALL, TODAY)
    next_day = await demo_exports.seed_demo(demo_legacy_url, "demo", tmp_path, SMALL, date(2026, 5, 2))

    assert first.startswith("legacy demo: ")
    assert len(first) < 100
    assert again == next_day == "legacy demo: 0 customers, 0 deliveries loaded, 0 rows refused"
    async with legacy.connect() as connection:
        imports = (await connection.execute(select(func.count()).select_from(legacy_store.imports))).scalar_one()
    assert imports == 2


async def test_the_full_demo_is_written_and_loaded_in_well_under_a_minute(
    demo_legacy_url: str, legacy: AsyncEngine, tmp_path: Path
) -> None:
    started = time.monotonic()
    summary = await demo_exports.seed_demo(demo_legacy_url, "demo", tmp_path, DEFAULT_COUNT, TODAY)
    took = time.monotonic() - started

    async with legacy.connect() as connection:
        customers = (await connection.execute(select(func.count()).select_from(legacy_store.customers))).scalar_one()
        deliveries = (await connection.execute(select(func.count()).select_from(legacy_store.deliveries))).scalar_one()
    assert customers > DEFAULT_COUNT
    assert deliveries > 140_000
    assert f"{customers} customers, {deliveries} deliveries loaded" in summary
    assert took < 60, took
