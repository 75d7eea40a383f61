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
    DEPOT,
    Reload,
    Route,
    RoutingProblem,
    Solution,
    Stop,
    Unplaced,
    UnplacedReason,
    Vehicle,
)
from services.routing.solver.timeline import (
    RELOAD,
    Infeasible,
    Point,
    best_route,
    build_route,
    location_of,
    lunch_leg_of,
    normalised,
    point_index_after,
    points_of,
    stops_of,
    travel_cost,
    trips_of,
)


def repaired_route(
    problem: RoutingProblem,
    vehicle: Vehicle,
    points: Sequence[Point],
    lunch_leg: int | None,
    deadline: float | None = None,
) -> tuple[Route | None, list[Stop]]:
    """The route for ``points`` (lunch preferably on ``lunch_leg``) and the stops it had to shed to be feasible.

    Each round sheds the stop whose removal leaves the route cheapest (or least infeasible): every removal is
    timed with the lunch where it does least harm now, and the few best are timed again with the lunch on any
    leg. Past ``deadline`` (a ``time.perf_counter()`` value) a round sheds the last stop instead."""
    kept = list(points)
    tidy = normalised(vehicle, kept)
    if len(tidy) != len(kept):
        kept, lunch_leg = tidy, None
    dropped: list[Stop] = []
    found = best_route(problem, vehicle, kept, lunch_leg)
    while isinstance(found, Infeasible) and stops_of(kept):
        trials: list[tuple[tuple[int, int], int, list[Point]]] = []
        if deadline is not None and time.perf_counter() > deadline:
            last = max(index for index, point in enumerate(kept) if isinstance(point, Stop))
            trials.append(((0, 0), last, normalised(vehicle, kept[:last] + kept[last + 1 :])))
        else:
            leg = _least_bad_leg(problem, vehicle, kept)
            for index, point in enumerate(kept):
                if isinstance(point, Stop):
                    trial = normalised(vehicle, kept[:index] + kept[index + 1 :])
                    shifted = None if leg is None else min(leg - (index < leg), len(trial))
                    trials.append((_cost(problem, vehicle, trial, shifted), index, trial))
            trials.sort(key=lambda entry: (entry[0], entry[1]))
            trials = [(_cost(problem, vehicle, trial, None), index, trial) for _, index, trial in trials[:3]]
            trials.sort(key=lambda entry: (entry[0], entry[1]))
        _, index, trial = trials[0]
        shed = kept[index]
        assert isinstance(shed, Stop)
        dropped.append(shed)
        kept = trial
        found = best_route(problem, vehicle, kept) if stops_of(kept) else Infeasible("empty", 0, "")
    if not stops_of(kept):
        return None, dropped
    assert isinstance(found, Route)
    return found, dropped


def _cost(problem: RoutingProblem, vehicle: Vehicle, points: Sequence[Point], lunch_leg: int | None) -> tuple[int, int]:
    """How good a repair is: (0, travel) if feasible with the lunch on ``lunch_leg`` (None: on any leg), else
    (1, how far off)."""
    if not stops_of(points):
        return (0, 0)
    if lunch_leg is None or vehicle.lunch is None:
        found = best_route(problem, vehicle, points)
    else:
        found = build_route(problem, vehicle, points, lunch_leg)
    if isinstance(found, Route):
        return (0, travel_cost(problem, vehicle, points))
    return (1, found.amount)


def _least_bad_leg(problem: RoutingProblem, vehicle: Vehicle, points: Sequence[Point]) -> int | None:
    """The leg where the lunch ends the day first, or where the sequence is least infeasible with it."""
    if vehicle.lunch is None:
        return None
    best: tuple[tuple[int, int], int] | None = None
    for leg in range(len(points) + 1):
        found = build_route(problem, vehicle, points, leg)
        rank = (0, found.end) if isinstance(found, Route) else (1, found.amount)
        if best is None or rank < best[0]:
            best = (rank, leg)
    assert best is not None
    return best[1]


def assemble(
    problem: RoutingProblem,
    sequences: Mapping[str, Sequence[Point]],
    lunch_legs: Mapping[str, int | None],
    unplaced: Sequence[Unplaced],
    solver: str,
    started: float,
    notes: Sequence[str] = (),
    deadline: float | None = None,
) -> Solution:
    """Build the Solution from each vehicle's sequence (``lunch_legs``: the leg of it each lunch is on, by the
    solver's reckoning). Required stops in no sequence (or taken off one) and not in ``unplaced`` then go where
    they fit as timed exactly, at their cheapest place among the others (see ``cheapest_insertion``), until
    ``deadline`` (a ``time.perf_counter()`` value; None: no limit, which also bounds the care taken repairing
    routes): the solvers' approximations are cautious (PyVRP's lunch forms and reload hours), so room they did
    not see is used. The rest are reported as ``no_room`` (required) or ``optional_skipped`` (optional)."""
    built: dict[str, Route] = {}
    notes = list(notes)
    listed = {entry.stop_id for entry in unplaced}
    placed: set[str] = set()
    taken_off: dict[str, str] = {}  # stop id -> the vehicle whose route it did not fit
    for vehicle in problem.vehicles:
        points = list(sequences.get(vehicle.id, ()))
        if not stops_of(points):
            continue
        for stop in stops_of(points):
            if stop.id in placed or stop.id in listed:
                raise RuntimeError(f"solver placed stop {stop.id} twice")
            placed.add(stop.id)
        route, dropped = repaired_route(problem, vehicle, points, lunch_legs.get(vehicle.id), deadline)
        if dropped:
            notes.append(
                f"{vehicle.id}: {len(dropped)} stops taken off a route that did not hold up when timed exactly"
            )
        for stop in dropped:
            placed.discard(stop.id)
            taken_off[stop.id] = vehicle.id
        if route is not None:
            built[vehicle.id] = route
    left = [stop for stop in problem.stops if stop.id not in placed and stop.id not in listed]
    put_back = _put_back(problem, built, [stop for stop in left if stop.required], deadline)
    if put_back:
        notes.append(f"{len(put_back)} stops the solver left out fitted in a route as timed exactly and were added")
    left_out = list(unplaced)
    for stop in left:
        if stop.id in put_back:
            continue
        if stop.id in taken_off:
            detail = f"taken off {taken_off[stop.id]}'s route: it did not fit once the route was timed exactly"
            left_out.append(Unplaced(stop.id, UnplacedReason.NO_ROOM, detail))
        elif stop.required:
            detail = "could be served on its own, but no route had room for it"
            left_out.append(Unplaced(stop.id, UnplacedReason.NO_ROOM, detail))
        else:
            left_out.append(Unplaced(stop.id, UnplacedReason.OPTIONAL_SKIPPED, "optional; not worth a place today"))
    routes = [built[vehicle.id] for vehicle in problem.vehicles if vehicle.id in built]
    return solution_of(problem, routes, left_out, solver, time.perf_counter() - started, notes)


def _put_back(
    problem: RoutingProblem, routes: dict[str, Route], stops: Sequence[Stop], deadline: float | None
) -> set[str]:
    """Insert each stop where it costs least (an idle vehicle at its fixed cost), if anywhere and before the
    deadline; the ids placed."""
    placed: set[str] = set()
    for stop in stops:
        best: tuple[int, int, Route] | None = None
        for vehicle in problem.vehicles:
            if not stop.compatible_with(vehicle):
                continue
            found = cheapest_insertion(problem, routes.get(vehicle.id), vehicle, stop, 0, deadline)
            if found is not None and (best is None or found[:2] < best[:2]):
                best = found
        if best is not None:
            routes[best[2].vehicle_id] = best[2]
            placed.add(stop.id)
    return placed


def cheapest_insertion(
    problem: RoutingProblem,
    route: Route | None,
    vehicle: Vehicle,
    stop: Stop,
    done: int,
    deadline: float | None = None,
) -> tuple[int, int, Route] | None:
    """The cheapest feasible route of this vehicle with ``stop`` inserted after its first ``done`` visits, the
    other stops in their order, as (added cost, end, route), or None (also when ``deadline``, a
    ``time.perf_counter()`` value, passes first). Reloads keep their places among the other stops; a vehicle
    with reloads to spare may also go back to load just before the new stop or just after it. Positions where
    the trip's load, the driving limit or the clock already rules the stop out are not timed."""
    current = points_of(problem, route) if route is not None else []
    base = travel_cost(problem, vehicle, current) if current else 0
    fixed = 0 if current else problem.vehicle_fixed_cost
    first = point_index_after(current, done)
    spare = len(current) - len(stops_of(current)) < vehicle.max_reloads
    insertions: list[list[Point]] = [[stop], [RELOAD, stop], [stop, RELOAD]] if spare else [[stop]]
    leaves = _departures(problem, vehicle, route, current)
    latest = max((end for _, end in stop.time_windows), default=-1)
    limit = vehicle.max_driving_seconds
    candidates = []
    for position in range(first, len(current) + 1):
        for inserted in insertions:
            sequence = [*current[:position], *inserted, *current[position:]]
            if len(normalised(vehicle, sequence)) != len(sequence):
                continue  # a reload next to another, or before the way home: the plain insertion does better
            earliest = leaves[position] + _travel_to(problem, current, position, inserted, vehicle)
            if earliest > latest or not _trips_fit(problem, vehicle, sequence):
                continue
            if limit is not None and _driving(problem, vehicle, sequence) > limit:
                continue
            added = travel_cost(problem, vehicle, sequence) - base + fixed
            candidates.append((added, position, len(inserted), sequence))
    candidates.sort(key=lambda candidate: candidate[:3])
    lunch = route.lunch if route is not None else None
    lunch_leg = lunch_leg_of(route) if route is not None else None
    for added, position, count, sequence in candidates:
        if deadline is not None and time.perf_counter() > deadline:
            return None
        if lunch is not None and lunch_leg is not None and lunch.after_visits < done:
            # Already eaten: that leg lies in the completed part, which the insertion does not touch.
            found = build_route(problem, vehicle, sequence, lunch_leg)
        else:
            preferred = None if lunch_leg is None else lunch_leg + count * (lunch_leg >= position)
            found = best_route(problem, vehicle, sequence, preferred, earliest_lunch_leg=first)
        if isinstance(found, Route):
            if route is not None and (
                found.visits[:done] != route.visits[:done]
                or _reloads_before(found, done) != _reloads_before(route, done)
            ):
                raise RuntimeError(f"re-timing {vehicle.id} moved a completed visit; was the plan timed elsewhere?")
            return added, found.end, found
    return None


def _reloads_before(route: Route, done: int) -> list[Reload]:
    return [reload for reload in route.reloads if reload.after_visits < done]


def _departures(problem: RoutingProblem, vehicle: Vehicle, route: Route | None, points: Sequence[Point]) -> list[int]:
    """The earliest the vehicle can leave the point before each position of ``points`` (0: its start) once a stop
    is inserted: as the route is timed now (an insertion delays, never advances, what comes before it), less the
    lunch, which the new route may take later."""
    if route is None:
        return [vehicle.ready_time]
    lunch = vehicle.lunch.duration if vehicle.lunch is not None else 0
    leaves = [vehicle.ready_time]
    visits = iter(route.visits)
    reloads = iter(route.reloads)
    for point in points:
        leaves.append((next(visits).departure if isinstance(point, Stop) else next(reloads).departure) - lunch)
    return leaves


def _travel_to(
    problem: RoutingProblem, points: Sequence[Point], position: int, inserted: Sequence[Point], vehicle: Vehicle
) -> int:
    """The least time from leaving the point before ``position`` to reaching the inserted stop."""
    origin = location_of(points[position - 1]) if position > 0 else vehicle.start_location
    if isinstance(inserted[0], Stop):
        return problem.duration[origin][inserted[0].location]
    stop = inserted[1]
    assert isinstance(stop, Stop)
    return problem.duration[origin][DEPOT] + vehicle.reload_seconds + problem.duration[DEPOT][stop.location]


def _driving(problem: RoutingProblem, vehicle: Vehicle, points: Sequence[Point]) -> int:
    position = vehicle.start_location
    total = 0
    for point in points:
        location = location_of(point)
        total += problem.duration[position][location]
        position = location
    return total + problem.duration[position][DEPOT]


def _trips_fit(problem: RoutingProblem, vehicle: Vehicle, points: Sequence[Point]) -> bool:
    for trip, stops in enumerate(trips_of(points)):
        capacity = vehicle.trip_capacity(trip)
        for d in range(len(problem.dimensions)):
            if sum(stop.demand[d] for stop in stops) > capacity[d]:
                return False
    return True


def put_back_deadline(started: float, time_limit_seconds: float) -> float:
    """Until when assemble() may take care repairing routes and put back stops a solver left out: a tenth of
    the budget (at least 0.2 s) past the budget, which the solver's search uses up."""
    return started + time_limit_seconds + max(0.2, 0.1 * time_limit_seconds)


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
