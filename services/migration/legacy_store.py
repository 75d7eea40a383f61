"""The legacy store: the office system's own database, which migration-sync alone reads and writes.

Its tables are shaped like the office's (docs/domain.md; the columns are the office's own names, as its Excel
exports show them): ROC dates as 7-digit integers, phones without the leading 0, cylinders as ``20*5+16*1`` text,
twelve 0/1 window columns, ``V`` for yes. Like SQL Server's ``rowversion``, every row carries ``row_version``: one
database-wide counter, bumped by a trigger on every insert and update, so "what changed since mark M" is one
indexed range read (``changes_since``), whichever program made the change.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Integer,
    MetaData,
    Numeric,
    SmallInteger,
    Table,
    Text,
    func,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

ROW_VERSION = "row_version"
WINDOW_COLUMNS = tuple(f"{hour}~{hour + 1}" for hour in range(8, 20))  # 8~9 … 19~20, as the sheet heads them
CUSTOMER_PRODUCT_COLUMNS = (
    "50KG",
    "20KG",
    "16KG",
    "10KG",
    "4KG",
    "營20",
    "營16",
    "好運16",
    "好運20",
    "瓶安桶10",
    "幸福丸",
)
DELIVERY_PRODUCT_COLUMNS = (
    "50公斤",
    "丙烷20",
    "丙烷16",
    "20公斤",
    "16公斤",
    "10公斤",
    "4公斤",
    "好運桶16",
    "瓶安桶10",
    "幸福丸4",
    "好運桶20",
)
DELIVERY_KG_COLUMNS = ("流量50公斤", "流量20公斤", "流量16公斤", "流量好運20公斤", "流量好運16公斤")
RETURN_COLUMNS = ("回收50公斤", "回收20公斤", "回收16公斤", "回收10公斤", "回收4公斤")
DELIVERY_STATUSES = ("PENDING", "ASSIGNED", "IN_PROGRESS", "COMPLETED", "FAILED", "CANCELLED", "NOT_HOME", "REFUSED")

metadata = MetaData()


def _row_version() -> Column[int]:
    return Column(ROW_VERSION, BigInteger, nullable=False, server_default=text("0"), index=True)


customers = Table(
    "客戶資料",
    metadata,
    Column("客戶", Text, primary_key=True, comment="customer code: 7 digits, the business key in both systems"),
    Column("電子發票抬頭", Text),
    Column("客戶簡稱", Text),
    Column("地址", Text),
    Column("統一編號", Text),
    Column("電話", Text, comment="digits as Excel keeps them: the leading 0 dropped"),
    Column("系統上鋼瓶數量", Text, comment="size*count joined by +, e.g. 20*5+16*1"),
    *(Column(name, Integer) for name in CUSTOMER_PRODUCT_COLUMNS),
    Column("計價方式", Text),
    Column("結帳方式", Text),
    *(Column(name, SmallInteger) for name in WINDOW_COLUMNS),
    Column("時段早1午2晚3全天0", SmallInteger),
    Column("公休日", Text),
    Column("區域", Text),
    Column("1汽車/2機車/0全部", SmallInteger),
    Column("平均日使用", Text, comment="a number, or what Excel left (#DIV/0!)"),
    Column("最大週期", Text),
    Column("可延後天數", Text),
    Column("訂閱式會員", Text),
    Column("發報", Text),
    Column("已解約", Text),
    Column("需要當天配送", Text),
    Column("類型", Text),
    _row_version(),
)

deliveries = Table(
    "配送紀錄",
    metadata,
    Column("序號", BigInteger, primary_key=True, autoincrement=True),
    Column("日期", Integer, nullable=False, comment="ROC date, 7 digits: 1140521 is 2025-05-21"),
    Column("時間", Text),
    Column("業務員", Text),
    Column("客戶", Text, nullable=False, index=True),
    *(Column(name, Integer, nullable=False, server_default=text("0")) for name in DELIVERY_PRODUCT_COLUMNS),
    *(Column(name, Numeric(8, 1), nullable=False, server_default=text("0")) for name in DELIVERY_KG_COLUMNS),
    *(Column(name, Integer, nullable=False, server_default=text("0")) for name in RETURN_COLUMNS),
    Column("狀態", Text, nullable=False, server_default=text("'COMPLETED'")),
    _row_version(),
    CheckConstraint("狀態 IN (" + ", ".join(f"'{status}'" for status in DELIVERY_STATUSES) + ")", name="配送紀錄_狀態"),
)

# Not the office's: which export files were loaded (by their bytes), so loading one twice adds nothing.
imports = Table(
    "legacy_imports",
    metadata,
    Column("sha256", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("table_name", Text, nullable=False),
    Column("rows", Integer, nullable=False),
    Column("loaded", Integer, nullable=False),
    Column("loaded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

TABLES: dict[str, Table] = {"customers": customers, "deliveries": deliveries}

# One counter for the whole database, as SQL Server's rowversion: a row's version says which write came last
# across tables too. BEFORE INSERT OR UPDATE, so no program writing the tables can forget it. Versions must also
# become visible in order, or a reader that has seen version 7 would never look back for a 5 committed later: the
# trigger takes a transaction-scoped lock before it draws a number, so writing transactions take their versions
# one after another and commit in that order (the office writes a few rows a minute; the lock costs nothing then).
WRITER_LOCK = 1_746_000_001
_VERSIONING = [
    "CREATE SEQUENCE IF NOT EXISTS row_version_counter AS BIGINT",
    f"""
    CREATE OR REPLACE FUNCTION bump_row_version() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_advisory_xact_lock({WRITER_LOCK});
        NEW.row_version := nextval('row_version_counter');
        RETURN NEW;
    END
    $$
    """,
]


def _trigger(table: Table) -> list[str]:
    name = f'"{table.name}_row_version"'
    return [
        f'DROP TRIGGER IF EXISTS {name} ON "{table.name}"',
        f'CREATE TRIGGER {name} BEFORE INSERT OR UPDATE ON "{table.name}" '
        "FOR EACH ROW EXECUTE FUNCTION bump_row_version()",
    ]


async def install(engine: AsyncEngine) -> None:
    """Create the legacy tables, the counter and the triggers (idempotent): what the office's system has."""
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
        for statement in _VERSIONING:
            await connection.execute(text(statement))
        for table in TABLES.values():
            for statement in _trigger(table):
                await connection.execute(text(statement))


async def changes_since(connection: AsyncConnection, table: str, mark: int, *, limit: int) -> Sequence[dict[str, Any]]:
    """Rows of ``table`` ("customers" or "deliveries") written after row version ``mark``, oldest first, at most
    ``limit``: a change-capture batch. The last row's ``row_version`` is the next mark."""
    legacy = TABLES[table]
    version = legacy.c[ROW_VERSION]
    query = select(legacy).where(version > mark).order_by(version).limit(limit)
    return [dict(row) for row in (await connection.execute(query)).mappings()]


async def read_customer(connection: AsyncConnection, code: str) -> dict[str, Any] | None:
    """The 客戶資料 row of a customer code, or None."""
    row = (await connection.execute(select(customers).where(customers.c["客戶"] == code))).mappings().first()
    return dict(row) if row is not None else None


async def read_delivery(connection: AsyncConnection, legacy_id: int) -> dict[str, Any] | None:
    """The 配送紀錄 row of a 序號, or None."""
    row = (await connection.execute(select(deliveries).where(deliveries.c["序號"] == legacy_id))).mappings().first()
    return dict(row) if row is not None else None


async def read_deliveries_of(connection: AsyncConnection, code: str) -> list[dict[str, Any]]:
    """Every 配送紀錄 row of a customer code."""
    query = select(deliveries).where(deliveries.c["客戶"] == code)
    return [dict(row) for row in (await connection.execute(query)).mappings()]
