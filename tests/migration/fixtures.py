"""The real migration-sync service's parts over a legacy database and the real customer and order services, and the
legacy rows the tests put in it; shared by the migration tests and the gateway's migration route tests.

The fixtures need a session-scoped ``legacy_url`` fixture where they are used (tests/migration/conftest.py gives one;
the gateway tests give their own database). A test module or conftest imports the fixture functions by name."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from services.migration import legacy_digest, legacy_store
from services.migration.app import MIGRATIONS, Parts, assemble
from services.migration.customers import CUSTOMER_SERVICE, CustomerDirectory
from services.migration.models import SCHEMA
from services.migration.orders import ORDER_SERVICE, OrderBook
from services.migration.reverse import PlatformCustomer, customer_row
from services.migration.settings import MigrationSettings
from services.platform import migrations
from services.platform.database import Database
from services.platform.grpc_client import open_channel
from services.platform.taiwan import date_to_roc
from services.platform.zones import zone_names
from tests.conftest import Stores
from tests.order.factories import today
from tests.timing import CALL_DEADLINE_SECONDS

CLEAN = PlatformCustomer(
    code="3000001",
    short_name="好運小吃",
    invoice_title="好運小吃店",
    tax_id="",
    phones=("0912345678", "089345678"),
    address="台東市中華路一段100號",
    zone="A",
    segment="ordinary",
    hourly_windows=(),
    slot_code=0,
    rest_days="7",
    vehicle_requirement="either",
    cylinders={"cylinder-20-regular": 2},
    consumption_kg_per_day=1.5,
    max_cycle_days=20,
    slip_days=3,
    pricing_method="cylinder",
    payment_terms="cash",
    subscription=False,
    alert_device=False,
    terminated=False,
)
# The code of the customer ``seeded`` puts in legacy that the mapping refuses (a zone that does not exist).
DIRTY_CODE = "3000003"
# The customer of the delivery ``seeded`` puts in legacy that no customer row has.
UNKNOWN_CODE = "9999999"


@pytest.fixture(scope="session")
def migration_schema(embedded_stores: Stores) -> None:
    migrations.upgrade(MIGRATIONS, embedded_stores.database_url, SCHEMA)


@pytest.fixture
async def legacy(legacy_url: str) -> AsyncIterator[AsyncEngine]:
    """The legacy store's tables, empty."""
    engine = create_async_engine(legacy_url)
    await legacy_digest.install(engine)
    async with engine.begin() as connection:
        await connection.execute(text('TRUNCATE "客戶資料", "配送紀錄", legacy_imports'))
    yield engine
    await engine.dispose()


@pytest.fixture
async def parts(
    database: Database, migration_schema: None, legacy: AsyncEngine, customer_server: int, order_server: int
) -> AsyncIterator[Parts]:
    """migration-sync as services/migration/app.py assembles it, its schema's tables empty; ``parts.cohort`` is the
    pilot cohort its cutover controller reads (a set the test changes)."""
    async with database.engine.begin() as connection:
        names = (
            await connection.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = :schema AND tablename <> 'alembic_version'"),
                {"schema": SCHEMA},
            )
        ).scalars()
        await connection.execute(text("TRUNCATE " + ", ".join(f"{SCHEMA}.{name}" for name in names)))
    customer_channel = open_channel(
        f"127.0.0.1:{customer_server}", CUSTOMER_SERVICE, default_deadline=CALL_DEADLINE_SECONDS
    )
    order_channel = open_channel(f"127.0.0.1:{order_server}", ORDER_SERVICE, default_deadline=CALL_DEADLINE_SECONDS)
    settings = MigrationSettings(legacy_database_url="unused", backfill_batch_size=2)
    cohort: set[str] = set()
    assembled = assemble(
        settings,
        database,
        legacy,
        CustomerDirectory(customer_channel, deadline_seconds=CALL_DEADLINE_SECONDS),
        OrderBook(order_channel, deadline_seconds=CALL_DEADLINE_SECONDS),
        lambda: frozenset(cohort),
    )
    assembled.cohort = cohort  # type: ignore[attr-defined]
    yield assembled
    await assembled.backfill.stop()
    await customer_channel.close()
    await order_channel.close()


def delivery(code: str, **columns: Any) -> dict[str, Any]:
    return {"日期": date_to_roc(today()), "客戶": code, "狀態": "COMPLETED", "20公斤": 2, "回收20公斤": 2, **columns}


async def put_legacy(legacy: AsyncEngine, customers: list[dict[str, Any]], deliveries: list[dict[str, Any]]) -> None:
    async with legacy.begin() as connection:
        if customers:
            await connection.execute(insert(legacy_store.customers), customers)
        if deliveries:
            for row in deliveries:
                await connection.execute(insert(legacy_store.deliveries).values(row))


async def seeded(parts: Parts, legacy: AsyncEngine) -> None:
    """Two clean customers, one the mapping refuses; three deliveries, one of an unknown customer; backfilled."""
    zones = zone_names()
    second = replace(CLEAN, code="3000002", short_name="阿明麵店", cylinders={"cylinder-16-regular": 1})
    dirty = {**customer_row(replace(CLEAN, code=DIRTY_CODE), zones), "區域": "火星線"}
    await put_legacy(
        legacy,
        [customer_row(CLEAN, zones), customer_row(second, zones), dirty],
        [
            delivery("3000001"),
            delivery("3000002", **{"20公斤": 0, "16公斤": 1, "回收20公斤": 0}),
            delivery(UNKNOWN_CODE),
        ],
    )
    await parts.service.start_backfill([], dry_run=False)
    progress = await parts.backfill.wait()
    assert progress.state == "done", progress
