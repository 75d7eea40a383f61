"""The office's exports for the demo: the customer list (.xlsx) and two years of delivery history (Big5 CSV).

The customers are the customer service's demo customers (services/platform/demo_customers.py, the same seed),
written the way the office's sheet has them (../shared/LEGACY.md): phones without the leading 0, ``20*5+16*1``,
twelve 0/1 window columns, ``V`` flags, ``A-瑞光`` zones, Chinese segment, pricing and payment words. Mapped back
(mapping.map_customer) a clean row is exactly the seeded customer, so the backfill links the two rather than
making a second one. The history follows each customer's cylinders, consumption and refill cycle, up to the
platform's today (services.platform.clock), with the legacy statuses and returned empties.

A realistic few rows are dirty (the kinds below, each present, placed deterministically): ``DirtyRows`` names
their sheet rows, so tests can hold the loader's and the mapping's answers to them. Everything is drawn from one
seeded random generator: the same seed, count and day give the same bytes (the .xlsx is written with fixed
timestamps), so a file once loaded is recognised by its digest and never loaded twice.
"""

from __future__ import annotations

import asyncio
import csv
import io
import math
import random
import time
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.writer.excel import ExcelWriter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.migration import legacy_store
from services.migration.legacy_load import CSV_ENCODING, CUSTOMER_SHEET, LoadReport, describe, load_file
from services.migration.legacy_store import (
    CUSTOMER_PRODUCT_COLUMNS,
    DELIVERY_KG_COLUMNS,
    DELIVERY_PRODUCT_COLUMNS,
    RETURN_COLUMNS,
    WINDOW_COLUMNS,
)
from services.migration.mapping import CUSTOMER_PRODUCT_COLUMNS as PRODUCT_COLUMN_GRADES
from services.migration.mapping import DELIVERY_KG_COLUMNS as KG_COLUMN_PRODUCTS
from services.migration.mapping import DELIVERY_PRODUCT_COLUMNS as DELIVERY_COLUMN_PRODUCTS
from services.migration.mapping import (
    PAYMENT_TERMS,
    PRICING_METHODS,
    SEGMENTS,
    VEHICLES,
    ZONE_TYPOS,
)
from services.migration.reverse import cylinders_text, legacy_phone
from services.platform import clock
from services.platform.demo_customers import DEFAULT_COUNT, DemoCustomer, generate_customers, parse_seed_spec
from services.platform.products import PRODUCTS
from services.platform.taiwan import date_to_excel_serial, date_to_roc
from services.platform.zones import zone_names

# Bump when the files' content changes: cached exports of another version are written again.
GENERATOR_VERSION = "1"
FILE_PREFIX = "demo-"
HISTORY_DAYS = 730
# The xlsx's zip entries and document properties carry this moment, so the bytes do not depend on when.
FIXED_MOMENT = datetime(2020, 1, 1)

CUSTOMER_HEADERS: tuple[str, ...] = (
    "客戶",
    "電子發票抬頭",
    "客戶簡稱",
    "地址",
    "統一編號",
    "電話",
    "系統上鋼瓶數量",
    *CUSTOMER_PRODUCT_COLUMNS,
    "計價方式",
    "結帳方式",
    *WINDOW_COLUMNS,
    "時段早1午2晚3全天0",
    "公休日",
    "區域",
    "1汽車/2機車/0全部",
    "平均日使用",
    "最大週期",
    "可延後天數",
    "訂閱式會員",
    "發報",
    "已解約",
    "需要當天配送",
    "類型",
)
DELIVERY_HEADERS: tuple[str, ...] = (
    "日期",
    "時間",
    "業務員",
    "客戶",
    *DELIVERY_PRODUCT_COLUMNS,
    *DELIVERY_KG_COLUMNS,
    *RETURN_COLUMNS,
    "狀態",
)

# Dirty customer rows: (kind, how many per 1,300 customers). Loaded and mapped: #DIV/0!, the zone typo. Loaded,
# refused by the mapping: a phone that lost a zero inside, cylinder text that disagrees with the product columns,
# a tax id failing its checksum. Refused by the loader: a blank code, a code twice, a window cell that is no number.
CUSTOMER_DIRTY_KINDS: dict[str, int] = {
    "division_by_zero": 8,
    "zone_typo": 5,
    "dropped_zero": 5,
    "cylinder_mismatch": 5,
    "bad_tax_id": 4,
    "blank_code": 5,
    "duplicate_code": 5,
    "bad_window": 3,
}
# Which kinds each step refuses (the rest load and map).
CUSTOMER_LOADER_REFUSES = frozenset({"blank_code", "duplicate_code", "bad_window"})
CUSTOMER_MAPPING_REFUSES = frozenset({"dropped_zero", "cylinder_mismatch", "bad_tax_id"})
# Dirty delivery rows: share of the history per kind (about 2% in all).
DELIVERY_DIRTY_SHARES: dict[str, float] = {
    "unknown_customer": 0.006,
    "zero_quantities": 0.004,
    "empties_on_failure": 0.002,
    "bad_date": 0.002,
    "bad_status": 0.002,
    "blank_customer": 0.002,
    "fractional_quantity": 0.002,
}
DELIVERY_LOADER_REFUSES = frozenset({"bad_date", "bad_status", "blank_customer", "fractional_quantity"})
DELIVERY_MAPPING_REFUSES = frozenset({"unknown_customer", "zero_quantities", "empties_on_failure"})

# Outcomes of a delivery that is done with (weights); a failed one is tried again the next day.
FINAL_STATUSES = {"COMPLETED": 930, "NOT_HOME": 25, "FAILED": 15, "REFUSED": 5, "CANCELLED": 25}
TODAY_STATUSES = {"COMPLETED": 40, "ASSIGNED": 30, "PENDING": 20, "IN_PROGRESS": 10}
RETRIED = frozenset({"NOT_HOME", "FAILED", "REFUSED"})
SERIAL_DATE_SHARE = 0.005  # rows from a sheet that kept Excel's date serials
NO_TIME_SHARE = 0.04
FEWER_EMPTIES_SHARE = 0.05
SALESPEOPLE = ("陳志明", "林建宏", "黃俊傑", "張家豪", "李宗翰", "王冠宇", "吳承恩", "劉信宏")
EXTRA_CODE_BASE = 1_900_001  # dirty rows that are customers of their own (not the customer service's demo ones)


def _product_of(size: int, grade: str, method: str) -> str:
    """The platform's product code of a customer product column (as mapping.py reads it)."""
    if grade == "propane":
        return f"propane-{size}"
    if grade == "happy":
        return "happy-4"
    return f"{method}-{size}-{grade}"


_COLUMN_OF_PRODUCT = {
    _product_of(size, grade, method): column
    for column, (size, grade) in PRODUCT_COLUMN_GRADES.items()
    for method in ("cylinder", "flow")
}
_DELIVERY_COLUMN_OF_PRODUCT = {product: column for column, product in DELIVERY_COLUMN_PRODUCTS.items()}
_KG_COLUMN_OF_PRODUCT = {product: column for column, product in KG_COLUMN_PRODUCTS.items()}
_RETURN_COLUMN_OF_SIZE = {int(column.removeprefix("回收").removesuffix("公斤")): column for column in RETURN_COLUMNS}
_VEHICLE_NUMBER = {name: number for number, name in VEHICLES.items()}
_SEGMENT_WORD = {name: word for word, name in SEGMENTS.items()}
_PRICING_WORD = {name: word for word, name in PRICING_METHODS.items()}
_PAYMENT_WORD = {"cash": "現金", "monthly": "月結"}
assert set(_PAYMENT_WORD.values()) <= set(PAYMENT_TERMS)


@dataclass
class CustomerSheet:
    """The customer list: rows as the sheet has them (row 2 is the first), and which rows are dirty of what kind."""

    rows: list[list[Any]]
    dirty: dict[str, list[int]] = field(default_factory=dict)
    clean_codes: list[str] = field(default_factory=list)  # the customer service's demo customers, all of them


@dataclass
class DeliveryHistory:
    rows: list[list[str]]
    dirty: dict[str, list[int]] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------- customers


def customer_row(customer: DemoCustomer, zones: Mapping[str, str]) -> list[Any]:
    """One customer as the office's sheet has it (the columns of ``CUSTOMER_HEADERS``)."""
    products: dict[str, int] = {}
    for product, count in customer.cylinders.items():
        column = _COLUMN_OF_PRODUCT[product]
        products[column] = products.get(column, 0) + count
    phones = [legacy_phone(phone) for phone in customer.phones]
    values: dict[str, Any] = {
        "客戶": customer.code,
        "電子發票抬頭": customer.invoice_title or None,
        "客戶簡稱": customer.short_name,
        "地址": customer.address,
        "統一編號": customer.tax_id or None,
        # One number alone is a number cell, as Excel makes it; two are text joined by /.
        "電話": int(phones[0]) if len(phones) == 1 else "/".join(phones),
        "系統上鋼瓶數量": cylinders_text(customer.cylinders),
        **{column: products.get(column) for column in CUSTOMER_PRODUCT_COLUMNS},
        "計價方式": _PRICING_WORD[customer.pricing_method],
        "結帳方式": _PAYMENT_WORD[customer.payment_terms],
        **{column: int(open_) for column, open_ in zip(WINDOW_COLUMNS, customer.hourly_windows, strict=True)},
        "時段早1午2晚3全天0": customer.slot_code,
        "公休日": customer.rest_days or None,
        "區域": f"{customer.zone}-{zones[customer.zone]}",
        "1汽車/2機車/0全部": _VEHICLE_NUMBER[customer.vehicle_requirement],
        "平均日使用": customer.consumption_kg_per_day,
        "最大週期": customer.max_cycle_days,
        "可延後天數": customer.slip_days,
        "訂閱式會員": "V" if customer.subscription else None,
        "發報": "V" if customer.alert_device else None,
        "已解約": None,
        "需要當天配送": None,
        "類型": _SEGMENT_WORD[customer.segment] or None,
    }
    return [values[column] for column in CUSTOMER_HEADERS]


def _dirty_customer(rng: random.Random, kind: str, row: list[Any], original: list[Any]) -> list[Any]:
    """Spoil ``row`` (an extra customer's, or a copy of ``original`` for a duplicate) the way ``kind`` says."""
    at = {column: index for index, column in enumerate(CUSTOMER_HEADERS)}
    if kind == "division_by_zero":
        row[at["平均日使用"]] = "#DIV/0!"  # a new account: no history to average yet
    elif kind == "zone_typo":
        typo = next(iter(ZONE_TYPOS))
        row[at["區域"]] = f"H-{typo}"
    elif kind == "dropped_zero":
        row[at["電話"]] = f"89{rng.choice('23')}{rng.randrange(10, 100)}{rng.randrange(10, 100)}"  # 7 digits: a 0 lost
    elif kind == "cylinder_mismatch":
        row[at["系統上鋼瓶數量"]] = "50*9"
    elif kind == "bad_tax_id":
        row[at["統一編號"]] = "12345678"  # fails the checksum
    elif kind == "blank_code":
        row[at["客戶"]] = None
    elif kind == "duplicate_code":
        row = list(original)
        row[at["客戶簡稱"]] = f"{original[at['客戶簡稱']]}(新)"
    elif kind == "bad_window":
        row[at[WINDOW_COLUMNS[rng.randrange(len(WINDOW_COLUMNS))]]] = "V"
    return row


def customer_sheet(seed: int, count: int = DEFAULT_COUNT) -> CustomerSheet:
    """The demo customers as sheet rows, with the dirty rows mixed in (about 3%)."""
    zones = zone_names()
    rng = random.Random(seed ^ 0x5EED_1E6A)  # nosec B311 # seeded demo data
    customers = generate_customers(seed, count)
    clean = [customer_row(customer, zones) for customer in customers]
    scale = count / DEFAULT_COUNT
    kinds = [kind for kind, per in CUSTOMER_DIRTY_KINDS.items() for _ in range(max(1, round(per * scale)))]
    extras = generate_customers(seed + 1, len(kinds))
    # Each dirty row goes after a chosen clean row; a duplicate after the row whose code it repeats.
    after: list[tuple[int, int, str, list[Any]]] = []
    for number, (kind, extra) in enumerate(zip(kinds, extras, strict=True)):
        extra.code = str(EXTRA_CODE_BASE + number)
        if kind == "zone_typo":
            extra.zone = "H"
        position = rng.randrange(len(clean)) if clean else 0
        original = clean[position] if clean else customer_row(extra, zones)
        after.append((position, number, kind, _dirty_customer(rng, kind, customer_row(extra, zones), original)))
    after.sort(key=lambda entry: (entry[0], entry[1]))
    sheet = CustomerSheet(rows=[], clean_codes=[customer.code for customer in customers])
    pending = iter(after)
    upcoming = next(pending, None)
    for position, row in enumerate(clean):
        sheet.rows.append(row)
        while upcoming is not None and upcoming[0] == position:
            sheet.dirty.setdefault(upcoming[2], []).append(len(sheet.rows) + 2)
            sheet.rows.append(upcoming[3])
            upcoming = next(pending, None)
    while upcoming is not None:  # no clean rows at all
        sheet.dirty.setdefault(upcoming[2], []).append(len(sheet.rows) + 2)
        sheet.rows.append(upcoming[3])
        upcoming = next(pending, None)
    return sheet


# ---------------------------------------------------------------------------------------------- history


def _refill(customer: DemoCustomer) -> tuple[dict[str, int], float]:
    """What a refill brings when everything on site has run empty (product → cylinders, spares with the main
    product; a flow customer's manifold: nothing but gas) and how many days of gas that is."""
    main = max(
        customer.cylinders, key=lambda product: (PRODUCTS[product].size_kg * customer.cylinders[product], product)
    )
    items = {
        product: count + (customer.spare_cylinders if product == main else 0)
        for product, count in customer.cylinders.items()
    }
    kg = float(sum(PRODUCTS[product].size_kg * count for product, count in items.items()))
    if customer.pricing_method == "flow":
        return {}, kg * 0.65  # the meter is read and the tanks topped up well before the manifold runs dry
    return items, kg


def _visit(rng: random.Random, customer: DemoCustomer) -> tuple[dict[str, int], float, int]:
    """One visit: the cylinders exchanged, the kg read off a flow customer's meter, days until the next visit."""
    full, kg = _refill(customer)
    per_day = max(customer.consumption_kg_per_day, 0.1)
    days = kg / per_day
    if customer.max_cycle_days and days > customer.max_cycle_days:
        # The customer wants a visit every max_cycle_days at the latest: only the empties go then.
        days = customer.max_cycle_days
        share = per_day * days / kg
        full = {product: max(1, math.ceil(count * share)) for product, count in full.items()}
    days = max(1.0, days * rng.uniform(0.95, 1.1))
    used = round(per_day * days, 1) or 0.1
    # A delivery slips by up to half the slack the customer allows.
    slip = rng.randint(0, max(0, min(customer.slip_days, math.floor(days)) // 2))
    return full, used, max(1, round(days) + slip)


def _visit_time(rng: random.Random, customer: DemoCustomer) -> str:
    if rng.random() < NO_TIME_SHARE:
        return ""
    hours = [8 + index for index, open_ in enumerate(customer.hourly_windows) if open_] or list(range(8, 20))
    return f"{rng.choice(hours):02d}:{rng.randrange(60):02d}"


def _weighted(rng: random.Random, weights: Mapping[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _date_cell(rng: random.Random, day: date) -> str:
    return str(date_to_excel_serial(day) if rng.random() < SERIAL_DATE_SHARE else date_to_roc(day))


def _delivery_row(
    rng: random.Random,
    customer: DemoCustomer,
    day: date,
    status: str,
    items: Mapping[str, int],
    kg: float,
    salesperson: str,
) -> list[str]:
    values: dict[str, str] = {
        "日期": _date_cell(rng, day),
        "時間": _visit_time(rng, customer),
        "業務員": salesperson,
        "客戶": customer.code,
        "狀態": status,
    }
    for product, count in items.items():
        values[_DELIVERY_COLUMN_OF_PRODUCT[product]] = str(count)
    if customer.pricing_method == "flow":
        product = max(customer.cylinders, key=lambda name: (PRODUCTS[name].size_kg, name))
        values[_KG_COLUMN_OF_PRODUCT[product]] = f"{kg:.1f}"
    if status == "COMPLETED" and items:
        by_size: dict[int, int] = {}
        for product, count in items.items():
            by_size[PRODUCTS[product].size_kg] = by_size.get(PRODUCTS[product].size_kg, 0) + count
        for size, count in by_size.items():
            returned = count - 1 if rng.random() < FEWER_EMPTIES_SHARE else count  # an empty kept back
            if returned:
                values[_RETURN_COLUMN_OF_SIZE[size]] = str(returned)
    return [values.get(column, "") for column in DELIVERY_HEADERS]


def _customer_history(rng: random.Random, customer: DemoCustomer, today: date) -> list[tuple[date, list[str]]]:
    salesperson = SALESPEOPLE[sum(map(ord, customer.zone)) % len(SALESPEOPLE)]
    rows: list[tuple[date, list[str]]] = []
    *_, first_gap = _visit(rng, customer)
    day = today - timedelta(days=HISTORY_DAYS - rng.randrange(first_gap))
    while day <= today:
        items, kg, gap = _visit(rng, customer)
        # Only the last days still have deliveries under way.
        status = _weighted(rng, TODAY_STATUSES if day >= today - timedelta(days=1) else FINAL_STATUSES)
        rows.append((day, _delivery_row(rng, customer, day, status, items, kg, salesperson)))
        if status in RETRIED and day < today:  # tried again the next day
            day += timedelta(days=1)
            rows.append((day, _delivery_row(rng, customer, day, "COMPLETED", items, kg, salesperson)))
        day += timedelta(days=gap)
    return rows


def _dirty_delivery(rng: random.Random, kind: str, row: list[str], unknown_codes: Sequence[str]) -> list[str]:
    at = {column: index for index, column in enumerate(DELIVERY_HEADERS)}
    if kind == "unknown_customer":
        row[at["客戶"]] = rng.choice(unknown_codes)  # a closed account's history, its customer long removed
    elif kind == "zero_quantities":
        for column in (*DELIVERY_PRODUCT_COLUMNS, *DELIVERY_KG_COLUMNS, *RETURN_COLUMNS):
            row[at[column]] = "0"
    elif kind == "empties_on_failure":
        row[at["狀態"]] = "NOT_HOME"
        row[at["回收20公斤"]] = "1"
    elif kind == "bad_date":
        row[at["日期"]] = f"{row[at['日期']][:3]}/02/30"
    elif kind == "bad_status":
        row[at["狀態"]] = "DONE"
    elif kind == "blank_customer":
        row[at["客戶"]] = ""
    elif kind == "fractional_quantity":
        row[at["20公斤"]] = "1.5"
    return row


def delivery_history(seed: int, count: int = DEFAULT_COUNT, today: date | None = None) -> DeliveryHistory:
    """Two years of deliveries of the demo customers up to ``today`` (the platform's), oldest first, about 2% dirty."""
    today = today or clock.taipei_now().date()
    rng = random.Random(seed ^ 0xDE11_7E57)  # nosec B311 # seeded demo data
    customers = generate_customers(seed, count)
    dated: list[tuple[date, str, list[str]]] = []
    for customer in customers:
        for day, row in _customer_history(rng, customer, today):
            dated.append((day, customer.code, row))
    dated.sort(key=lambda entry: (entry[0], entry[2][1] or "99:99", entry[1]))
    rows = [row for _, _, row in dated]
    codes = {customer.code for customer in customers}
    # Codes between the demo customers' (closed accounts leave gaps): in the history, no longer in the list.
    numbers = sorted(int(code) for code in codes)
    unknown = [str(number) for number in range(numbers[0], numbers[-1]) if str(number) not in codes][:50] or ["1999999"]
    history = DeliveryHistory(rows=rows)
    # Spoil copies of real rows, inserted right after them (a row typed twice, then mistyped).
    spoilt: dict[int, list[tuple[str, list[str]]]] = {}
    kinds = [kind for kind, share in DELIVERY_DIRTY_SHARES.items() for _ in range(max(1, round(share * len(rows))))]
    for kind in kinds if rows else []:
        source = rng.randrange(len(rows))
        spoilt.setdefault(source, []).append((kind, _dirty_delivery(rng, kind, list(rows[source]), unknown)))
    mixed: list[list[str]] = []
    for number, row in enumerate(rows):
        mixed.append(row)
        for kind, dirty in spoilt.get(number, []):
            mixed.append(dirty)
            history.dirty.setdefault(kind, []).append(len(mixed) + 1)
    history.rows = mixed
    return history


# ---------------------------------------------------------------------------------------------- files


@dataclass(frozen=True)
class DemoExports:
    version: str
    customers: Path
    deliveries: Path


def export_version(seed: int, count: int, today: date) -> str:
    return f"v{GENERATOR_VERSION}-{seed}-{count}-{today:%Y%m%d}"


def xlsx_bytes(sheet_name: str, headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """A one-sheet workbook (openpyxl's write-only mode), the same bytes for the same rows."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet(sheet_name)
    sheet.append(list(headers))
    for row in rows:
        sheet.append(list(row))
    book.properties.created = book.properties.modified = FIXED_MOMENT
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(book, archive).save()  # unlike Workbook.save, leaves the properties' dates as set
    # Repack with fixed entry timestamps: zip records when each entry was written.
    fixed = io.BytesIO()
    with zipfile.ZipFile(raw) as source, zipfile.ZipFile(fixed, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=FIXED_MOMENT.timetuple()[:6])
            entry.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(entry, source.read(info))
    return fixed.getvalue()


def csv_bytes(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> bytes:
    text = io.StringIO(newline="")
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(headers)
    writer.writerows(rows)
    return text.getvalue().encode(CSV_ENCODING)


def write_exports(folder: Path, seed: int, count: int = DEFAULT_COUNT, today: date | None = None) -> DemoExports:
    """Write (or find already written) the two export files under ``folder``/<version>/."""
    today = today or clock.taipei_now().date()
    version = export_version(seed, count, today)
    target = folder / version
    exports = DemoExports(
        version,
        target / f"{FILE_PREFIX}客戶資料-{version}.xlsx",
        target / f"{FILE_PREFIX}配送紀錄-{version}.csv",
    )
    done = target / ".complete"
    if done.exists() and exports.customers.exists() and exports.deliveries.exists():
        return exports
    target.mkdir(parents=True, exist_ok=True)
    sheet = customer_sheet(seed, count)
    _write_atomically(exports.customers, xlsx_bytes(CUSTOMER_SHEET, CUSTOMER_HEADERS, sheet.rows))
    history = delivery_history(seed, count, today)
    _write_atomically(exports.deliveries, csv_bytes(DELIVERY_HEADERS, history.rows))
    done.write_text(version + "\n", encoding="utf-8")
    return exports


def _write_atomically(path: Path, content: bytes) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(content)
    partial.replace(path)


# ---------------------------------------------------------------------------------------------- seed


async def _demo_loaded(engine: AsyncEngine) -> dict[str, str]:
    """Table name → the demo export already loaded into it (by file name)."""
    imports = legacy_store.imports
    query = select(imports.c.table_name, imports.c.name).where(imports.c.name.startswith(FILE_PREFIX))
    async with engine.connect() as connection:
        return {table: name for table, name in (await connection.execute(query)).all()}


async def seed_demo(
    database_url: str, seed_spec: str, out: Path, count: int = DEFAULT_COUNT, today: date | None = None
) -> str:
    """``seed --seed demo``: write the exports (cached by version) and load each into the legacy database unless a
    demo export of its table is there already. Prints the loader's reports; returns the one-line summary."""
    from services.platform.database import create_engine

    seed = parse_seed_spec(seed_spec)
    engine = create_engine(database_url, pool_size=2, application_name="luckygas-migration-demo")
    reports: list[LoadReport] = []
    try:
        await legacy_store.install(engine)
        loaded = await _demo_loaded(engine)
        wanted = {legacy_store.customers.name, legacy_store.deliveries.name} - set(loaded)
        if wanted:
            started = time.monotonic()
            exports = await asyncio.to_thread(write_exports, out, seed, count, today)
            print(f"demo exports {exports.version} ready in {time.monotonic() - started:.1f}s under {out}")
            for path, table in (
                (exports.customers, legacy_store.customers.name),
                (exports.deliveries, legacy_store.deliveries.name),
            ):
                if table in wanted:
                    started = time.monotonic()
                    report = await load_file(engine, path)
                    reports.append(report)
                    print("\n".join(describe(report)))
                    print(f"loaded {path.name} in {time.monotonic() - started:.1f}s")
    finally:
        await engine.dispose()
    by_table = {report.table: report for report in reports}
    customers = by_table.get(legacy_store.customers.name)
    deliveries = by_table.get(legacy_store.deliveries.name)
    refused = sum(report.refused_rows for report in reports)
    return (
        f"legacy demo: {customers.loaded if customers else 0} customers, "
        f"{deliveries.loaded if deliveries else 0} deliveries loaded, {refused} rows refused"
    )
