"""Turn the sequences a solver chose into a Solution: timed by timeline.py, repaired if a route does not hold up.

Solvers work on their own approximations (PyVRP's lunch forms, OR-Tools' break intervals); the Solution is what
timeline.py makes of their sequences. Should a sequence not be drivable under those exact rules, stops come off
it one at a time (whichever leaves the route cheapest or least late) and are reported as ``no_room`` rather
than handing out an infeasible route. Every stop the solver did not place is listed with its reason.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from services.routing.solver.problem import (
    Route,
    RoutingProblem,
    Solution,
    Stop,
    Unplaced,
    UnplacedReason,
    Vehicle,
)
from services.routing.solver.timeline import Infeasible, best_route, travel_cost


def repaired_route(
    problem: RoutingProblem, vehicle: Vehicle, stops: Sequence[Stop], lunch_leg: int | None
) -> tuple[Route | None, list[Stop]]:
    """The route for ``stops`` (lunch preferably on ``lunch_leg``) and the stops it had to shed to be feasible."""
    kept = list(stops)
    dropped: list[Stop] = []
    found = best_route(problem, vehicle, kept, lunch_leg)
    while isinstance(found, Infeasible) and kept:
        best_cost: tuple[int, int] | None = None
        best_index = 0
        best_found: Route | Infeasible = found
        for index in range(len(kept)):
            trial = kept[:index] + kept[index + 1 :]
            if not trial:
                trial_found: Route | Infeasible = Infeasible("empty", 0, "")
                cost = (0, 0)
            else:
                trial_found = best_route(problem, vehicle, trial)
                if isinstance(trial_found, Route):
                    cost = (0, travel_cost(problem, vehicle, trial))
                else:
                    cost = (1, trial_found.amount)
            if best_cost is None or cost < best_cost:
                best_cost, best_index, best_found = cost, index, trial_found
        dropped.append(kept.pop(best_index))
        found = best_found
    if not kept:
        return None, dropped
    assert isinstance(found, Route)
    return found, dropped


def assemble(
    problem: RoutingProblem,
    sequences: Mapping[str, Sequence[Stop]],
    lunch_legs: Mapping[str, int | None],
    unplaced: Sequence[Unplaced],
    solver: str,
    started: float,
    notes: Sequence[str] = (),
) -> Solution:
    """Build the Solution from each vehicle's sequence; stops in no sequence and not in ``unplaced`` are reported
    as ``no_room`` (required) or ``optional_skipped`` (optional)."""
    routes: list[Route] = []
    notes = list(notes)
    listed = {entry.stop_id for entry in unplaced}
    left_out = list(unplaced)
    placed: set[str] = set()
    for vehicle in problem.vehicles:
        stops = list(sequences.get(vehicle.id, ()))
        if not stops:
            continue
        for stop in stops:
            if stop.id in placed or stop.id in listed:
                raise RuntimeError(f"solver placed stop {stop.id} twice")
            placed.add(stop.id)
        route, dropped = repaired_route(problem, vehicle, stops, lunch_legs.get(vehicle.id))
        if dropped:
            notes.append(
                f"{vehicle.id}: {len(dropped)} stops taken off a route that did not hold up when timed exactly"
            )
        for stop in dropped:
            placed.discard(stop.id)
            detail = f"taken off {vehicle.id}'s route: it did not fit once the route was timed exactly"
            left_out.append(Unplaced(stop.id, UnplacedReason.NO_ROOM, detail))
            listed.add(stop.id)
        if route is not None:
            routes.append(route)
    for stop in problem.stops:
        if stop.id in placed or stop.id in listed:
            continue
        if stop.required:
            detail = "could be served on its own, but no route had room for it"
            left_out.append(Unplaced(stop.id, UnplacedReason.NO_ROOM, detail))
        else:
            left_out.append(Unplaced(stop.id, UnplacedReason.OPTIONAL_SKIPPED, "optional; not worth a place today"))
    return solution_of(problem, routes, left_out, solver, time.perf_counter() - started, notes)


def solution_of(
    problem: RoutingProblem,
    routes: Sequence[Route],
    unplaced: Sequence[Unplaced],
    solver: str,
    runtime_seconds: float,
    notes: Sequence[str] = (),
) -> Solution:
    """A Solution with its totals and objective computed from the routes."""
    matrix = problem.objective_matrix
    travel = 0
    for route in routes:
        vehicle = problem.vehicle(route.vehicle_id)
        position = vehicle.start_location
        for visit in route.visits:
            location = problem.stop(visit.stop_id).location
            travel += matrix[position][location]
            position = location
        travel += matrix[position][0]
    used = len(routes)
    return Solution(
        routes=tuple(routes),
        unplaced=tuple(unplaced),
        objective=problem.vehicle_fixed_cost * used + travel,
        total_distance=sum(route.distance for route in routes),
        total_duration=sum(route.duration for route in routes),
        total_driving_seconds=sum(route.driving_seconds for route in routes),
        vehicles_used=used,
        solver=solver,
        runtime_seconds=runtime_seconds,
        notes=tuple(notes),
    )
