"""Filling the legacy store from the office's exports: ``.xlsx`` (openpyxl) and Big5 (cp950) ``.csv``.

A sheet is the customer list when it has 客戶簡稱, the delivery history when it has 日期. Every row is either
loaded or refused with its row number, column, value and reason; the loadable rows go in together in one
transaction, so a file is never half-loaded, and a file already loaded (the same bytes) is refused whole, so
loading twice adds nothing. The values are kept as the office writes them (the mapping to the platform's
records is mapping.py's job): only what the legacy tables cannot hold is refused here.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from openpyxl import load_workbook
from sqlalchemy import Integer, Numeric, SmallInteger, Table, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.migration.legacy_store import DELIVERY_STATUSES, ROW_VERSION, customers, deliveries, imports
from services.platform.errors import InvalidArgument
from services.platform.taiwan import excel_serial_to_date

CUSTOMER_SHEET = "客戶資料"
CSV_ENCODING = "cp950"  # Big5 with Microsoft's additions, as the office's old exports are written
# Excel serials of 1930-2100; a 6- or 7-digit number is an ROC date (1140521).
SERIAL_RANGE = range(10_959, 73_051)


@dataclass(frozen=True)
class Refusal:
    row: int
    column: str
    value: str
    reason: str


@dataclass
class LoadReport:
    file: str
    table: str
    rows: int = 0
    loaded: int = 0
    refused: list[Refusal] = field(default_factory=list)

    @property
    def refused_rows(self) -> int:
        return len({refusal.row for refusal in self.refused})


def read_sheet(path: Path) -> tuple[list[str], Iterator[tuple[int, list[Any]]]]:
    """The sheet's column names and its rows, each with its row number as the office sees it (the header is 1)."""
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        workbook = load_workbook(path, read_only=True, data_only=True)
        try:  # a read-only workbook keeps its file open until closed
            sheet = workbook[CUSTOMER_SHEET] if CUSTOMER_SHEET in workbook.sheetnames else workbook.worksheets[0]
            cells = [list(row) for row in sheet.iter_rows(values_only=True)]
        finally:
            workbook.close()
        headers = [str(cell).strip() if cell is not None else "" for cell in (cells[0] if cells else [])]
        return headers, ((number, row) for number, row in enumerate(cells[1:], start=2))
    if suffix == ".csv":
        with path.open(encoding=CSV_ENCODING, newline="") as file:
            lines = list(csv.reader(file))
        headers = [cell.strip() for cell in (lines[0] if lines else [])]
        return headers, ((number, list(cells)) for number, cells in enumerate(lines[1:], start=2))
    raise InvalidArgument.for_field("file", f"{path.name}: an .xlsx workbook or a Big5 .csv export is expected")


def table_of(path: Path, headers: list[str]) -> Table:
    if "客戶簡稱" in headers:
        return customers
    if "日期" in headers:
        return deliveries
    raise InvalidArgument.for_field(
        "file", f"{path.name}: neither the customer list (客戶簡稱) nor the delivery history (日期) by its headers"
    )


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _whole(value: Any) -> int:
    try:
        number = Decimal(str(value).strip().replace(",", ""))
    except InvalidOperation as error:
        raise ValueError("must be a whole number") from error
    if not number.is_finite() or number != number.to_integral_value():
        raise ValueError("must be a whole number")
    return int(number)


def roc_number(value: Any) -> int:
    """A delivery's date as the legacy table keeps it (ROC, 1140521) from an ROC number, an Excel serial or an
    Excel date cell."""
    if isinstance(value, datetime | date):
        moment = value.date() if isinstance(value, datetime) else value
    else:
        number = _whole(value)
        if number in SERIAL_RANGE:
            moment = excel_serial_to_date(number)
        elif 100_000 <= number <= 9_991_231:
            return number
        else:
            raise ValueError("must be an ROC date (1140521) or an Excel date serial (45799)")
    return (moment.year - 1911) * 10_000 + moment.month * 100 + moment.day


def _cell(table: Table, column: str, value: Any) -> Any:
    """``value`` as the legacy column holds it; ValueError with the reason when it cannot."""
    if table is deliveries and column == "日期":
        return roc_number(value)
    if table is deliveries and column == "狀態":
        status = str(value).strip().upper()
        if status not in DELIVERY_STATUSES:
            raise ValueError(f"must be one of {', '.join(DELIVERY_STATUSES)}")
        return status
    kind = table.c[column].type
    if isinstance(kind, Integer | SmallInteger):
        return _whole(value)
    if isinstance(kind, Numeric):
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation as error:
            raise ValueError("must be a number") from error
        if not number.is_finite() or abs(number) >= 10_000_000:
            raise ValueError("must be a number of kg below 10,000,000")
        return number
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a phone or a code Excel stored as a number
    return str(value).strip()


def row_values(table: Table, headers: list[str], cells: list[Any]) -> tuple[dict[str, Any], list[tuple[str, str, str]]]:
    """The row's values by legacy column, and each (column, value, reason) the table cannot hold."""
    values: dict[str, Any] = {}
    problems: list[tuple[str, str, str]] = []
    for column, value in zip(headers, cells, strict=False):
        if column not in table.c or column in (ROW_VERSION, "序號") or _blank(value):
            continue  # a blank cell takes the column's default; other columns are not the office's table's
        try:
            values[column] = _cell(table, column, value)
        except (ValueError, InvalidOperation, InvalidArgument) as error:
            problems.append((column, str(value), str(error).split(": ", 1)[-1]))
    if table is customers and "客戶" not in values and not any(column == "客戶" for column, _, _ in problems):
        problems.append(("客戶", "", "the customer code is blank"))
    if table is deliveries:
        for column in ("日期", "客戶"):
            if column not in values and not any(found == column for found, _, _ in problems):
                problems.append((column, "", "is blank"))
    return values, problems


@dataclass
class Prepared:
    """An export read and checked, before anything is written: its digest, table, the rows the legacy table can
    take (with the row each customer code was first seen on) and the report so far."""

    digest: str
    table: Table
    report: LoadReport
    accepted: list[dict[str, Any]]
    first_row_of: dict[str, int]


def prepare(path: Path) -> Prepared:
    """Read and check one export (blocking: files and openpyxl); nothing is written."""
    headers, rows = read_sheet(path)
    table = table_of(path, headers)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    report = LoadReport(path.name, table.name)
    accepted: list[dict[str, Any]] = []
    first_row_of: dict[str, int] = {}
    for number, cells in rows:
        if all(_blank(cell) for cell in cells):
            continue
        report.rows += 1
        values, problems = row_values(table, headers, cells)
        if table is customers and "客戶" in values:
            code = values["客戶"]
            if code in first_row_of:
                problems.append(("客戶", code, f"duplicate customer code (first on row {first_row_of[code]})"))
            first_row_of.setdefault(code, number)
        if problems:
            report.refused += [Refusal(number, column, value, reason) for column, value, reason in problems]
        else:
            accepted.append(values)
    return Prepared(digest, table, report, accepted, first_row_of)


async def load_file(engine: AsyncEngine, path: Path) -> LoadReport:
    """Load one export into the legacy store; what was loaded and every refusal."""
    prepared = await asyncio.to_thread(prepare, path)
    digest, table, report, accepted = prepared.digest, prepared.table, prepared.report, prepared.accepted
    first_row_of = prepared.first_row_of
    async with engine.begin() as connection:
        earlier = (await connection.execute(select(imports).where(imports.c.sha256 == digest))).mappings().first()
        if earlier is not None:
            raise InvalidArgument.for_field(
                "file",
                f"{path.name}: the same file was loaded on {earlier['loaded_at']:%Y-%m-%d %H:%M} as {earlier['name']}",
            )
        if table is customers and accepted:
            codes = [values["客戶"] for values in accepted]
            existing = set(
                (await connection.execute(select(customers.c["客戶"]).where(customers.c["客戶"].in_(codes)))).scalars()
            )
            for values in [values for values in accepted if values["客戶"] in existing]:
                report.refused.append(
                    Refusal(first_row_of[values["客戶"]], "客戶", values["客戶"], "already in the legacy store")
                )
            accepted = [values for values in accepted if values["客戶"] not in existing]
        # Rows with the same filled columns go in as one batch; a blank cell keeps its column's default.
        batches: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for values in accepted:
            batches.setdefault(tuple(sorted(values)), []).append(values)
        for batch in batches.values():
            await connection.execute(insert(table), batch)
        report.loaded = len(accepted)
        await connection.execute(
            insert(imports).values(
                sha256=digest, name=path.name, table_name=table.name, rows=report.rows, loaded=report.loaded
            )
        )
    return report


def describe(report: LoadReport) -> list[str]:
    """The report as the office reads it: a summary line, then one line per refused value."""
    lines = [
        f"{report.file} → {report.table}: {report.rows} rows, {report.loaded} loaded, {report.refused_rows} refused"
    ]
    lines += [
        f"  row {refusal.row}, {refusal.column} = {refusal.value!r}: {refusal.reason}" for refusal in report.refused
    ]
    return lines


async def load_files(database_url: str, paths: list[Path]) -> int:
    """``load FILE…``: install the legacy tables if needed, load each file and print its report. Exit status 0
    when every file was read (refused rows are reported, not fatal), 1 when any file was refused whole."""
    from sqlalchemy.ext.asyncio import create_async_engine

    from services.migration.legacy_store import install

    engine = create_async_engine(database_url)
    failed = False
    try:
        await install(engine)
        for path in paths:
            try:
                report = await load_file(engine, path)
            except (InvalidArgument, OSError, ValueError) as error:
                print(f"{path.name}: not loaded: {error}")
                failed = True
                continue
            print("\n".join(describe(report)))
    finally:
        await engine.dispose()
    return 1 if failed else 0
