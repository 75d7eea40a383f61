"""From orders, customers and shifts to the solver's RoutingProblem, following docs/domain.md#routing.

- Capacity has six dimensions: full cylinders of 4, 10, 16, 20 and 50 kg, and their gross weight in kg; service
  time is 5 min + 2 min per cylinder + 3 more per 50-kg cylinder (solver/luckygas.py has both).
- A stop's windows are the order's window intersected with the customer's allowed hours (twelve one-hour
  slots 08-20; none set = all allowed), so they may be several pieces. Service starts inside a window and
  ends by its close: the window a solver sees closes ``service`` earlier.
- Motorcycle-only customers need a motorcycle; car customers anything but; "either" any vehicle.
- The objective is fewest vehicles, then least travel time: each vehicle costs more than any day's driving.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import time

from services.platform.products import PRODUCTS
from services.routing.solver import luckygas
from services.routing.solver.luckygas import CYLINDER_SIZES
from services.routing.solver.problem import LunchBreak, RoutingProblem, Stop, Vehicle, Window
from services.routing.travel import TravelMatrix

SIZES = CYLINDER_SIZES
FIRST_HOUR = 8  # hourly window 0 is 08:00-09:00, window 11 is 19:00-20:00
MOTORCYCLE = "motorcycle"


def seconds_of(clock: time) -> int:
    return clock.hour * 3600 + clock.minute * 60 + clock.second


def parse_clock(text: str) -> int:
    """ "HH:MM" → seconds since midnight (ValueError when it is not one)."""
    hours, _, minutes = text.partition(":")
    if not (hours.isdigit() and minutes.isdigit() and len(minutes) == 2):
        raise ValueError(f"{text!r} is not HH:MM")
    value = int(hours) * 3600 + int(minutes) * 60
    if not 0 <= int(minutes) < 60 or not 0 <= value <= 24 * 3600:
        raise ValueError(f"{text!r} is not a time of day")
    return value


def clock_text(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


def cylinders(deliver: Mapping[str, int]) -> dict[int, int]:
    """Full cylinders per size (kg) for product code → quantity (KeyError for an unknown product)."""
    counts = dict.fromkeys(SIZES, 0)
    for product, quantity in deliver.items():
        counts[PRODUCTS[product].size_kg] += quantity
    return counts


def service_seconds(deliver: Mapping[str, int]) -> int:
    return luckygas.service_seconds(cylinders(deliver))


def demand(deliver: Mapping[str, int]) -> tuple[int, ...]:
    return luckygas.demand(cylinders(deliver))


def allowed_hours(hourly_windows: Sequence[bool]) -> list[Window]:
    """The customer's allowed hours as merged intervals (seconds since midnight)."""
    flags = list(hourly_windows) if any(hourly_windows) else [True] * 12
    intervals: list[Window] = []
    for index, allowed in enumerate(flags):
        if not allowed:
            continue
        start = (FIRST_HOUR + index) * 3600
        if intervals and intervals[-1][1] == start:
            intervals[-1] = (intervals[-1][0], start + 3600)
        else:
            intervals.append((start, start + 3600))
    return intervals


def delivery_windows(
    order_start: int, order_end: int, hourly_windows: Sequence[bool], service: int
) -> tuple[Window, ...]:
    """Windows for the start of service: order window ∩ allowed hours, each closing ``service`` early."""
    windows = []
    for start, end in allowed_hours(hourly_windows):
        low, high = max(start, order_start), min(end, order_end) - service
        if low <= high:
            windows.append((low, high))
    return tuple(windows)


@dataclass(frozen=True)
class PlannedStop:
    """One order as the plan sees it (built from the order and customer services, or read back from a plan)."""

    order_id: str
    order_number: str
    customer_id: str
    customer_code: str
    customer_name: str
    address: str
    latitude: float
    longitude: float
    windows: tuple[Window, ...]
    deliver: Mapping[str, int]
    vehicle_requirement: str  # car | motorcycle | either
    urgent: bool

    @property
    def service_seconds(self) -> int:
        return service_seconds(self.deliver)


@dataclass(frozen=True)
class PlannedVehicle:
    """A vehicle with its driver's shift on the plan's date."""

    plate: str
    kind: str
    driver: str
    capacity: Mapping[int, int]  # size kg → full cylinders
    max_load_kg: int
    shift_start: int
    shift_end: int
    lunch_start: int | None
    lunch_latest_start: int | None
    lunch_minutes: int
    max_driving_minutes: int

    @property
    def motorcycle(self) -> bool:
        return self.kind == MOTORCYCLE

    def to_json(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "capacity": {str(size): count for size, count in self.capacity.items()},
            "max_load_kg": self.max_load_kg,
            "shift_start": self.shift_start,
            "shift_end": self.shift_end,
            "lunch_start": self.lunch_start,
            "lunch_latest_start": self.lunch_latest_start,
            "lunch_minutes": self.lunch_minutes,
            "max_driving_minutes": self.max_driving_minutes,
        }

    @classmethod
    def from_json(cls, plate: str, driver: str, data: Mapping[str, object]) -> PlannedVehicle:
        capacity = data["capacity"]
        assert isinstance(capacity, Mapping)
        return cls(
            plate=plate,
            kind=str(data["kind"]),
            driver=driver,
            capacity={int(size): int(count) for size, count in capacity.items()},
            max_load_kg=int(str(data["max_load_kg"])),
            shift_start=int(str(data["shift_start"])),
            shift_end=int(str(data["shift_end"])),
            lunch_start=None if data.get("lunch_start") is None else int(str(data["lunch_start"])),
            lunch_latest_start=None if data.get("lunch_latest_start") is None else int(str(data["lunch_latest_start"])),
            lunch_minutes=int(str(data["lunch_minutes"])),
            max_driving_minutes=int(str(data["max_driving_minutes"])),
        )


def solver_stop(stop: PlannedStop, location: int) -> Stop:
    return Stop(
        id=stop.order_id,
        location=location,
        demand=demand(stop.deliver),
        service_seconds=stop.service_seconds,
        time_windows=stop.windows,
        motorcycle_only=stop.vehicle_requirement == "motorcycle",
        car_only=stop.vehicle_requirement == "car",
    )


def solver_vehicle(vehicle: PlannedVehicle) -> Vehicle:
    lunch = None
    if vehicle.lunch_start is not None and vehicle.lunch_minutes > 0:
        latest = vehicle.lunch_latest_start if vehicle.lunch_latest_start is not None else vehicle.lunch_start
        lunch = LunchBreak(vehicle.lunch_start, latest, vehicle.lunch_minutes * 60)
    return Vehicle(
        id=vehicle.plate,
        capacity=(*(vehicle.capacity.get(size, 0) for size in SIZES), vehicle.max_load_kg),
        shift_start=vehicle.shift_start,
        shift_end=vehicle.shift_end,
        motorcycle=vehicle.motorcycle,
        lunch=lunch,
        max_driving_seconds=vehicle.max_driving_minutes * 60,
        # Runs reload at the depot between half-day trips (a motorcycle carries a few cylinders a trip).
        max_reloads=luckygas.max_reloads(vehicle.motorcycle),
        reload_seconds=luckygas.RELOAD_SECONDS,
    )


def build_problem(
    stops: Sequence[PlannedStop], vehicles: Sequence[PlannedVehicle], matrix: TravelMatrix, name: str = ""
) -> RoutingProblem:
    """The problem over locations [depot, stops[0], stops[1], ...] (the matrix's order)."""
    solver_vehicles = tuple(solver_vehicle(vehicle) for vehicle in vehicles)
    return RoutingProblem(
        duration=matrix.durations,
        distance=matrix.distances,
        stops=tuple(solver_stop(stop, index + 1) for index, stop in enumerate(stops)),
        vehicles=solver_vehicles,
        dimensions=luckygas.DIMENSIONS,
        vehicle_fixed_cost=luckygas.fewest_vehicles_first(solver_vehicles),
        objective="duration",
        name=name,
    )
