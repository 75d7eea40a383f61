"""Turn the sequences a solver chose into a Solution: timed by timeline.py, repaired if a route does not hold up.

Solvers work on their own approximations (PyVRP's lunch forms, OR-Tools' break intervals); the Solution is what
timeline.py makes of their sequences (stops, and reloads where the vehicle goes back to the depot). Should a
sequence not be drivable under those exact rules, stops come off it one at a time (whichever leaves the route
cheapest or least late) and are reported as ``no_room`` rather than handing out an infeasible route; a reload
left with nothing to load for goes too. Every stop the solver did not place is listed with its reason.
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
from services.routing.solver.timeline import (
    Infeasible,
    Point,
    best_route,
    normalised,
    points_of,
    stops_of,
    travel_cost,
)


def repaired_route(
    problem: RoutingProblem, vehicle: Vehicle, points: Sequence[Point], lunch_leg: int | None
) -> tuple[Route | None, list[Stop]]:
    """The route for ``points`` (lunch preferably on ``lunch_leg``) and the stops it had to shed to be feasible."""
    kept = list(points)
    tidy = normalised(vehicle, kept)
    if len(tidy) != len(kept):
        kept, lunch_leg = tidy, None
    dropped: list[Stop] = []
    found = best_route(problem, vehicle, kept, lunch_leg)
    while isinstance(found, Infeasible) and stops_of(kept):
        best_cost: tuple[int, int] | None = None
        best_trial: list[Point] = []
        best_stop: Stop | None = None
        best_found: Route | Infeasible = found
        for index, point in enumerate(kept):
            if not isinstance(point, Stop):
                continue
            trial = normalised(vehicle, kept[:index] + kept[index + 1 :])
            if not stops_of(trial):
                trial_found: Route | Infeasible = Infeasible("empty", 0, "")
                cost = (0, 0)
            else:
                trial_found = best_route(problem, vehicle, trial)
                if isinstance(trial_found, Route):
                    cost = (0, travel_cost(problem, vehicle, trial))
                else:
                    cost = (1, trial_found.amount)
            if best_cost is None or cost < best_cost:
                best_cost, best_trial, best_stop, best_found = cost, trial, point, trial_found
        assert best_stop is not None  # kept has a stop
        dropped.append(best_stop)
        kept, found = best_trial, best_found
    if not stops_of(kept):
        return None, dropped
    assert isinstance(found, Route)
    return found, dropped


def assemble(
    problem: RoutingProblem,
    sequences: Mapping[str, Sequence[Point]],
    lunch_legs: Mapping[str, int | None],
    unplaced: Sequence[Unplaced],
    solver: str,
    started: float,
    notes: Sequence[str] = (),
) -> Solution:
    """Build the Solution from each vehicle's sequence (``lunch_legs``: the leg of it each lunch is on, by the
    solver's reckoning); stops in no sequence and not in ``unplaced`` are reported as ``no_room`` (required) or
    ``optional_skipped`` (optional)."""
    routes: list[Route] = []
    notes = list(notes)
    listed = {entry.stop_id for entry in unplaced}
    left_out = list(unplaced)
    placed: set[str] = set()
    for vehicle in problem.vehicles:
        points = list(sequences.get(vehicle.id, ()))
        if not stops_of(points):
            continue
        for stop in stops_of(points):
            if stop.id in placed or stop.id in listed:
                raise RuntimeError(f"solver placed stop {stop.id} twice")
            placed.add(stop.id)
        route, dropped = repaired_route(problem, vehicle, points, lunch_legs.get(vehicle.id))
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
    travel = sum(travel_cost(problem, problem.vehicle(route.vehicle_id), points_of(problem, route)) for route in routes)
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
