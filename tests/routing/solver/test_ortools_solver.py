"""The OR-Tools comparison solver on Lucky Gas days: lunch breaks, disjoint windows, compatibility, re-planning."""

from __future__ import annotations

from services.routing.solver import ortools_solver, pyvrp_solver
from services.routing.solver.checker import check
from services.routing.solver.insertion import replan_problem
from services.routing.solver.problem import UnplacedReason
from tests.routing.solver.factories import Day, hours, motorcycle, random_day, truck


def test_a_city_day_with_lunches_is_planned_feasibly() -> None:
    problem = random_day(3, 20, trucks=2, motorcycles=1, motorcycle_share=0.1).problem()

    solution = ortools_solver.solve(problem, 1.0)

    assert check(problem, solution) == []
    assert solution.unplaced == ()
    assert solution.notes == ()
    assert all(route.lunch is not None for route in solution.routes)


def test_compatibility_and_individual_reasons_match_the_engine() -> None:
    day = Day()
    day.stop("lane", (22.7653, 121.1504), {16: 1}, motorcycle_only=True)
    day.stop("shop", (22.7553, 121.1604), {20: 2}, car_only=True)
    day.stop("banquet", (22.7453, 121.1504), {50: 20})
    day.stop("split", (22.3400, 120.8900), {20: 1}, ((hours(8), hours(8) + 600), (hours(14), hours(14.5))))
    day.vehicles.extend([truck("truck1"), motorcycle("moto1")])
    problem = day.problem()

    solution = ortools_solver.solve(problem, 0.5)

    assert check(problem, solution) == []
    assert [(entry.stop_id, entry.reason) for entry in solution.unplaced] == [
        ("banquet", UnplacedReason.EXCEEDS_VEHICLE_CAPACITY)
    ]
    lane = next(route for route in solution.routes if "lane" in [visit.stop_id for visit in route.visits])
    assert lane.vehicle_id == "moto1"
    split = next(visit for route in solution.routes for visit in route.visits if visit.stop_id == "split")
    assert hours(14) <= split.service_start <= hours(14.5)


def test_the_rest_of_a_day_with_vehicles_out_on_the_road_is_planned_feasibly() -> None:
    problem = random_day(4, 16, trucks=2, motorcycles=0, motorcycle_share=0.0).problem()
    morning = pyvrp_solver.solve(problem, 0.5, seed=1)
    now = hours(10.5)
    completed = {route.vehicle_id: sum(visit.departure <= now for visit in route.visits) for route in morning.routes}
    assert any(completed.values())
    rest = replan_problem(problem, morning, now, completed)
    assert any(vehicle.start_location != 0 for vehicle in rest.vehicles)

    solution = ortools_solver.solve(rest, 0.5)

    assert check(rest, solution) == []
    assert solution.notes == ()
    assert all(route.start >= now for route in solution.routes)
