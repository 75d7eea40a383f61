"""The routing engine: a RoutingProblem solved with PyVRP's iterated local search (Model API, PyVRP 0.14).

How the problem maps onto PyVRP, and why:

- Travel: PyVRP's distance matrix is the problem's objective matrix (travel time for Lucky Gas, distance for
  Solomon) at unit cost, its duration matrix the travel times. The driving limit is PyVRP's ``max_distance``,
  exact only when the objective is travel time (or the two matrices are equal); otherwise it is refused.
- Vehicles: identical vehicles share one vehicle type (``num_available``); the fixed cost is the problem's.
- Compatibility: extra load dimensions. A car-only stop loads one unit of "needs a car", which motorcycles
  carry zero of; a motorcycle-only stop likewise. Load excess is a hard violation, so it is exact, and it needs
  no copies of the distance matrix (the alternative, per-kind routing profiles with huge edges, does).
- Disjoint windows: one client per window in a mutually exclusive client group; the group is required.
- Lunch: PyVRP has no breaks (issues #352, #415). Each stop gets, per lunch class (vehicles sharing a lunch
  window), a "lunch form": the same client with the lunch added to its service and its window narrowed so the
  lunch starts in time, loading one unit of that class's lunch dimension (capacity 1 on those vehicles, 0 on
  the others: at most one lunch per route, only on the right vehicles). A lunch client at the depot (one per
  vehicle) covers lunch before leaving or after coming back. A used vehicle must eat: lunch forms and lunch
  clients carry a prize of two thirds of the vehicle cost (at least four of the longest legs), so skipping a
  lunch costs more than a vehicle nets after its own lunch: leaving lunches out never pays for a vehicle saved,
  and opening a route is never an uphill step (a first version added the prize to the fixed cost and the search
  then seldom opened the route a stop needed). Below twelve longest legs of vehicle cost the lunch prize exceeds
  it, idle vehicles "open" for a lunch alone (such routes are dropped when the plan is read) and fleet size
  weighs less than it should. The plan is then timed exactly by timeline.py, which only moves lunches earlier
  (anywhere on the chosen leg; for a mid-route lunch at the depot this relies on the triangle inequality); a
  route that still lacks a feasible lunch is repaired by assemble.py, which notes it.
- Reloads: a vehicle type that may reload gets a reload depot at the depot's location whose service duration is
  the loading time (PyVRP counts a depot's service when a trip leaves it; the start depot has none) and its
  ``max_reloads``; every load dimension, compatibility and lunch included, resets at a reload. A first trip
  shorter than the capacity (re-planning) is PyVRP's ``initial_load``, what is on board until a depot. As the
  lunch load resets too, a route could eat a lunch on each trip and collect each one's prize (enough, on a
  realistic day, to pay for a vehicle more); the reload depot's opening hours leave out the reloads that could
  lie between two lunches (see _reload_hours), and when reading a route only its first lunch counts.
- Stops that cannot all be served: first every servable required stop is required. If no feasible plan shows
  up within a share of the budget, the rest of it solves the same model with those stops optional at a prize
  above a vehicle plus any detour, so the answer serves what it can. It starts from the candidate that came
  closest to feasible (least penalised at the maximum penalties; the search's own "best" stays its random
  start when nothing is feasible). When totals alone show the fleet cannot carry or serve every stop (e.g.
  more motorcycle-only cylinders than the motorcycles carry), the all-required attempt is skipped. The
  penalty cap is above a stop's prize, so that in the optional model one unit of excess load (a cylinder, a
  motorcycle-only stop on a truck) always costs more than letting the stop go; with the cap below it, the
  fallback never became feasible and returned its (infeasible, random) start for assemble.py to strip.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyvrp
from pyvrp import (
    CostEvaluator,
    IteratedLocalSearch,
    IteratedLocalSearchCallbacks,
    IteratedLocalSearchParams,
    PenaltyManager,
    PenaltyParams,
)
from pyvrp.exceptions import PenaltyBoundWarning
from pyvrp.search import (
    OPERATORS,
    LocalSearch,
    NeighbourhoodParams,
    PerturbationManager,
    PerturbationParams,
    compute_neighbours,
)
from pyvrp.stop import MaxRuntime

from services.routing.solver.assemble import assemble, put_back_deadline
from services.routing.solver.precheck import precheck
from services.routing.solver.problem import DEPOT, LunchBreak, RoutingProblem, Solution, Stop, Vehicle
from services.routing.solver.timeline import RELOAD, Point, merged_windows, stops_of

if TYPE_CHECKING:
    from numpy.typing import NDArray
    from pyvrp.stop import StoppingCriterion

SOLVER_NAME = "pyvrp"
# Share of the budget the all-required attempt gets to find a feasible plan before stops become optional. On six
# synthetic 165-stop days at 2 s, 0.6 left 4 stops out in total where 0.4 left 7 (0.75 did no better than 0.6).
REQUIRED_ATTEMPT_SHARE = 0.6
_INFEASIBLE_COST = np.iinfo(np.int64).max


@dataclass(frozen=True)
class _Form:
    """What one PyVRP client stands for: a stop in one of its windows, with or without a lunch; or a lunch alone
    at the depot (``stop`` None)."""

    stop: Stop | None
    lunch: bool


@dataclass(frozen=True)
class _SearchSettings:
    """Penalties for a second of lateness or a unit of excess load, how hard the search perturbs, and how many
    neighbours of each client the local search tries."""

    initial_penalty: float
    max_penalty: float
    penalty_update_every: int
    max_perturbations: int
    num_neighbours: int


# PyVRP's defaults for problems without a vehicle cost (VRPTW benchmarks), except a granular neighbourhood of 30
# instead of 50: more iterations in a short budget. All 56 Solomon instances at 2 s: mean gap 0.26 % against
# 0.37 % with seed 2, 0.28 % for both with seed 1; on the type-1 instances over three seeds 0.48 % against
# 0.56 %. 20 neighbours helped type 1 but hurt type 2; perturbing less (10) or more (40), or a history of 100 or
# 1,000, was worse.
_BENCHMARK_SEARCH = _SearchSettings(50_000.0, 100_000.0, 500, 25, 30)


def _search_settings(fixed_cost: int, stop_prize: int) -> _SearchSettings:
    """With a large vehicle cost PyVRP's default penalties (capped at 100,000 a unit) make saving a vehicle by a
    few seconds of lateness look cheap, and the search seldom gets feasible on a full day. Penalties starting at
    a tenth of a vehicle, revised every 20 candidates, with lighter perturbations, find a feasible 165-stop day
    within a few tenths of a second (measured on synthetic Taitung days).

    The cap is at least twice a required stop's prize. When stops are optional (the fallback), a stop that
    overloads its route by one unit (one cylinder too many, a motorcycle-only stop on a truck) must cost more
    kept than dropped, or no candidate is ever feasible and the search returns its starting point. A cap of one
    vehicle, just below a stop's prize, did exactly that on a realistic 165-stop day: the plan was the random
    start, stripped by assemble.py, and the motorcycle got no route."""
    settings = _BENCHMARK_SEARCH
    if fixed_cost != 0:
        settings = _SearchSettings(max(fixed_cost / 10, 10_000.0), max(float(fixed_cost), 100_000.0), 20, 10, 50)
    return dataclasses.replace(settings, max_penalty=max(settings.max_penalty, 2.0 * stop_prize))


@dataclass(frozen=True)
class _Built:
    data: pyvrp.ProblemData
    forms: list[_Form]
    type_vehicles: list[list[Vehicle]]
    search: _SearchSettings


class _RequiredAttemptStop:
    """Stop at the deadline, or early once ``give_up_after`` seconds pass without a feasible plan."""

    def __init__(self, budget: float, give_up_after: float) -> None:
        self._budget = budget
        self._give_up_after = give_up_after
        self._started: float | None = None

    def __call__(self, best_cost: int) -> bool:
        if self._started is None:
            self._started = time.perf_counter()
        elapsed = time.perf_counter() - self._started
        return elapsed > self._budget or (elapsed > self._give_up_after and best_cost >= _INFEASIBLE_COST)


def solve(problem: RoutingProblem, time_limit_seconds: float, seed: int = 0) -> Solution:
    """Plan the problem within about ``time_limit_seconds`` (a tenth more at most when stops the search left out
    are put back where they fit); every stop ends up in a route or in ``unplaced``."""
    started = time.perf_counter()
    deadline = started + time_limit_seconds
    servable, unplaced = precheck(problem)
    if not servable or not problem.vehicles:
        return assemble(problem, {}, {}, unplaced, SOLVER_NAME, started)
    notes: list[str] = []
    shortfall = fleet_shortfall(problem, servable)
    warm: pyvrp.Solution | None = None
    best: pyvrp.Solution | None = None
    built = _build(problem, servable, stops_required=True)
    if shortfall is None:
        remaining = max(0.0, deadline - time.perf_counter())
        attempt = _RequiredAttemptStop(remaining, REQUIRED_ATTEMPT_SHARE * time_limit_seconds)
        best, closest = _run(built, attempt, seed, None)
        warm = closest
    if best is None or (not best.is_feasible() and any(stop.required for stop in servable)):
        built = _build(problem, servable, stops_required=False)
        if warm is not None:
            warm = pyvrp.Solution(built.data, [_same_route(built.data, route) for route in warm.routes()])
        remaining = max(0.05, deadline - time.perf_counter())
        best, _ = _run(built, MaxRuntime(remaining), seed, warm)
        if shortfall is not None:
            notes.append(f"not every stop can be served ({shortfall}): stops were let go at a high price")
        else:
            notes.append("no plan served every stop in time: the rest of the budget let stops go at a high price")
    sequences, lunch_legs = _read_routes(built, best)
    put_back_until = put_back_deadline(started, time_limit_seconds)
    return assemble(problem, sequences, lunch_legs, unplaced, SOLVER_NAME, started, notes, put_back_until)


def fleet_shortfall(problem: RoutingProblem, servable: list[Stop]) -> str | None:
    """Why the fleet cannot serve every required stop of ``servable``, judged from totals alone, or None.

    Each kind of stop (motorcycle-only, car-only, all) is weighed against the vehicles it may ride: its demand
    in each dimension against what they carry over all their trips, and its service time against their shifts
    less lunch. These are necessary conditions only; passing them does not make every stop servable. Failing
    one spares the all-required attempt, which could never succeed, its share of the budget.
    """
    required = [stop for stop in servable if stop.required]
    kinds: list[tuple[str, list[Stop], list[Vehicle]]] = [
        (
            "motorcycle-only stops",
            [s for s in required if s.motorcycle_only],
            [v for v in problem.vehicles if v.motorcycle],
        ),
        ("car-only stops", [s for s in required if s.car_only], [v for v in problem.vehicles if not v.motorcycle]),
        ("the stops", required, list(problem.vehicles)),
    ]
    for label, stops, vehicles in kinds:
        if not stops:
            continue
        for d, name in enumerate(problem.dimensions):
            wanted = sum(stop.demand[d] for stop in stops)
            carried = sum(v.trip_capacity(0)[d] + v.max_reloads * v.capacity[d] for v in vehicles)
            if wanted > carried:
                return f"{label} need {wanted} {name}; the vehicles they may ride carry {carried}"
        work = sum(stop.service_seconds for stop in stops)
        shifts = sum(
            max(0, v.shift_end - v.ready_time - (v.lunch.duration if v.lunch is not None else 0)) for v in vehicles
        )
        if work > shifts:
            return f"{label} need {work}s of service; the shifts of the vehicles they may ride hold {shifts}s"
    return None


class _ClosestToFeasible(IteratedLocalSearchCallbacks):
    """Keeps the candidate with the least penalised cost at fixed penalties. When no candidate is feasible the
    search's best stays its starting point (a random plan); this one is the better start for the fallback."""

    def __init__(self, evaluator: CostEvaluator, start: pyvrp.Solution) -> None:
        self._evaluator = evaluator
        self.solution = start
        self._cost = evaluator.penalised_cost(start)

    def on_iteration(
        self,
        current: pyvrp.Solution,
        candidate: pyvrp.Solution,
        best: pyvrp.Solution,
        cost_evaluator: CostEvaluator,
    ) -> None:
        cost = self._evaluator.penalised_cost(candidate)
        if cost < self._cost:
            self.solution, self._cost = candidate, cost


def _run(
    built: _Built, stop: StoppingCriterion, seed: int, initial: pyvrp.Solution | None
) -> tuple[pyvrp.Solution, pyvrp.Solution]:
    """pyvrp.solve's loop (solve.py), with our penalties and perturbation strength instead of its fixed ones.
    Returns the best feasible plan (or the start, if none was) and the candidate closest to feasible."""
    data, settings = built.data, built.search
    rng = pyvrp.RandomNumberGenerator(seed=seed)
    perturbation = PerturbationManager(PerturbationParams(1, settings.max_perturbations))
    search = LocalSearch(
        data, rng, compute_neighbours(data, NeighbourhoodParams(num_neighbours=settings.num_neighbours)), perturbation
    )
    for operator in OPERATORS:
        if operator.supports(data):
            search.add_operator(operator(data))
    params = PenaltyParams(
        solutions_between_updates=settings.penalty_update_every,
        max_penalty=settings.max_penalty,
    )
    start = settings.initial_penalty
    penalties = PenaltyManager(([start] * data.num_load_dimensions, start, start), params)
    if initial is None:
        initial = search(pyvrp.Solution.make_random(data, rng), penalties.max_cost_evaluator(), exhaustive=True)
    closest = _ClosestToFeasible(penalties.max_cost_evaluator(), initial)
    algorithm = IteratedLocalSearch(data, penalties, search, initial, IteratedLocalSearchParams(callbacks=closest))
    with warnings.catch_warnings():
        # Penalties at their bound mean no plan serves every required stop; solve() handles that itself.
        warnings.simplefilter("ignore", PenaltyBoundWarning)
        best = algorithm.run(stop, collect_stats=False).best
    return best, closest.solution


def _same_route(data: pyvrp.ProblemData, route: pyvrp.Route) -> pyvrp.Route:
    """The route in another model with the same clients and depots (its start and end depots implied)."""
    inner = [pyvrp.Activity(activity.type, activity.idx) for activity in list(route)[1:-1]]
    return pyvrp.Route(data, inner, route.vehicle_type())


def _prizes(problem: RoutingProblem, servable: list[Stop]) -> tuple[int, int]:
    """The prize of a required stop (above a vehicle plus any detour it causes) and of a lunch (above a stop)."""
    matrix = problem.objective_matrix
    locations = {DEPOT, *(stop.location for stop in servable), *(v.start_location for v in problem.vehicles)}
    longest = max(matrix[a][b] for a in locations for b in locations)
    stop_prize = problem.vehicle_fixed_cost + 4 * longest + 1
    return stop_prize, max(-(-2 * problem.vehicle_fixed_cost // 3), 4 * longest + 1)


def _driving_limit_is_exact(problem: RoutingProblem) -> bool:
    return problem.objective == "duration" or all(
        list(row_a) == list(row_b) for row_a, row_b in zip(problem.duration, problem.distance, strict=True)
    )


def _build(problem: RoutingProblem, servable: list[Stop], stops_required: bool) -> _Built:
    stop_prize, lunch_prize = _prizes(problem, servable)
    width = len(problem.dimensions)
    needs_car = any(stop.car_only for stop in servable)
    needs_motorcycle = any(stop.motorcycle_only for stop in servable)
    lunch_classes: list[LunchBreak] = []
    for vehicle in problem.vehicles:
        if vehicle.lunch is not None and vehicle.lunch not in lunch_classes:
            lunch_classes.append(vehicle.lunch)
    extra = int(needs_car) + int(needs_motorcycle)
    plenty = len(servable) + 1

    def delivery(stop: Stop | None, lunch_class: int | None) -> list[int]:
        amounts = list(stop.demand) if stop is not None else [0] * width
        if needs_car:
            amounts.append(int(stop is not None and stop.car_only))
        if needs_motorcycle:
            amounts.append(int(stop is not None and stop.motorcycle_only))
        amounts.extend(int(index == lunch_class) for index in range(len(lunch_classes)))
        return amounts

    model = pyvrp.Model()
    locations = [model.add_location(x=0, y=0) for _ in range(len(problem.duration))]
    horizon = max(vehicle.shift_end for vehicle in problem.vehicles)
    depot = model.add_depot(locations[DEPOT], tw_late=horizon, name="depot")
    start_depots = {DEPOT: depot}
    enforce_driving = _driving_limit_is_exact(problem)

    groups: dict[tuple[object, ...], list[Vehicle]] = {}
    for vehicle in problem.vehicles:
        key = (
            vehicle.capacity,
            vehicle.motorcycle,
            vehicle.lunch,
            vehicle.max_driving_seconds,
            vehicle.start_location,
            vehicle.ready_time,
            vehicle.shift_end,
            vehicle.max_reloads,
            vehicle.reload_seconds,
            vehicle.first_trip_capacity,
        )
        groups.setdefault(key, []).append(vehicle)
    type_vehicles = list(groups.values())
    reload_depots: dict[tuple[int, int, int], pyvrp.Depot] = {}  # by (loading time, opening hours)
    for vehicles in type_vehicles:
        vehicle = vehicles[0]
        if vehicle.start_location not in start_depots:
            start_depots[vehicle.start_location] = model.add_depot(
                locations[vehicle.start_location], tw_late=horizon, name=f"start of {vehicle.id}"
            )
        reload_at: list[pyvrp.Depot] = []
        for opens, closes in _reload_hours(vehicle, horizon):
            hours = (vehicle.reload_seconds, opens, closes)
            if hours not in reload_depots:
                reload_depots[hours] = model.add_depot(
                    locations[DEPOT],
                    tw_early=opens,
                    tw_late=closes,
                    service_duration=vehicle.reload_seconds,
                    name=f"reload ({vehicle.reload_seconds}s, {opens}..{closes})",
                )
            reload_at.append(reload_depots[hours])
        on_board: list[int] = []
        if vehicle.first_trip_capacity is not None:
            # What it can still deliver before reloading: the rest is PyVRP's load on board until a depot.
            on_board = [full - left for full, left in zip(vehicle.capacity, vehicle.first_trip_capacity, strict=True)]
            on_board.extend([0] * (extra + len(lunch_classes)))
        capacity = list(vehicle.capacity)
        if needs_car:
            capacity.append(0 if vehicle.motorcycle else plenty)
        if needs_motorcycle:
            capacity.append(plenty if vehicle.motorcycle else 0)
        capacity.extend(int(vehicle.lunch == lunch) for lunch in lunch_classes)
        limit = vehicle.max_driving_seconds
        if limit is not None and not enforce_driving and limit < vehicle.shift_end - vehicle.ready_time:
            raise NotImplementedError("a driving limit needs the objective to be travel time (objective='duration')")
        model.add_vehicle_type(
            num_available=len(vehicles),
            capacity=capacity,
            start_depot=start_depots[vehicle.start_location],
            end_depot=depot,
            fixed_cost=problem.vehicle_fixed_cost,
            tw_early=vehicle.ready_time,
            tw_late=vehicle.shift_end,
            max_distance=limit if limit is not None and enforce_driving else np.iinfo(np.int64).max,
            initial_load=on_board,
            reload_depots=reload_at,
            max_reloads=vehicle.max_reloads,
            name=",".join(v.id for v in vehicles),
        )

    forms: list[_Form] = []
    for stop in servable:
        classes = [
            index
            for index, lunch in enumerate(lunch_classes)
            if any(v.lunch == lunch and stop.compatible_with(v) for v in problem.vehicles)
        ]
        options: list[tuple[int, int, int | None]] = []  # (earliest start, latest start, lunch class)
        for start, end in merged_windows(stop):
            options.append((start, end, None))
            for index in classes:
                lunch = lunch_classes[index]
                early = max(start, lunch.earliest_start - stop.service_seconds)
                late = min(end, lunch.latest_start - stop.service_seconds)
                if early <= late:
                    options.append((early, late, index))
        required = stop.required and stops_required
        base_prize = 0 if required else (stop_prize if stop.required else stop.prize)
        group = None
        if len(options) > 1:
            group = model.add_client_group(required=required, name=stop.id)
        for early, late, lunch_class in options:
            has_lunch = lunch_class is not None
            extra_service = lunch_classes[lunch_class].duration if lunch_class is not None else 0
            model.add_client(
                locations[stop.location],
                delivery=delivery(stop, lunch_class),
                service_duration=stop.service_seconds + extra_service,
                tw_early=early,
                tw_late=late,
                prize=base_prize + (lunch_prize if has_lunch else 0),
                required=required and group is None,
                group=group,
                name=stop.id,
            )
            forms.append(_Form(stop, has_lunch))
    for vehicle in problem.vehicles:
        if vehicle.lunch is None:
            continue
        lunch = vehicle.lunch
        model.add_client(
            locations[DEPOT],
            delivery=delivery(None, lunch_classes.index(lunch)),
            service_duration=lunch.duration,
            tw_early=lunch.earliest_start,
            tw_late=lunch.latest_start,
            prize=lunch_prize,
            required=False,
            name=f"lunch {vehicle.id}",
        )
        forms.append(_Form(None, True))

    # The Model builds its matrices edge by edge in Python; handing it whole arrays keeps a 200-stop day cheap.
    distance: NDArray[np.int64] = np.array(problem.objective_matrix, dtype=np.int64)
    duration: NDArray[np.int64] = np.array(problem.duration, dtype=np.int64)
    np.fill_diagonal(distance, 0)
    np.fill_diagonal(duration, 0)
    # PyVRP's stub types a matrix as np.ndarray[int], which no real array matches.
    data = model.data().replace(distance_matrices=[distance], duration_matrices=[duration])  # type: ignore[list-item]
    assert data.num_load_dimensions == width + extra + len(lunch_classes)
    return _Built(data, forms, type_vehicles, _search_settings(problem.vehicle_fixed_cost, stop_prize))


def _reload_hours(vehicle: Vehicle, horizon: int) -> list[tuple[int, int]]:
    """When the vehicle's reloads may begin, as PyVRP depot opening hours (none if it does not reload).

    The lunch load resets at a reload like every load, so a route could eat a lunch, reload and eat another,
    collecting two lunch prizes (enough to pay for a vehicle that serves little). That needs a reload arriving
    after the earliest lunch could end and leaving before the latest lunch could start: such reloads are cut
    out of the opening hours (arriving in the gap, the vehicle waits, at most the loading time, which
    timeline.py then gives back). Without room for a reload between two lunches nothing is cut."""
    if vehicle.max_reloads == 0:
        return []
    lunch = vehicle.lunch
    if lunch is None:
        return [(0, horizon)]
    first_free = lunch.earliest_start + lunch.duration  # the earliest a reload can follow a lunch
    last_useful = lunch.latest_start - vehicle.reload_seconds  # the latest a reload can precede one
    if first_free > last_useful:
        return [(0, horizon)]
    return [(0, first_free - 1), (last_useful + 1, horizon)]


def _read_routes(built: _Built, best: pyvrp.Solution) -> tuple[dict[str, list[Point]], dict[str, int | None]]:
    """Each vehicle's stops and reloads in order, and the leg its lunch is on (PyVRP routes are per type: hand
    them out). The lunch load resets with every reload, so a route may hold a lunch on each trip; the first one
    counts and later lunch forms are plain visits (timeline.py times one lunch a day)."""
    free = [list(vehicles) for vehicles in built.type_vehicles]
    sequences: dict[str, list[Point]] = {}
    lunch_legs: dict[str, int | None] = {}
    for route in best.routes():
        points: list[Point] = []
        lunch_leg: int | None = None
        for activity in list(route)[1:-1]:
            if activity.is_depot():
                points.append(RELOAD)
                continue
            form = built.forms[activity.idx]
            if form.stop is not None:
                points.append(form.stop)
            if form.lunch and lunch_leg is None:
                lunch_leg = len(points)
        if not stops_of(points):
            continue
        vehicle = free[route.vehicle_type()].pop(0)
        sequences[vehicle.id] = points
        lunch_legs[vehicle.id] = lunch_leg
    return sequences, lunch_legs
