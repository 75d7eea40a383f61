"""The demo fleet: eight vehicles at the Taitung depot (one a motorcycle for the narrow lanes) and a shift for
each of driver01-driver08 on every day of the coming two weeks, 08:00-18:00 with a lunch hour (docs/domain.md#shifts).

Seeding again changes nothing that is already there (vehicles and shifts are keyed by plate and day).
"""

from __future__ import annotations

from datetime import date, timedelta

from services.platform.clock import TAIPEI, utc_now
from services.platform.database import Database, create_engine
from services.routing.fleet import FleetService, ShiftInput, VehicleInput
from services.routing.settings import RoutingSettings

DAYS = 14
# plate, kind, cylinders per size, max load (kg). A small truck carries about 1,000 kg (docs/domain.md#vehicles).
FLEET: tuple[tuple[str, str, dict[int, int], int], ...] = (
    ("LG-1001", "small_truck", {4: 10, 10: 8, 16: 10, 20: 30, 50: 6}, 1000),
    ("LG-1002", "small_truck", {4: 10, 10: 8, 16: 10, 20: 30, 50: 6}, 1000),
    ("LG-1003", "small_truck", {4: 10, 10: 8, 16: 10, 20: 30, 50: 6}, 1000),
    ("LG-1004", "medium_truck", {4: 12, 10: 10, 16: 14, 20: 45, 50: 10}, 1600),
    ("LG-1005", "medium_truck", {4: 12, 10: 10, 16: 14, 20: 45, 50: 10}, 1600),
    ("LG-1006", "van", {4: 8, 10: 6, 16: 6, 20: 20, 50: 2}, 700),
    ("LG-1007", "van", {4: 8, 10: 6, 16: 6, 20: 20, 50: 2}, 700),
    # A motorcycle with a rack: a few small and 20-kg cylinders, never a 50.
    ("LG-M008", "motorcycle", {4: 6, 10: 4, 16: 4, 20: 4}, 130),
)
DRIVERS = tuple(f"driver{number:02d}" for number in range(1, len(FLEET) + 1))


async def seed_fleet(database: Database, first_day: date, days: int = DAYS) -> tuple[int, int]:
    """Vehicles and shifts put (upserts); returns how many of each."""
    fleet = FleetService(database)
    for plate, kind, capacity, max_load in FLEET:
        await fleet.put_vehicle(VehicleInput(plate, kind, capacity, max_load, "taitung", active=True))
    shifts = 0
    for offset in range(days):
        day = (first_day + timedelta(days=offset)).isoformat()
        for (plate, *_), driver in zip(FLEET, DRIVERS, strict=True):
            await fleet.put_shift(
                ShiftInput(
                    vehicle_plate=plate,
                    driver=driver,
                    date=day,
                    start="08:00",
                    end="18:00",
                    lunch_start="11:30",
                    lunch_latest_start="13:00",
                    lunch_minutes=60,
                    max_driving_minutes=480,
                )
            )
            shifts += 1
    return len(FLEET), shifts


async def seed_demo(settings: RoutingSettings, name: str) -> str:
    if name != "demo":
        raise SystemExit(f"unknown seed {name!r}: the routing service has only 'demo'")
    database = Database(create_engine(settings.database_url, pool_size=2, application_name="routing-seed"))
    try:
        vehicles, shifts = await seed_fleet(database, utc_now().astimezone(TAIPEI).date())
    finally:
        await database.dispose()
    return f"demo fleet: {vehicles} vehicles, {shifts} shifts over {DAYS} days"
