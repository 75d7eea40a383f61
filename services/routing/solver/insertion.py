"""Changing a running plan: one urgent stop inserted without disturbing it, or the rest of the day re-planned.

``insert_urgent`` is the dispatcher's quick answer: the cheapest place for the new stop that keeps every
completed visit where it was and the other stops in their order (drivers have their lists), on any trip of a
vehicle that reloads (its reloads stay where they are; one with reloads to spare may add one for it). ``replan_problem``
is the bigger hammer: the problem of what is left of the day, each vehicle starting where it is, to hand to a
solver.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping

from services.platform.errors import FieldViolation, InvalidArgument
from services.routing.solver.assemble import cheapest_insertion, solution_of
from services.routing.solver.precheck import stop_reason
from services.routing.solver.problem import (
    DEPOT,
    LunchBreak,
    Route,
    RoutingProblem,
    Solution,
    Stop,
    Unplaced,
    UnplacedReason,
    Vehicle,
)
from services.routing.solver.timeline import (
    point_index_after,
    points_of,
)


def insert_urgent(problem: RoutingProblem, solution: Solution, stop: Stop, frozen: Mapping[str, int]) -> Solution:
    """Place ``stop`` at its cheapest feasible position: after each vehicle's ``frozen[vehicle_id]`` completed
    visits, the others kept in order (an idle vehicle may take it alone, at the fixed cost). The result is a
    Solution of ``problem.with_stop(stop)``; if no position works the stop is unplaced with its reason."""
    started = time.perf_counter()
    extended = problem.with_stop(stop)
    _check_frozen(extended, solution, frozen)
    if stop.id in solution.served_stop_ids():
        raise InvalidArgument.for_field("stop", f"{stop.id} is already on a route")
    others = [entry for entry in solution.unplaced if entry.stop_id != stop.id]
    solver = f"{solution.solver}+urgent"

    reason = stop_reason(extended, stop)
    if reason is not None:
        return solution_of(extended, solution.routes, [*others, reason], solver, time.perf_counter() - started)

    best: tuple[int, int, Route] | None = None
    for vehicle in extended.vehicles:
        if not stop.compatible_with(vehicle):
            continue
        found = cheapest_insertion(extended, solution.route_of(vehicle.id), vehicle, stop, frozen.get(vehicle.id, 0))
        if found is not None and (best is None or found[:2] < best[:2]):
            best = found
    if best is None:
        detail = "no route takes it without moving completed visits or reordering the others"
        others.append(Unplaced(stop.id, UnplacedReason.NO_ROOM, detail))
        return solution_of(extended, solution.routes, others, solver, time.perf_counter() - started)
    chosen = best[2]
    routes = [route for route in solution.routes if route.vehicle_id != chosen.vehicle_id]
    routes.append(chosen)
    order = {vehicle.id: number for number, vehicle in enumerate(extended.vehicles)}
    routes.sort(key=lambda route: order[route.vehicle_id])
    return solution_of(extended, routes, others, solver, time.perf_counter() - started)


def replan_problem(
    problem: RoutingProblem, solution: Solution, now: int, completed: Mapping[str, int]
) -> RoutingProblem:
    """The rest of the day as a new problem: completed stops gone; each vehicle that has completed visits starts
    at its last one, at max(now, its departure), with what it delivered since it last loaded off its first
    trip's capacity (``first_trip_capacity``; a reload restores the full capacity), the reloads it made off its
    reloads, and what it drove off its driving limit; the others start where they would have, no earlier than
    now. A reload counts as made once a visit after it is completed. A lunch already eaten is dropped; one whose
    window has passed uneaten is due as soon as the vehicle is free (the driver still eats)."""
    _check_frozen(problem, solution, completed)
    done_ids: set[str] = set()
    vehicles: list[Vehicle] = []
    for vehicle in problem.vehicles:
        route = solution.route_of(vehicle.id)
        count = completed.get(vehicle.id, 0)
        if route is None or count == 0:
            available = max(now, vehicle.ready_time)
            lunch = _lunch_left(vehicle.lunch, available)
            vehicles.append(dataclasses.replace(vehicle, available_from=available, lunch=lunch))
            continue
        visits = route.visits[:count]
        done_ids.update(visit.stop_id for visit in visits)
        points = points_of(problem, route)
        driven = 0
        position = vehicle.start_location
        for point in points[: point_index_after(points, count)]:
            location = point.location if isinstance(point, Stop) else DEPOT
            driven += problem.duration[position][location]
            position = location
        reloaded = [reload for reload in route.reloads if reload.after_visits < count]
        since = reloaded[-1].after_visits if reloaded else 0
        held = vehicle.capacity if reloaded else vehicle.trip_capacity(0)
        delivered = [sum(problem.stop(visit.stop_id).demand[d] for visit in visits[since:]) for d in range(len(held))]
        eaten = route.lunch is not None and route.lunch.after_visits < count
        available = max(now, visits[-1].departure)
        limit = vehicle.max_driving_seconds
        vehicles.append(
            dataclasses.replace(
                vehicle,
                first_trip_capacity=tuple(max(0, have - gone) for have, gone in zip(held, delivered, strict=True)),
                max_reloads=max(0, vehicle.max_reloads - len(reloaded)),
                start_location=position,
                available_from=available,
                max_driving_seconds=None if limit is None else max(0, limit - driven),
                lunch=None if eaten else _lunch_left(vehicle.lunch, available),
            )
        )
    return dataclasses.replace(
        problem,
        stops=tuple(stop for stop in problem.stops if stop.id not in done_ids),
        vehicles=tuple(vehicles),
    )


def _lunch_left(lunch: LunchBreak | None, available: int) -> LunchBreak | None:
    if lunch is None or available <= lunch.latest_start:
        return lunch
    return LunchBreak(max(lunch.earliest_start, available), available, lunch.duration)


def _check_frozen(problem: RoutingProblem, solution: Solution, counts: Mapping[str, int]) -> None:
    found: list[FieldViolation] = []
    for vehicle_id, count in counts.items():
        if vehicle_id not in {vehicle.id for vehicle in problem.vehicles}:
            found.append(FieldViolation(f"completed[{vehicle_id}]", "no such vehicle"))
            continue
        route = solution.route_of(vehicle_id)
        length = len(route.visits) if route is not None else 0
        if not 0 <= count <= length:
            found.append(FieldViolation(f"completed[{vehicle_id}]", f"must be within 0..{length}"))
    if found:
        raise InvalidArgument.from_violations(found)
