"""The demo drivers: driver01-driver08, one for each vehicle of the routing service's demo fleet, in its order
(three small trucks, two medium trucks, two vans, and driver08 on the motorcycle).

Seeding again changes nothing that is already there (drivers are keyed by username; clock times are kept).

Also the load-test drivers: the profiles of the driver accounts ``luckygas load accounts`` lists, so each can clock
in, post positions and read its progress as a demo driver does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.platform.database import Database, create_engine
from services.tracking.drivers import DriverService
from services.tracking.schemas import DriverInput
from services.tracking.settings import TrackingSettings

DRIVERS: tuple[DriverInput, ...] = (
    DriverInput("driver01", "陳志明", "0912-345-601", "small_truck"),
    DriverInput("driver02", "林俊宏", "0921-456-702", "small_truck"),
    DriverInput("driver03", "黃建國", "0933-567-803", "small_truck"),
    DriverInput("driver04", "張家豪", "0952-678-904", "medium_truck"),
    DriverInput("driver05", "李文雄", "0963-789-105", "medium_truck"),
    DriverInput("driver06", "王淑芬", "0972-890-206", "van"),
    DriverInput("driver07", "吳承恩", "0988-901-307", "van"),
    DriverInput("driver08", "蔡阿福", "0917-012-408", "motorcycle"),
)


async def seed_drivers(database: Database) -> int:
    drivers = DriverService(database)
    for driver in DRIVERS:
        await drivers.put(driver, "seed")
    return len(DRIVERS)


async def seed_demo(settings: TrackingSettings, name: str) -> str:
    if name != "demo":
        raise SystemExit(f"unknown seed {name!r}: the tracking service has only 'demo'")
    database = Database(create_engine(settings.database_url, pool_size=2, application_name="tracking-seed"))
    try:
        count = await seed_drivers(database)
    finally:
        await database.dispose()
    return f"demo drivers: {count}"


async def seed_load_drivers(settings: TrackingSettings, document: Mapping[str, Any]) -> str:
    """A profile for each driver account of ``document``, the accounts file (``driver_id``, ``display_name``,
    ``phone``, ``vehicle_kind``), that has none yet; existing profiles, and their clock times, are left as they are."""
    wanted = [
        DriverInput(
            str(account["driver_id"]), str(account["display_name"]), str(account["phone"]), str(account["vehicle_kind"])
        )
        for account in document["accounts"]
        if account.get("role") == "driver"
    ]
    database = Database(create_engine(settings.database_url, pool_size=2, application_name="tracking-seed"))
    try:
        drivers = DriverService(database)
        existing = {driver.username for driver in await drivers.drivers()}
        missing = [driver for driver in wanted if driver.username not in existing]
        for driver in missing:
            await drivers.put(driver, "load-seed")
    finally:
        await database.dispose()
    return f"load drivers: {len(missing)} created, {len(wanted) - len(missing)} already there"
