"""The solver-agnostic routing model: what a plan must satisfy (RoutingProblem) and what a solver returns (Solution).

Everything is integer: times are seconds since midnight (or, for the Solomon benchmark, its scaled time units),
distances metres (or scaled units). Matrices are indexed by location; location 0 is the depot, where every route
ends and where vehicles that may reload go back for more. Both solvers and the independent checker read these
types and nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Literal

from services.platform.errors import FieldViolation, InvalidArgument

DEPOT = 0
DAY_SECONDS = 24 * 3600
EIGHT_HOURS = 8 * 3600

Objective = Literal["duration", "distance"]
Window = tuple[int, int]


class UnplacedReason(StrEnum):
    """Why a stop is not in any route; the first five are found by checking the stop on its own before solving."""

    WINDOW_EMPTY = "window_empty"  # no time window at all (e.g. the order's window misses every allowed hour)
    NO_COMPATIBLE_VEHICLE = "no_compatible_vehicle"  # e.g. motorcycle-only and no motorcycle on duty
    EXCEEDS_VEHICLE_CAPACITY = "exceeds_vehicle_capacity"  # more than any compatible vehicle carries
    WINDOW_UNREACHABLE = "window_unreachable"  # no compatible shift can reach it inside a window and get back
    BEYOND_DRIVING_LIMIT = "beyond_driving_limit"  # reachable in time, but the round trip breaks the driving limit
    NO_ROOM = "no_room"  # feasible on its own, but the plan has no room left for it
    OPTIONAL_SKIPPED = "optional_skipped"  # an optional stop the plan chose not to serve


@dataclass(frozen=True)
class Stop:
    """One delivery: an order at a customer's location.

    ``time_windows`` bound the start of service (the VRPTW convention every solver shares). Several disjoint
    windows are allowed: an order's window intersected with the customer's allowed hours is often two or three
    pieces. An empty tuple is legal input and makes the stop ``window_empty``.
    """

    id: str
    location: int
    demand: tuple[int, ...]
    service_seconds: int
    time_windows: tuple[Window, ...]
    motorcycle_only: bool = False
    car_only: bool = False
    required: bool = True
    # What serving an optional stop is worth, in objective units; a required stop's worth is set by the solver
    # above anything a vehicle or a detour costs.
    prize: int = 0

    def compatible_with(self, vehicle: Vehicle) -> bool:
        if self.motorcycle_only and not vehicle.motorcycle:
            return False
        return not (self.car_only and vehicle.motorcycle)


@dataclass(frozen=True)
class LunchBreak:
    """A driver's lunch: ``duration`` seconds starting between ``earliest_start`` and ``latest_start``.

    It is taken between two visits (or before the first, or after the last), wherever the vehicle is: at the
    stop just served, at the next one while waiting, or on the road between. Never during a service.
    """

    earliest_start: int
    latest_start: int
    duration: int


@dataclass(frozen=True)
class Vehicle:
    """A vehicle and its driver's shift. Routes end at the depot.

    ``start_location`` and ``available_from`` serve re-planning: a vehicle out on the road starts from its last
    completed stop, no earlier than now. ``max_driving_seconds`` of None means no separate driving limit.

    Reloads: the vehicle may go back to the depot up to ``max_reloads`` times during its shift, spend
    ``reload_seconds`` there loading, and leave with its full ``capacity`` again; each stretch between the
    start, the reloads and the end is a trip, and every trip must fit the capacity. 0 (the default) is one trip
    a day. The travel to and from the depot counts as driving and distance, the loading as neither.
    ``first_trip_capacity`` is what the vehicle can still deliver before its first reload, when that is less
    than its capacity (re-planning: a vehicle out on the road has delivered part of its load); None means its
    capacity.
    """

    id: str
    capacity: tuple[int, ...]
    shift_start: int
    shift_end: int
    motorcycle: bool = False
    lunch: LunchBreak | None = None
    max_driving_seconds: int | None = EIGHT_HOURS
    start_location: int = DEPOT
    available_from: int | None = None
    max_reloads: int = 0
    reload_seconds: int = 0
    first_trip_capacity: tuple[int, ...] | None = None

    @property
    def ready_time(self) -> int:
        """The earliest moment the vehicle may leave its start location."""
        if self.available_from is None:
            return self.shift_start
        return max(self.shift_start, self.available_from)

    def trip_capacity(self, trip: int) -> tuple[int, ...]:
        """What the vehicle carries on its ``trip``-th trip (0: before any reload)."""
        if trip == 0 and self.first_trip_capacity is not None:
            return self.first_trip_capacity
        return self.capacity


@dataclass(frozen=True)
class RoutingProblem:
    """One day's (or the rest of a day's) routing problem.

    The objective is lexicographic through ``vehicle_fixed_cost``: each vehicle used costs that much, plus the
    travel summed over the ``objective`` matrix. Lucky Gas sets a fixed cost above any day's total travel time
    (fewest vehicles first, then least travel time); the Solomon benchmark sets 0 and minimises distance.
    """

    duration: Sequence[Sequence[int]]
    distance: Sequence[Sequence[int]]
    stops: tuple[Stop, ...]
    vehicles: tuple[Vehicle, ...]
    dimensions: tuple[str, ...]
    vehicle_fixed_cost: int = 0
    objective: Objective = "duration"
    name: str = ""

    def __post_init__(self) -> None:
        violations = _validate(self)
        if violations:
            raise InvalidArgument.from_violations(violations)

    @property
    def objective_matrix(self) -> Sequence[Sequence[int]]:
        return self.duration if self.objective == "duration" else self.distance

    def stop(self, stop_id: str) -> Stop:
        return self._stops_by_id[stop_id]

    def vehicle(self, vehicle_id: str) -> Vehicle:
        return self._vehicles_by_id[vehicle_id]

    @cached_property
    def _stops_by_id(self) -> dict[str, Stop]:
        return {stop.id: stop for stop in self.stops}

    @cached_property
    def _vehicles_by_id(self) -> dict[str, Vehicle]:
        return {vehicle.id: vehicle for vehicle in self.vehicles}

    def with_stop(self, stop: Stop) -> RoutingProblem:
        """The same problem with one more stop (an urgent order), or unchanged if it is already there."""
        if any(existing.id == stop.id for existing in self.stops):
            return self
        return RoutingProblem(
            duration=self.duration,
            distance=self.distance,
            stops=(*self.stops, stop),
            vehicles=self.vehicles,
            dimensions=self.dimensions,
            vehicle_fixed_cost=self.vehicle_fixed_cost,
            objective=self.objective,
            name=self.name,
        )


def _validate(problem: RoutingProblem) -> list[FieldViolation]:
    found: list[FieldViolation] = []
    size = len(problem.duration)
    if size == 0:
        return [FieldViolation("duration", "needs at least the depot")]
    for name, matrix in (("duration", problem.duration), ("distance", problem.distance)):
        if len(matrix) != size or any(len(row) != size for row in matrix):
            found.append(FieldViolation(name, f"must be {size}×{size}"))
        elif any(value < 0 for row in matrix for value in row):
            found.append(FieldViolation(name, "must not be negative"))
    if problem.objective not in ("duration", "distance"):
        found.append(FieldViolation("objective", "must be duration or distance"))
    if problem.vehicle_fixed_cost < 0:
        found.append(FieldViolation("vehicle_fixed_cost", "must not be negative"))
    width = len(problem.dimensions)
    if len(set(problem.dimensions)) != width:
        found.append(FieldViolation("dimensions", "names must be unique"))
    if len({stop.id for stop in problem.stops}) != len(problem.stops):
        found.append(FieldViolation("stops", "ids must be unique"))
    if len({vehicle.id for vehicle in problem.vehicles}) != len(problem.vehicles):
        found.append(FieldViolation("vehicles", "ids must be unique"))
    for stop in problem.stops:
        where = f"stops[{stop.id}]"
        if not 0 < stop.location < size:
            found.append(FieldViolation(f"{where}.location", f"must be a stop location in 1..{size - 1}"))
        if len(stop.demand) != width or any(amount < 0 for amount in stop.demand):
            found.append(FieldViolation(f"{where}.demand", f"needs {width} amounts, none negative"))
        if stop.service_seconds < 0:
            found.append(FieldViolation(f"{where}.service_seconds", "must not be negative"))
        if any(start > end for start, end in stop.time_windows):
            found.append(FieldViolation(f"{where}.time_windows", "each window needs start <= end"))
        if stop.prize < 0:
            found.append(FieldViolation(f"{where}.prize", "must not be negative"))
    for vehicle in problem.vehicles:
        where = f"vehicles[{vehicle.id}]"
        if len(vehicle.capacity) != width or any(amount < 0 for amount in vehicle.capacity):
            found.append(FieldViolation(f"{where}.capacity", f"needs {width} amounts, none negative"))
        if vehicle.shift_start > vehicle.shift_end:
            found.append(FieldViolation(f"{where}.shift_end", "must not be before shift_start"))
        if not 0 <= vehicle.start_location < size:
            found.append(FieldViolation(f"{where}.start_location", f"must be a location in 0..{size - 1}"))
        if vehicle.max_driving_seconds is not None and vehicle.max_driving_seconds < 0:
            found.append(FieldViolation(f"{where}.max_driving_seconds", "must not be negative"))
        if vehicle.max_reloads < 0:
            found.append(FieldViolation(f"{where}.max_reloads", "must not be negative"))
        if vehicle.reload_seconds < 0:
            found.append(FieldViolation(f"{where}.reload_seconds", "must not be negative"))
        first = vehicle.first_trip_capacity
        if first is not None and (
            len(first) != width
            or len(vehicle.capacity) != width
            or any(not 0 <= amount <= full for amount, full in zip(first, vehicle.capacity, strict=True))
        ):
            found.append(FieldViolation(f"{where}.first_trip_capacity", f"needs {width} amounts within the capacity"))
        lunch = vehicle.lunch
        if lunch is not None and (lunch.earliest_start > lunch.latest_start or lunch.duration < 0):
            found.append(FieldViolation(f"{where}.lunch", "needs earliest_start <= latest_start, duration >= 0"))
    return found


@dataclass(frozen=True)
class Visit:
    """One stop on a route. ``arrival`` is when the vehicle is at the stop and free to serve: the previous
    departure plus travel, or, when the lunch is taken on the way, max(departure + travel, lunch start) + lunch
    duration (it drives until lunch, eats, drives the rest; if it got there first it waits, then eats)."""

    stop_id: str
    arrival: int
    service_start: int
    departure: int


@dataclass(frozen=True)
class LunchTaken:
    """The lunch a route takes: on the leg after ``after_visits`` visits (0: before the first stop; the number of
    visits: on the way home or at the depot), from ``start`` for the vehicle's lunch duration. It starts no earlier
    than the leg does; the leg's end (the next service start, or the route's end) comes no earlier than
    max(leg start + travel, lunch start) + lunch duration.

    When a reload lies on that leg it splits in two: the way to the depot (the lunch ends before the reload's
    arrival, which is then max(departure + travel, lunch start) + lunch duration) and the way from it (the lunch
    starts no earlier than the reload's departure). Which one is told by the times: a lunch starting at or after
    the reload's departure is on the way out."""

    after_visits: int
    start: int
    end: int


@dataclass(frozen=True)
class Reload:
    """A return to the depot between ``after_visits`` visits and the next one (0: before the first visit; always
    fewer than the route's visits). The vehicle is at the depot at ``arrival`` (the previous departure plus travel,
    or with the lunch on the way, as in LunchTaken), loads for the vehicle's ``reload_seconds`` and leaves at
    ``departure``, carrying ``load``: what the visits up to the next reload (or the end) deliver."""

    after_visits: int
    arrival: int
    departure: int
    load: tuple[int, ...]


@dataclass(frozen=True)
class Route:
    """One vehicle's day: it leaves its start location at ``start`` and is back at the depot, done, at ``end``.

    ``visits`` are the customer visits in order; ``reloads`` the returns to the depot between them, in order, each
    starting a new trip. ``load`` is, in each dimension, the most the vehicle carries at once: the largest load
    of any trip (with no reloads, everything the route delivers). ``distance`` and ``driving_seconds`` include the
    legs to and from the depot for reloads; ``duration`` includes the loading.
    """

    vehicle_id: str
    visits: tuple[Visit, ...]
    start: int
    end: int
    lunch: LunchTaken | None
    distance: int
    duration: int  # end - start, waiting, lunch and reloading included
    driving_seconds: int
    load: tuple[int, ...]
    reloads: tuple[Reload, ...] = ()


@dataclass(frozen=True)
class Unplaced:
    stop_id: str
    reason: UnplacedReason
    detail: str


@dataclass(frozen=True)
class Solution:
    """A plan: every stop of the problem is in exactly one route or in ``unplaced``.

    ``objective`` is ``vehicle_fixed_cost`` × vehicles used + travel over the problem's objective matrix; stops
    left out add nothing to it (they are listed, with their reason, instead). ``notes`` are what the solver wants
    a dispatcher to know: that it had to let stops go, or took stops off a route that did not hold up.
    """

    routes: tuple[Route, ...]
    unplaced: tuple[Unplaced, ...]
    objective: int
    total_distance: int
    total_duration: int
    total_driving_seconds: int
    vehicles_used: int
    solver: str
    runtime_seconds: float
    notes: tuple[str, ...] = field(default=())

    def route_of(self, vehicle_id: str) -> Route | None:
        for route in self.routes:
            if route.vehicle_id == vehicle_id:
                return route
        return None

    def served_stop_ids(self) -> list[str]:
        return [visit.stop_id for route in self.routes for visit in route.visits]
