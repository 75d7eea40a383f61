"""Loading the office's exports into the legacy store: .xlsx and Big5 CSV, every row loaded or refused by row,
column, value and reason, a file loaded whole or not at all, and never twice."""

from __future__ import annotations

import csv
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.migration import legacy_store
from services.migration.legacy_load import Refusal, load_file
from services.migration.legacy_store import customers, deliveries
from services.platform.database import create_engine
from services.platform.errors import InvalidArgument

CUSTOMER_HEADERS = [
    "客戶",
    "客戶簡稱",
    "電話",
    "統一編號",
    "系統上鋼瓶數量",
    "20KG",
    "8~9",
    "區域",
    "平均日使用",
    "已解約",
]
DELIVERY_HEADERS = ["日期", "時間", "業務員", "客戶", "20公斤", "流量20公斤", "回收20公斤", "狀態"]


@pytest.fixture
async def legacy(legacy_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(legacy_url, pool_size=4)
    async with engine.begin() as connection:
        await connection.execute(text('DROP TABLE IF EXISTS "客戶資料", "配送紀錄", legacy_imports CASCADE'))
    await legacy_store.install(engine)
    yield engine
    await engine.dispose()


def workbook(path: Path, headers: list[str], rows: list[list[object]], sheet: str = "客戶資料") -> Path:
    book = Workbook()
    page = book.active
    assert page is not None
    page.title = sheet
    page.append(headers)
    for row in rows:
        page.append(row)
    book.save(path)
    return path


def big5_csv(path: Path, headers: list[str], rows: list[list[object]]) -> Path:
    with path.open("w", encoding="cp950", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(headers)
        writer.writerows(rows)
    return path


async def count(engine: AsyncEngine, table: object) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(select(func.count()).select_from(table))).scalar_one())  # type: ignore[arg-type]


async def test_a_customer_workbook_loads_as_the_office_wrote_it_and_refuses_what_the_table_cannot_hold(
    legacy: AsyncEngine, tmp_path: Path
) -> None:
    path = workbook(
        tmp_path / "客戶資料.xlsx",
        CUSTOMER_HEADERS,
        [
            ["1400001", "鐵花小吃", 89322123, "0459 5257", "20*5+16*1", 5, 1, "A-瑞光", "#DIV/0!", None],
            ["1400002", "阿雄海產", 912345678, None, "20*2", "two", 0, "鹿野縣", 2.5, "V"],
            [None, "沒有代號", 89111111, None, None, None, None, "A-瑞光", None, None],
            ["1400001", "重複的", 89322124, None, None, None, None, "A-瑞光", None, None],
            [None, None, None, None, None, None, None, None, None, None],  # an empty row Excel kept: not a row
        ],
    )

    report = await load_file(legacy, path)

    assert (report.table, report.rows, report.loaded) == ("客戶資料", 4, 1)
    assert report.refused == [
        Refusal(3, "20KG", "two", "must be a whole number"),
        Refusal(4, "客戶", "", "the customer code is blank"),
        Refusal(5, "客戶", "1400001", "duplicate customer code (first on row 2)"),
    ]
    async with legacy.connect() as connection:
        row = (await connection.execute(select(customers))).mappings().one()
    assert (row["客戶"], row["電話"], row["統一編號"], row["系統上鋼瓶數量"]) == (
        "1400001",
        "89322123",
        "0459 5257",
        "20*5+16*1",
    )
    assert (row["20KG"], row["8~9"], row["平均日使用"], row["區域"]) == (5, 1, "#DIV/0!", "A-瑞光")
    assert row["row_version"] > 0


async def test_a_big5_delivery_export_takes_roc_dates_and_excel_serials(legacy: AsyncEngine, tmp_path: Path) -> None:
    path = big5_csv(
        tmp_path / "配送紀錄.csv",
        DELIVERY_HEADERS,
        [
            [1140521, "09:30", "王小明", "1400001", 2, 0, 2, "COMPLETED"],
            [45799, "10:00", "王小明", "1400001", 0, 18.5, 0, ""],
            [1140523, "11:00", "陳大華", "1400002", 1, 0, 1, "LOST"],
            ["明天", "11:00", "陳大華", "1400002", 1, 0, 1, "COMPLETED"],
            [1140524, "11:00", "陳大華", "", 1, 0, 1, "NOT_HOME"],
        ],
    )

    report = await load_file(legacy, path)

    assert (report.table, report.rows, report.loaded, report.refused_rows) == ("配送紀錄", 5, 2, 3)
    assert {(refusal.row, refusal.column) for refusal in report.refused} == {(4, "狀態"), (5, "日期"), (6, "客戶")}
    assert next(r for r in report.refused if r.column == "狀態").value == "LOST"
    async with legacy.connect() as connection:
        rows = (await connection.execute(select(deliveries).order_by(deliveries.c["序號"]))).mappings().all()
    assert [row["日期"] for row in rows] == [1140521, 1140522]  # the serial 45799 is 2025-05-22
    assert [row["狀態"] for row in rows] == ["COMPLETED", "COMPLETED"]  # a blank status is the table's default
    assert float(rows[1]["流量20公斤"]) == 18.5
    assert rows[0]["業務員"] == "王小明"  # Big5 read back as the office wrote it


async def test_the_same_file_twice_is_refused_whole_and_adds_nothing(legacy: AsyncEngine, tmp_path: Path) -> None:
    path = big5_csv(tmp_path / "history.csv", DELIVERY_HEADERS, [[1140521, "09:30", "王小明", "1400001", 2, 0, 2, ""]])
    await load_file(legacy, path)

    with pytest.raises(InvalidArgument, match="the same file was loaded"):
        await load_file(legacy, path)

    assert await count(legacy, deliveries) == 1


async def test_a_customer_already_in_the_store_is_reported_not_loaded_again(
    legacy: AsyncEngine, tmp_path: Path
) -> None:
    first = workbook(tmp_path / "a.xlsx", CUSTOMER_HEADERS[:2], [["1400001", "鐵花小吃"]])
    second = workbook(tmp_path / "b.xlsx", CUSTOMER_HEADERS[:2], [["1400001", "鐵花小吃(新)"], ["1400003", "新客戶"]])
    await load_file(legacy, first)

    report = await load_file(legacy, second)

    assert report.loaded == 1
    assert [(r.row, r.column, r.reason) for r in report.refused] == [(2, "客戶", "already in the legacy store")]
    assert await count(legacy, customers) == 2


async def test_a_file_that_is_neither_sheet_is_refused_naming_what_was_expected(
    tmp_path: Path, legacy: AsyncEngine
) -> None:
    with pytest.raises(InvalidArgument, match="客戶簡稱"):
        await load_file(legacy, big5_csv(tmp_path / "x.csv", ["甲", "乙"], [[1, 2]]))
    with pytest.raises(InvalidArgument, match=r"\.xlsx workbook or a Big5 \.csv"):
        await load_file(legacy, tmp_path / "plan.ods")
