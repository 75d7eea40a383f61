"""The comparison solver: the same RoutingProblem solved with OR-Tools' routing library (guided local search).

The model is the textbook one: a time dimension (service + travel) whose cumul is the service start, limited to
the union of the stop's windows (the gaps between windows are removed from its domain, which is exact); one
dimension per capacity; a driving dimension that sums travel only; the lunch as a break interval on the time
dimension (OR-Tools' own break model: not during a service, anywhere between); allowed vehicles per stop for
compatibility; a fixed cost per vehicle used; every stop in a disjunction whose penalty (a required stop's is
above a vehicle plus any detour) lets the search leave out what cannot fit. The sequences it finds are timed by
timeline.py, like PyVRP's, so both solvers' plans read (and are checked) the same way.

Reloads follow OR-Tools' cvrp_reload sample: a vehicle that may reload r times gets r optional nodes of its own
at the depot (free to leave out), whose service is the loading time and whose demand is minus the vehicle's
capacity in every load dimension, with the load dimensions' slack (zero everywhere else) free there, so the load
may drop back to zero. A first trip shorter than the capacity (re-planning) starts the load at the difference.
"""

from __future__ import annotations

import itertools
import time

# OR-Tools ships .pyi files but no py.typed marker.
from ortools.constraint_solver import pywrapcp, routing_enums_pb2  # type: ignore[import-untyped]

from services.routing.solver.assemble import assemble, put_back_deadline
from services.routing.solver.precheck import precheck
from services.routing.solver.problem import DEPOT, RoutingProblem, Solution, Stop, Vehicle
from services.routing.solver.timeline import RELOAD, Point, merged_windows, stops_of

SOLVER_NAME = "ortools"


def solve(problem: RoutingProblem, time_limit_seconds: float, seed: int = 0) -> Solution:
    """Plan the problem within about ``time_limit_seconds`` (a tenth more at most when stops the search left out
    are put back where they fit). OR-Tools' search is deterministic; ``seed`` is accepted for the common
    signature and ignored."""
    del seed
    started = time.perf_counter()
    servable, unplaced = precheck(problem)
    vehicles = problem.vehicles
    if not servable or not vehicles:
        return assemble(problem, {}, {}, unplaced, SOLVER_NAME, started)

    # Nodes: the depot, one per servable stop, one start node per vehicle that starts elsewhere, then the
    # reload nodes (at the depot, each for one vehicle).
    locations = [DEPOT, *(stop.location for stop in servable)]
    service = [0, *(stop.service_seconds for stop in servable)]
    starts: list[int] = []
    for vehicle in vehicles:
        if vehicle.start_location == DEPOT:
            starts.append(0)
        else:
            starts.append(len(locations))
            locations.append(vehicle.start_location)
            service.append(0)
    reload_owner: dict[int, int] = {}  # reload node -> vehicle number
    for number, vehicle in enumerate(vehicles):
        for _ in range(vehicle.max_reloads):
            reload_owner[len(locations)] = number
            locations.append(DEPOT)
            service.append(vehicle.reload_seconds)
    manager = pywrapcp.RoutingIndexManager(len(locations), len(vehicles), starts, [0] * len(vehicles))
    routing = pywrapcp.RoutingModel(manager)

    duration, objective = problem.duration, problem.objective_matrix
    travel = [[duration[a][b] for b in locations] for a in locations]
    cost = routing.RegisterTransitMatrix([[objective[a][b] for b in locations] for a in locations])
    routing.SetArcCostEvaluatorOfAllVehicles(cost)
    for number in range(len(vehicles)):
        routing.SetFixedCostOfVehicle(problem.vehicle_fixed_cost, number)

    horizon = max(vehicle.shift_end for vehicle in vehicles)
    timed = routing.RegisterTransitMatrix(
        [[service[a] + travel[a][b] for b in range(len(locations))] for a in range(len(locations))]
    )
    routing.AddDimension(timed, horizon, horizon, False, "time")
    clock = routing.GetDimensionOrDie("time")
    driving = routing.RegisterTransitMatrix(travel)
    limits = [
        vehicle.max_driving_seconds if vehicle.max_driving_seconds is not None else horizon for vehicle in vehicles
    ]
    routing.AddDimensionWithVehicleCapacity(driving, 0, limits, True, "driving")
    for dimension, name in enumerate(problem.dimensions):
        amounts = [0] * len(locations)
        for node, stop in enumerate(servable, start=1):
            amounts[node] = stop.demand[dimension]
        for node, number in reload_owner.items():
            amounts[node] = -vehicles[number].capacity[dimension]
        demand = routing.RegisterUnaryTransitVector(amounts)
        capacities = [vehicle.capacity[dimension] for vehicle in vehicles]
        slack = max(capacities) if reload_owner else 0
        routing.AddDimensionWithVehicleCapacity(demand, slack, capacities, False, f"load {name}")
        load = routing.GetDimensionOrDie(f"load {name}")
        for number, vehicle in enumerate(vehicles):
            load.CumulVar(routing.Start(number)).SetValue(
                vehicle.capacity[dimension] - vehicle.trip_capacity(0)[dimension]
            )
        if reload_owner:
            for index in range(routing.Size()):
                if manager.IndexToNode(index) not in reload_owner:
                    load.SlackVar(index).SetValue(0)

    for node, number in reload_owner.items():
        index = manager.NodeToIndex(node)
        routing.VehicleVar(index).SetValues([-1, number])
        routing.AddDisjunction([index], 0)

    stop_penalty = _stop_penalty(problem, servable)
    usable = [number for number, vehicle in enumerate(vehicles) if _lunch_fits(vehicle)]
    for node, stop in enumerate(servable, start=1):
        index = manager.NodeToIndex(node)
        windows = merged_windows(stop)
        cumul = clock.CumulVar(index)
        cumul.SetRange(windows[0][0], windows[-1][1])
        for (_, closes), (opens, _) in itertools.pairwise(windows):
            cumul.RemoveInterval(closes + 1, opens - 1)
        barred = [n for n, vehicle in enumerate(vehicles) if n not in usable or not stop.compatible_with(vehicle)]
        if barred:
            routing.VehicleVar(index).RemoveValues(barred)
        routing.AddDisjunction([index], stop_penalty if stop.required else stop.prize)

    solver = routing.solver()
    visit_transits = [service[manager.IndexToNode(index)] for index in range(routing.Size())]
    for number, vehicle in enumerate(vehicles):
        start, end = clock.CumulVar(routing.Start(number)), clock.CumulVar(routing.End(number))
        start.SetRange(vehicle.ready_time, vehicle.shift_end)
        end.SetRange(vehicle.ready_time, vehicle.shift_end)
        routing.AddVariableMaximizedByFinalizer(start)
        routing.AddVariableMinimizedByFinalizer(end)
        lunch = vehicle.lunch
        if lunch is not None and number in usable:
            earliest = max(lunch.earliest_start, vehicle.ready_time)
            latest = min(lunch.latest_start, vehicle.shift_end - lunch.duration)
            interval = solver.FixedDurationIntervalVar(earliest, latest, lunch.duration, False, f"lunch {vehicle.id}")
            clock.SetBreakIntervalsOfVehicle([interval], number, visit_transits)

    parameters = pywrapcp.DefaultRoutingSearchParameters()
    parameters.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PARALLEL_CHEAPEST_INSERTION
    parameters.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    remaining = max(0.05, time_limit_seconds - (time.perf_counter() - started))
    parameters.time_limit.FromMilliseconds(int(remaining * 1000))
    assignment = routing.SolveWithParameters(parameters)

    sequences: dict[str, list[Point]] = {}
    notes: list[str] = []
    if assignment is None:
        notes.append(f"OR-Tools found no solution (status {routing.status()})")
    else:
        for number, vehicle in enumerate(vehicles):
            index = assignment.Value(routing.NextVar(routing.Start(number)))
            points: list[Point] = []
            while not routing.IsEnd(index):
                node = manager.IndexToNode(index)
                points.append(RELOAD if node in reload_owner else servable[node - 1])
                index = assignment.Value(routing.NextVar(index))
            if stops_of(points):
                sequences[vehicle.id] = points
    put_back_until = put_back_deadline(started, time_limit_seconds)
    return assemble(problem, sequences, {}, unplaced, SOLVER_NAME, started, notes, put_back_until)


def _stop_penalty(problem: RoutingProblem, servable: list[Stop]) -> int:
    """Leaving a required stop out must cost more than a vehicle and any detour it could cause."""
    matrix = problem.objective_matrix
    locations = {DEPOT, *(stop.location for stop in servable), *(v.start_location for v in problem.vehicles)}
    longest = max(matrix[a][b] for a in locations for b in locations)
    return problem.vehicle_fixed_cost + 4 * longest + 1


def _lunch_fits(vehicle: Vehicle) -> bool:
    """Whether the vehicle's lunch window leaves room inside its shift at all (else it cannot be used)."""
    lunch = vehicle.lunch
    if lunch is None:
        return True
    return max(lunch.earliest_start, vehicle.ready_time) <= min(lunch.latest_start, vehicle.shift_end - lunch.duration)
