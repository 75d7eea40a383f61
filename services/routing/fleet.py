"""The fleet: depots, vehicles and shifts, checked field by field before anything is written."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time

from services.platform.database import Database
from services.platform.errors import FieldViolation, InvalidArgument, NotFound
from services.platform.proto_values import parse_date
from services.routing.model_builder import SIZES, clock_text, parse_clock
from services.routing.repository import FleetRepository
from services.routing.schemas import DepotRecord, ShiftRecord, VehicleRecord

VEHICLE_KINDS = ("small_truck", "medium_truck", "van", "motorcycle")
CODE = re.compile(r"[a-z0-9][a-z0-9-]{0,29}")
PLATE = re.compile(r"[A-Z0-9][A-Z0-9-]{1,19}")
USERNAME = re.compile(r"[A-Za-z0-9_.-]{1,50}")
MAX_CYLINDERS = 500
MAX_LOAD_KG = 20_000
DEFAULT_MAX_DRIVING_MINUTES = 8 * 60


@dataclass(frozen=True)
class DepotInput:
    code: str
    name: str
    latitude: float
    longitude: float


@dataclass(frozen=True)
class VehicleInput:
    plate: str
    kind: str
    capacity: Mapping[int, int]
    max_load_kg: int
    depot_code: str
    active: bool


@dataclass(frozen=True)
class ShiftInput:
    vehicle_plate: str
    driver: str
    date: str
    start: str
    end: str
    lunch_start: str
    lunch_latest_start: str
    lunch_minutes: int
    max_driving_minutes: int


def _coordinates(latitude: float, longitude: float, found: list[FieldViolation], prefix: str = "") -> None:
    if not -90 <= latitude <= 90:
        found.append(FieldViolation(f"{prefix}latitude", "must be between -90 and 90"))
    if not -180 <= longitude <= 180:
        found.append(FieldViolation(f"{prefix}longitude", "must be between -180 and 180"))


def check_depot(depot: DepotInput) -> None:
    found: list[FieldViolation] = []
    if not CODE.fullmatch(depot.code):
        found.append(FieldViolation("depot.code", "1-30 lowercase letters, digits or dashes, e.g. taitung"))
    if not 1 <= len(depot.name.strip()) <= 100:
        found.append(FieldViolation("depot.name", "1-100 characters"))
    _coordinates(depot.latitude, depot.longitude, found, "depot.")
    if found:
        raise InvalidArgument.from_violations(found)


def check_vehicle(vehicle: VehicleInput) -> None:
    found: list[FieldViolation] = []
    if not PLATE.fullmatch(vehicle.plate):
        found.append(FieldViolation("vehicle.plate", "2-20 capital letters, digits or dashes, e.g. KLA-1234"))
    if vehicle.kind not in VEHICLE_KINDS:
        found.append(FieldViolation("vehicle.kind", f"one of {', '.join(VEHICLE_KINDS)}"))
    for size, count in vehicle.capacity.items():
        if size not in SIZES:
            found.append(FieldViolation("vehicle.capacity", f"sizes are {', '.join(map(str, SIZES))} kg, not {size}"))
        elif not 0 <= count <= MAX_CYLINDERS:
            found.append(FieldViolation(f"vehicle.capacity.{size}", f"0 to {MAX_CYLINDERS} cylinders"))
    if not any(count > 0 for count in vehicle.capacity.values()):
        found.append(FieldViolation("vehicle.capacity", "a vehicle must carry at least one cylinder of some size"))
    if not 0 < vehicle.max_load_kg <= MAX_LOAD_KG:
        found.append(FieldViolation("vehicle.max_load_kg", f"more than 0 and at most {MAX_LOAD_KG} kg"))
    if found:
        raise InvalidArgument.from_violations(found)


def _clock(text: str, field: str, found: list[FieldViolation]) -> int | None:
    try:
        return parse_clock(text)
    except ValueError:
        found.append(FieldViolation(field, "a time of day as HH:MM"))
        return None


def check_shift(shift: ShiftInput) -> dict[str, object]:
    """The shift's columns (vehicle_id excluded), or InvalidArgument naming every bad field."""
    found: list[FieldViolation] = []
    try:
        day = parse_date(shift.date, "shift.date")
    except InvalidArgument as error:
        found += error.violations
        day = None
    if not USERNAME.fullmatch(shift.driver):
        found.append(FieldViolation("shift.driver", "the driver's username"))
    start = _clock(shift.start, "shift.start", found)
    end = _clock(shift.end, "shift.end", found)
    if start is not None and end is not None and start >= end:
        found.append(FieldViolation("shift.end", "must be after shift.start"))
    lunch_start = _clock(shift.lunch_start, "shift.lunch_start", found) if shift.lunch_start else None
    latest = _clock(shift.lunch_latest_start, "shift.lunch_latest_start", found) if shift.lunch_latest_start else None
    if latest is None:
        latest = lunch_start
    if lunch_start is not None:
        if not 1 <= shift.lunch_minutes <= 120:
            found.append(FieldViolation("shift.lunch_minutes", "1 to 120 minutes when there is a lunch break"))
        if latest is not None and latest < lunch_start:
            found.append(FieldViolation("shift.lunch_latest_start", "must not be before shift.lunch_start"))
        if (
            start is not None
            and end is not None
            and latest is not None
            and (lunch_start < start or latest + shift.lunch_minutes * 60 > end)
        ):
            found.append(FieldViolation("shift.lunch_start", "the lunch break must fit inside the shift"))
    elif shift.lunch_minutes:
        found.append(FieldViolation("shift.lunch_start", "is required when lunch_minutes is set"))
    driving = shift.max_driving_minutes or DEFAULT_MAX_DRIVING_MINUTES
    if not 1 <= driving <= 12 * 60:
        found.append(FieldViolation("shift.max_driving_minutes", "1 to 720 minutes"))
    if found:
        raise InvalidArgument.from_violations(found)
    assert start is not None
    assert end is not None
    assert day is not None
    return {
        "driver": shift.driver,
        "date": day,
        "start_time": _time(start),
        "end_time": _time(end),
        "lunch_start": None if lunch_start is None else _time(lunch_start),
        "lunch_latest_start": None if latest is None or lunch_start is None else _time(latest),
        "lunch_minutes": shift.lunch_minutes if lunch_start is not None else 0,
        "max_driving_minutes": driving,
    }


def _time(seconds: int) -> time:
    return time.fromisoformat(clock_text(seconds))


class FleetService:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def put_depot(self, depot: DepotInput) -> DepotRecord:
        check_depot(depot)
        async with self.database.session() as session:
            row = await FleetRepository(session).put_depot(
                depot.code, depot.name.strip(), depot.latitude, depot.longitude
            )
            return DepotRecord.from_row(row)

    async def depots(self) -> list[DepotRecord]:
        async with self.database.read_session() as session:
            return [DepotRecord.from_row(row) for row in await FleetRepository(session).depots()]

    async def put_vehicle(self, vehicle: VehicleInput) -> VehicleRecord:
        check_vehicle(vehicle)
        async with self.database.session() as session:
            repository = FleetRepository(session)
            depot = await repository.depot(vehicle.depot_code or "taitung")
            if depot is None:
                raise InvalidArgument.for_field("vehicle.depot_code", f"no depot {vehicle.depot_code!r}")
            row = await repository.put_vehicle(
                {
                    "plate": vehicle.plate,
                    "kind": vehicle.kind,
                    "capacity": {str(size): count for size, count in sorted(vehicle.capacity.items())},
                    "max_load_kg": vehicle.max_load_kg,
                    "depot_id": depot.id,
                    "active": vehicle.active,
                }
            )
            return VehicleRecord.from_row(row, depot.code)

    async def vehicles(self, *, include_inactive: bool) -> list[VehicleRecord]:
        async with self.database.read_session() as session:
            repository = FleetRepository(session)
            depots = {depot.id: depot.code for depot in await repository.depots()}
            rows = await repository.vehicles(include_inactive=include_inactive)
            return [VehicleRecord.from_row(row, depots[row.depot_id]) for row in rows]

    async def put_shift(self, shift: ShiftInput) -> ShiftRecord:
        values = check_shift(shift)
        async with self.database.session() as session:
            repository = FleetRepository(session)
            vehicle = await repository.vehicle(shift.vehicle_plate)
            if vehicle is None:
                raise InvalidArgument.for_field("shift.vehicle_plate", f"no vehicle {shift.vehicle_plate!r}")
            if not vehicle.active:
                raise InvalidArgument.for_field("shift.vehicle_plate", f"vehicle {vehicle.plate} is not active")
            other = await repository.driver_shift(shift.driver, parse_date(shift.date, "shift.date"))
            if other is not None and other.vehicle_id != vehicle.id:
                raise InvalidArgument.for_field(
                    "shift.driver", f"{shift.driver} already drives another vehicle on {shift.date}"
                )
            row = await repository.put_shift({"vehicle_id": vehicle.id, **values})
            return ShiftRecord.from_row(row, vehicle.plate)

    async def shifts(self, day_text: str) -> list[ShiftRecord]:
        day = parse_date(day_text, "date")
        async with self.database.read_session() as session:
            found = await FleetRepository(session).shifts(day)
            return [ShiftRecord.from_row(item.shift, item.vehicle.plate) for item in found]

    async def delete_shift(self, plate: str, day_text: str) -> bool:
        day = parse_date(day_text, "date")
        async with self.database.session() as session:
            repository = FleetRepository(session)
            vehicle = await repository.vehicle(plate)
            if vehicle is None:
                raise NotFound(f"no vehicle {plate!r}")
            return await repository.delete_shift(vehicle.id, day)
