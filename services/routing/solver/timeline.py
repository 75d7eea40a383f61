"""The schedule of one vehicle's sequence of stops: the solvers decide the order, this decides the clock.

Both solvers, the urgent insertion and the pre-check turn a sequence into a Route here, so every plan is timed by
one rule: leave as early as allowed, start each service as early as its windows let (the earliest window that
has not closed yet), take lunch as early as its window lets on the chosen leg, load for ``reload_seconds`` on
arriving at the depot for a reload, then delay the departure by the wait at the first stop. Earliest times
dominate: if any schedule of a sequence is feasible, this one is.

A sequence is a list of points: stops, and ``RELOAD`` where the vehicle goes back to the depot to reload. Legs
run between consecutive points (leg k ends at point k; the last leg goes home), so a reload splits the way
between two stops into two legs, and a lunch on either is on the way to the depot or on the way from it.
The checker (checker.py) recomputes all of it on its own from the problem definition.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from services.routing.solver.problem import DEPOT, LunchTaken, Reload, Route, RoutingProblem, Stop, Vehicle, Visit

# How much worse an incompatible stop or an overloaded dimension counts than a second of lateness when a repair
# compares infeasible routes: any such violation ranks above any amount of lateness.
_HARD = 10**12


@dataclass(frozen=True)
class DepotReload:
    """A point of a sequence: back to the depot, load to full capacity, go on."""


RELOAD: Final = DepotReload()
Point = Stop | DepotReload


@dataclass(frozen=True)
class Infeasible:
    """Why a sequence cannot be driven; ``amount`` ranks how far off it is (seconds late, units over, ...)."""

    kind: str  # compatibility | capacity | reloads | window | lunch | shift | driving
    amount: int
    detail: str


def stops_of(points: Sequence[Point]) -> list[Stop]:
    return [point for point in points if isinstance(point, Stop)]


def location_of(point: Point) -> int:
    return point.location if isinstance(point, Stop) else DEPOT


def trips_of(points: Sequence[Point]) -> list[list[Stop]]:
    """The stops of each trip: the sequence split at its reloads."""
    trips: list[list[Stop]] = [[]]
    for point in points:
        if isinstance(point, Stop):
            trips[-1].append(point)
        else:
            trips.append([])
    return trips


def normalised(vehicle: Vehicle, points: Sequence[Point]) -> list[Point]:
    """The sequence without reloads that serve nothing: one followed by another or by the way home, and one
    before the first stop of a vehicle that leaves the depot with its full capacity anyway."""
    kept: list[Point] = []
    for index, point in enumerate(points):
        if isinstance(point, DepotReload):
            following = points[index + 1] if index + 1 < len(points) else None
            if not isinstance(following, Stop):
                continue
            if not kept and vehicle.start_location == DEPOT and vehicle.trip_capacity(0) == vehicle.capacity:
                continue
        kept.append(point)
    return kept


def points_of(problem: RoutingProblem, route: Route) -> list[Point]:
    """A route's sequence back: its visits' stops with RELOAD where it reloads."""
    points: list[Point] = []
    pending = list(route.reloads)
    for count, visit in enumerate(route.visits):
        while pending and pending[0].after_visits <= count:
            points.append(RELOAD)
            pending.pop(0)
        points.append(problem.stop(visit.stop_id))
    points.extend(RELOAD for _ in pending)
    return points


def lunch_leg_of(route: Route) -> int | None:
    """The leg of ``points_of(route)`` the route's lunch is on."""
    lunch = route.lunch
    if lunch is None:
        return None
    before = sum(
        1
        for reload in route.reloads
        if reload.after_visits < lunch.after_visits
        or (reload.after_visits == lunch.after_visits and lunch.start >= reload.departure)
    )
    return lunch.after_visits + before


def point_index_after(points: Sequence[Point], visits: int) -> int:
    """The position in ``points`` just after its first ``visits`` stops (0 for none)."""
    if visits == 0:
        return 0
    seen = 0
    for index, point in enumerate(points):
        if isinstance(point, Stop):
            seen += 1
            if seen == visits:
                return index + 1
    raise ValueError(f"the sequence has {seen} stops, not {visits}")


def merged_windows(stop: Stop) -> list[tuple[int, int]]:
    """The stop's windows sorted, overlapping or touching ones merged."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(stop.time_windows):
        if merged and start <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def build_route(
    problem: RoutingProblem, vehicle: Vehicle, points: Sequence[Point], lunch_leg: int | None
) -> Route | Infeasible:
    """Time ``points`` in this order on ``vehicle`` with its lunch (if it has one) on leg ``lunch_leg``.

    Leg k runs from the k-th point (0: the start location) to the next one, the last one home to the depot.
    """
    problems: list[Infeasible] = []
    stops = stops_of(points)
    for stop in stops:
        if not stop.compatible_with(vehicle):
            kind = "motorcycle-only" if stop.motorcycle_only else "car-only"
            problems.append(Infeasible("compatibility", _HARD, f"{stop.id} is {kind}, {vehicle.id} is not"))
    reload_count = len(points) - len(stops)
    if reload_count > vehicle.max_reloads:
        over = reload_count - vehicle.max_reloads
        problems.append(
            Infeasible(
                "reloads", _HARD * over, f"{reload_count} reloads, {vehicle.id} may reload {vehicle.max_reloads}"
            )
        )
    if any(isinstance(point, DepotReload) and not isinstance(after, Stop) for point, after in _pairs(points)):
        problems.append(Infeasible("reloads", _HARD, "a reload with no stop after it"))
    width = len(problem.dimensions)
    trip_loads = [tuple(sum(stop.demand[d] for stop in trip) for d in range(width)) for trip in trips_of(points)]
    for trip, carried in enumerate(trip_loads):
        for d, (amount, capacity) in enumerate(zip(carried, vehicle.trip_capacity(trip), strict=True)):
            if amount > capacity:
                name = problem.dimensions[d]
                which = f" on trip {trip + 1}" if len(trip_loads) > 1 else ""
                problems.append(
                    Infeasible("capacity", _HARD * (amount - capacity), f"{name}: {amount} > {capacity}{which}")
                )
    load = tuple(max(carried[d] for carried in trip_loads) for d in range(width))

    lunch = vehicle.lunch
    if lunch is not None and stops and lunch_leg is None:
        problems.append(Infeasible("lunch", _HARD, f"{vehicle.id} has no lunch"))
    if lunch is None:
        lunch_leg = None

    duration, distance = problem.duration, problem.distance
    late = 0
    driving = travelled = 0
    position = vehicle.start_location
    departure = vehicle.ready_time
    visits: list[Visit] = []
    reloads: list[Reload] = []
    taken: LunchTaken | None = None
    end = departure
    for leg in range(len(points) + 1):
        point = points[leg] if leg < len(points) else None
        destination = DEPOT if point is None else location_of(point)
        travel = duration[position][destination]
        driving += travel
        travelled += distance[position][destination]
        if lunch is not None and leg == lunch_leg:
            lunch_start = max(departure, lunch.earliest_start)
            if lunch_start > lunch.latest_start:
                late += lunch_start - lunch.latest_start
                problems.append(Infeasible("lunch", 0, f"lunch would start {lunch_start - lunch.latest_start}s late"))
            taken = LunchTaken(len(visits), lunch_start, lunch_start + lunch.duration)
            arrival = max(departure + travel, lunch_start) + lunch.duration
        else:
            arrival = departure + travel
        position = destination
        if point is None:
            end = arrival
            break
        if isinstance(point, DepotReload):
            departure = arrival + vehicle.reload_seconds
            reloads.append(Reload(len(visits), arrival, departure, trip_loads[len(reloads) + 1]))
            continue
        service_start = _service_start(point, arrival)
        if service_start is None:
            closes = max((end for _, end in point.time_windows), default=arrival)
            late += max(1, arrival - closes)
            problems.append(Infeasible("window", 0, f"{point.id} reached at {arrival}, after its windows"))
            service_start = arrival
        departure = service_start + point.service_seconds
        visits.append(Visit(point.id, arrival, service_start, departure))

    if end > vehicle.shift_end:
        late += end - vehicle.shift_end
        problems.append(Infeasible("shift", 0, f"back at {end}, after the shift ends at {vehicle.shift_end}"))
    limit = vehicle.max_driving_seconds
    if limit is not None and driving > limit:
        late += driving - limit
        problems.append(Infeasible("driving", 0, f"{driving}s of driving > {limit}s"))
    if problems:
        first = problems[0]
        return Infeasible(first.kind, late + sum(found.amount for found in problems), first.detail)

    start = vehicle.ready_time
    if points and isinstance(points[0], Stop):
        # Leave later instead of waiting at the first stop (or for a lunch on the first leg): same day, shorter.
        first_travel = duration[vehicle.start_location][points[0].location]
        lunch_first = taken is not None and lunch_leg == 0
        if taken is not None and lunch_first:
            delay = max(0, taken.start - (start + first_travel))
        else:
            delay = visits[0].service_start - visits[0].arrival
        if delay:
            start += delay
            if not lunch_first:
                opening = visits[0]
                visits[0] = Visit(opening.stop_id, opening.arrival + delay, opening.service_start, opening.departure)
    return Route(
        vehicle_id=vehicle.id,
        visits=tuple(visits),
        start=start,
        end=end,
        lunch=taken,
        distance=travelled,
        duration=end - start,
        driving_seconds=driving,
        load=load,
        reloads=tuple(reloads),
    )


def _pairs(points: Sequence[Point]) -> list[tuple[Point, Point | None]]:
    return [(point, points[index + 1] if index + 1 < len(points) else None) for index, point in enumerate(points)]


def _service_start(stop: Stop, arrival: int) -> int | None:
    for start, end in merged_windows(stop):
        if arrival <= end:
            return max(arrival, start)
    return None


def best_route(
    problem: RoutingProblem,
    vehicle: Vehicle,
    points: Sequence[Point],
    preferred_lunch_leg: int | None = None,
    earliest_lunch_leg: int = 0,
) -> Route | Infeasible:
    """The sequence timed with the lunch on the preferred leg if that works, else on the leg that ends the day
    first (legs before ``earliest_lunch_leg`` are already driven). Without a lunch there is nothing to choose."""
    if vehicle.lunch is None or not points:
        return build_route(problem, vehicle, points, None)
    legs = range(earliest_lunch_leg, len(points) + 1)
    if preferred_lunch_leg is not None and preferred_lunch_leg in legs:
        found = build_route(problem, vehicle, points, preferred_lunch_leg)
        if isinstance(found, Route):
            return found
    best: Route | None = None
    least_bad: Infeasible | None = None
    for leg in legs:
        found = build_route(problem, vehicle, points, leg)
        if isinstance(found, Route):
            if best is None or found.end < best.end:
                best = found
        elif least_bad is None or found.amount < least_bad.amount:
            least_bad = found
    if best is not None:
        return best
    assert least_bad is not None  # legs is never empty: it always holds the way home
    return least_bad


def travel_cost(problem: RoutingProblem, vehicle: Vehicle, points: Sequence[Point]) -> int:
    """The objective's travel for the sequence, reloads' legs included (the lunch never moves the vehicle)."""
    matrix = problem.objective_matrix
    position = vehicle.start_location
    total = 0
    for point in points:
        location = location_of(point)
        total += matrix[position][location]
        position = location
    return total + matrix[position][DEPOT]
