"""The schedule of one vehicle's sequence of stops: the solvers decide the order, this decides the clock.

Both solvers, the urgent insertion and the pre-check turn a sequence into a Route here, so every plan is timed by
one rule: leave as early as allowed, start each service as early as its windows let (the earliest window that
has not closed yet), take lunch as early as its window lets on the chosen leg, then delay the departure by the
wait at the first stop. Earliest times dominate: if any schedule of a sequence is feasible, this one is.
The checker (checker.py) recomputes all of it on its own from the problem definition.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from services.routing.solver.problem import DEPOT, LunchTaken, Route, RoutingProblem, Stop, Vehicle, Visit

# How much worse an incompatible stop or an overloaded dimension counts than a second of lateness when a repair
# compares infeasible routes: any such violation ranks above any amount of lateness.
_HARD = 10**12


@dataclass(frozen=True)
class Infeasible:
    """Why a sequence cannot be driven; ``amount`` ranks how far off it is (seconds late, units over, ...)."""

    kind: str  # compatibility | capacity | window | lunch | shift | driving
    amount: int
    detail: str


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
    problem: RoutingProblem, vehicle: Vehicle, stops: Sequence[Stop], lunch_leg: int | None
) -> Route | Infeasible:
    """Time ``stops`` in this order on ``vehicle`` with its lunch (if it has one) on leg ``lunch_leg``.

    Leg k runs from the k-th visit (0: the start location) to the next stop, the last one home to the depot.
    """
    problems: list[Infeasible] = []
    for stop in stops:
        if not stop.compatible_with(vehicle):
            kind = "motorcycle-only" if stop.motorcycle_only else "car-only"
            problems.append(Infeasible("compatibility", _HARD, f"{stop.id} is {kind}, {vehicle.id} is not"))
    load = tuple(sum(stop.demand[d] for stop in stops) for d in range(len(problem.dimensions)))
    for d, (carried, capacity) in enumerate(zip(load, vehicle.capacity, strict=True)):
        if carried > capacity:
            name = problem.dimensions[d]
            over = carried - capacity
            problems.append(Infeasible("capacity", _HARD * over, f"{name}: {carried} > {capacity}"))

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
    taken: LunchTaken | None = None
    end = departure
    for leg in range(len(stops) + 1):
        destination = stops[leg].location if leg < len(stops) else DEPOT
        travel = duration[position][destination]
        driving += travel
        travelled += distance[position][destination]
        if lunch is not None and leg == lunch_leg:
            lunch_start = max(departure, lunch.earliest_start)
            if lunch_start > lunch.latest_start:
                late += lunch_start - lunch.latest_start
                problems.append(Infeasible("lunch", 0, f"lunch would start {lunch_start - lunch.latest_start}s late"))
            taken = LunchTaken(leg, lunch_start, lunch_start + lunch.duration)
            arrival = max(departure + travel, lunch_start) + lunch.duration
        else:
            arrival = departure + travel
        if leg == len(stops):
            end = arrival
            break
        stop = stops[leg]
        service_start = _service_start(stop, arrival)
        if service_start is None:
            closes = max((end for _, end in stop.time_windows), default=arrival)
            late += max(1, arrival - closes)
            problems.append(Infeasible("window", 0, f"{stop.id} reached at {arrival}, after its windows"))
            service_start = arrival
        departure = service_start + stop.service_seconds
        visits.append(Visit(stop.id, arrival, service_start, departure))
        position = destination

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
    if visits:
        # Leave later instead of waiting at the first stop (or for a lunch on the first leg): same day, shorter.
        first_travel = duration[vehicle.start_location][stops[0].location]
        if taken is not None and taken.after_visits == 0:
            delay = max(0, taken.start - (start + first_travel))
        else:
            delay = visits[0].service_start - visits[0].arrival
        if delay:
            start += delay
            if taken is None or taken.after_visits != 0:
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
    )


def _service_start(stop: Stop, arrival: int) -> int | None:
    for start, end in merged_windows(stop):
        if arrival <= end:
            return max(arrival, start)
    return None


def best_route(
    problem: RoutingProblem,
    vehicle: Vehicle,
    stops: Sequence[Stop],
    preferred_lunch_leg: int | None = None,
    earliest_lunch_leg: int = 0,
) -> Route | Infeasible:
    """The sequence timed with the lunch on the preferred leg if that works, else on the leg that ends the day
    first (legs before ``earliest_lunch_leg`` are already driven). Without a lunch there is nothing to choose."""
    if vehicle.lunch is None or not stops:
        return build_route(problem, vehicle, stops, None)
    legs = range(earliest_lunch_leg, len(stops) + 1)
    if preferred_lunch_leg is not None and preferred_lunch_leg in legs:
        found = build_route(problem, vehicle, stops, preferred_lunch_leg)
        if isinstance(found, Route):
            return found
    best: Route | None = None
    least_bad: Infeasible | None = None
    for leg in legs:
        found = build_route(problem, vehicle, stops, leg)
        if isinstance(found, Route):
            if best is None or found.end < best.end:
                best = found
        elif least_bad is None or found.amount < least_bad.amount:
            least_bad = found
    if best is not None:
        return best
    assert least_bad is not None  # legs is never empty: it always holds the way home
    return least_bad


def travel_cost(problem: RoutingProblem, vehicle: Vehicle, stops: Sequence[Stop]) -> int:
    """The objective's travel for the sequence (the lunch never moves the vehicle)."""
    matrix = problem.objective_matrix
    position = vehicle.start_location
    total = 0
    for stop in stops:
        total += matrix[position][stop.location]
        position = stop.location
    return total + matrix[position][DEPOT]
