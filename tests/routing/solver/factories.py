"""Synthetic Lucky Gas days for the solver tests: Taitung coordinates, cylinders, trucks, a motorcycle, lunch."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from services.routing.solver import luckygas
from services.routing.solver.problem import LunchBreak, RoutingProblem, Stop, Vehicle

DEPOT_POSITION = (22.7553, 121.1504)
DETOUR = 1.3
SPEED_METRES_PER_SECOND = 30_000 / 3600
LUNCH = LunchBreak(earliest_start=41_400, latest_start=46_800, duration=3_600)  # start 11:30–13:00, 1 h
TRUCK_CAPACITY = (20, 20, 30, 40, 12, 1_000)
MOTORCYCLE_CAPACITY = (4, 4, 4, 4, 0, 120)  # a cargo motorcycle: four small cylinders


def hours(value: float) -> int:
    """Seconds since midnight of a time of day given in hours (8.5 is 08:30)."""
    return round(value * 3600)


def demand_of(cylinders: dict[int, int]) -> tuple[int, ...]:
    return luckygas.demand(cylinders)


def service_of(cylinders: dict[int, int]) -> int:
    return luckygas.service_seconds(cylinders)


def truck(vehicle_id: str, **changes: object) -> Vehicle:
    fields: dict[str, object] = {
        "capacity": TRUCK_CAPACITY,
        "shift_start": hours(8),
        "shift_end": hours(18),
        "lunch": LUNCH,
    }
    fields.update(changes)
    return Vehicle(id=vehicle_id, **fields)  # type: ignore[arg-type]


def motorcycle(vehicle_id: str, **changes: object) -> Vehicle:
    return truck(vehicle_id, capacity=MOTORCYCLE_CAPACITY, motorcycle=True, **changes)


@dataclass
class Day:
    """Builds a problem: places get matrix locations, stops and vehicles are added by the test."""

    positions: list[tuple[float, float]] = field(default_factory=lambda: [DEPOT_POSITION])
    stops: list[Stop] = field(default_factory=list)
    vehicles: list[Vehicle] = field(default_factory=list)

    def place(self, lat: float, lon: float) -> int:
        self.positions.append((lat, lon))
        return len(self.positions) - 1

    def stop(
        self,
        stop_id: str,
        position: tuple[float, float],
        cylinders: dict[int, int] | None = None,
        windows: tuple[tuple[int, int], ...] = ((hours(8), hours(18)),),
        **changes: object,
    ) -> Stop:
        cylinders = cylinders or {20: 1}
        stop = Stop(
            id=stop_id,
            location=self.place(*position),
            demand=demand_of(cylinders),
            service_seconds=service_of(cylinders),
            time_windows=windows,
            **changes,  # type: ignore[arg-type]
        )
        self.stops.append(stop)
        return stop

    def problem(self, fixed_cost: int | None = None) -> RoutingProblem:
        metres = [[round(haversine(a, b) * DETOUR) for b in self.positions] for a in self.positions]
        seconds = [[round(m / SPEED_METRES_PER_SECOND) for m in row] for row in metres]
        if fixed_cost is None:
            fixed_cost = luckygas.fewest_vehicles_first(self.vehicles)
        return RoutingProblem(
            duration=seconds,
            distance=metres,
            stops=tuple(self.stops),
            vehicles=tuple(self.vehicles),
            dimensions=luckygas.DIMENSIONS,
            vehicle_fixed_cost=fixed_cost,
            objective="duration",
            name="test day",
        )


def haversine(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6_371_000 * math.asin(math.sqrt(h))


def city_position(rng: random.Random, spread_km: float = 3.0) -> tuple[float, float]:
    """Somewhere in Taitung City around the depot."""
    lat, lon = DEPOT_POSITION
    return (lat + rng.uniform(-1, 1) * spread_km / 111.0, lon + rng.uniform(-1, 1) * spread_km / 102.0)


def random_day(
    seed: int, stop_count: int, trucks: int = 2, motorcycles: int = 1, motorcycle_share: float = 0.05
) -> Day:
    """A city day: mostly one to three 20 kg cylinders, some 50 kg, slot windows, a few motorcycle-only stops."""
    rng = random.Random(seed)
    day = Day()
    for number in range(stop_count):
        kind = rng.random()
        motorcycle_only = kind < motorcycle_share
        car_only = not motorcycle_only and kind < 0.97
        if motorcycle_only:
            cylinders = {rng.choice((4, 16, 20)): 1}
        elif rng.random() < 0.15:
            cylinders = {50: rng.randint(1, 2)}
        else:
            cylinders = {20: rng.randint(1, 3)}
        slot = rng.random()
        if slot < 0.35:
            windows: tuple[tuple[int, int], ...] = ((hours(8), hours(18)),)
        elif slot < 0.65:
            windows = ((hours(8), hours(12)),)
        elif slot < 0.85:
            windows = ((hours(13), hours(17)),)
        else:
            windows = ((hours(9), hours(10)), (hours(15), hours(16)))
        day.stop(
            f"o{number:03d}",
            city_position(rng),
            cylinders,
            windows,
            motorcycle_only=motorcycle_only,
            car_only=car_only,
        )
    day.vehicles.extend(truck(f"truck{n}") for n in range(1, trucks + 1))
    day.vehicles.extend(motorcycle(f"moto{n}") for n in range(1, motorcycles + 1))
    return day
