"""The independent checker: a hand-timed good plan passes, and each kind of broken plan is caught by name."""

from __future__ import annotations

import dataclasses

import pytest

from services.routing.solver.checker import check
from services.routing.solver.problem import (
    LunchBreak,
    LunchTaken,
    Route,
    RoutingProblem,
    Solution,
    Stop,
    Unplaced,
    UnplacedReason,
    Vehicle,
    Visit,
)
from tests.routing.solver.factories import hours

# Depot 0 and three stops; travel in seconds, distance ten metres a second.
SECONDS = [
    [0, 600, 900, 1200],
    [600, 0, 300, 900],
    [900, 300, 0, 600],
    [1200, 900, 600, 0],
]
METRES = [[10 * value for value in row] for row in SECONDS]
LUNCH = LunchBreak(earliest_start=hours(11.5), latest_start=hours(13), duration=3600)
FIXED_COST = 10_000


def make_problem(**changes: object) -> RoutingProblem:
    stops = {
        "a": Stop("a", 1, (2, 60), 540, ((hours(9), hours(10)),)),
        "b": Stop("b", 2, (1, 30), 420, ((hours(9), hours(9.5)), (hours(13), hours(14)))),
        "c": Stop("c", 3, (1, 30), 420, ((hours(8), hours(18)),), motorcycle_only=True),
    }
    vehicles = {
        "truck": Vehicle("truck", (3, 100), hours(8), hours(18), lunch=LUNCH),
        "moto": Vehicle("moto", (1, 30), hours(8), hours(18), motorcycle=True),
    }
    for name, change in changes.items():
        kind, key = name.split("_", 1)
        table: dict[str, object] = stops if kind == "stop" else vehicles  # type: ignore[assignment]
        table[key] = dataclasses.replace(table[key], **change)  # type: ignore[type-var, arg-type]
    return RoutingProblem(
        duration=SECONDS,
        distance=METRES,
        stops=tuple(stops.values()),
        vehicles=tuple(vehicles.values()),
        dimensions=("cyl_20kg", "weight_kg"),
        vehicle_fixed_cost=FIXED_COST,
    )


def good_solution() -> Solution:
    """Timed by hand: the truck serves a at 09:00, eats 11:30–12:30 on the way to b, serves b in its 13:00 window;
    the motorcycle serves c at 08:20."""
    truck = Route(
        vehicle_id="truck",
        visits=(
            Visit("a", arrival=hours(9), service_start=hours(9), departure=hours(9) + 540),
            # Leaves a at 09:09, lunch from 11:30, so free at b from max(09:14, 11:30) + 1 h = 12:30; waits for 13:00.
            Visit("b", arrival=hours(12.5), service_start=hours(13), departure=hours(13) + 420),
        ),
        start=hours(9) - 600,
        end=hours(13) + 420 + 900,
        lunch=LunchTaken(after_visits=1, start=hours(11.5), end=hours(12.5)),
        distance=18_000,
        duration=hours(13) + 420 + 900 - (hours(9) - 600),
        driving_seconds=1_800,
        load=(3, 90),
    )
    moto = Route(
        vehicle_id="moto",
        visits=(Visit("c", arrival=hours(8) + 1200, service_start=hours(8) + 1200, departure=hours(8) + 1620),),
        start=hours(8),
        end=hours(8) + 2820,
        lunch=None,
        distance=24_000,
        duration=2_820,
        driving_seconds=2_400,
        load=(1, 30),
    )
    return Solution(
        routes=(truck, moto),
        unplaced=(),
        objective=2 * FIXED_COST + 1_800 + 2_400,
        total_distance=42_000,
        total_duration=truck.duration + moto.duration,
        total_driving_seconds=4_200,
        vehicles_used=2,
        solver="by hand",
        runtime_seconds=0.0,
    )


def kinds(problem: RoutingProblem, solution: Solution) -> set[str]:
    return {violation.kind for violation in check(problem, solution)}


def with_route(solution: Solution, vehicle_id: str, **changes: object) -> Solution:
    routes = tuple(
        dataclasses.replace(route, **changes) if route.vehicle_id == vehicle_id else route  # type: ignore[arg-type]
        for route in solution.routes
    )
    return dataclasses.replace(solution, routes=routes)


def test_a_feasible_plan_has_no_violations() -> None:
    assert check(make_problem(), good_solution()) == []


def test_a_missed_window_is_caught() -> None:
    problem = make_problem(stop_c={"time_windows": ((hours(8), hours(8) + 600),)})

    assert kinds(problem, good_solution()) == {"window_missed"}


def test_service_between_two_windows_is_caught() -> None:
    problem = make_problem(stop_b={"time_windows": ((hours(9), hours(9.5)), (hours(14), hours(15)))})

    assert kinds(problem, good_solution()) == {"window_missed"}


def test_capacity_exceeded_in_one_dimension_is_caught() -> None:
    problem = make_problem(vehicle_truck={"capacity": (2, 100)})

    violations = check(problem, good_solution())

    assert [(v.kind, v.vehicle_id) for v in violations] == [("capacity_exceeded", "truck")]
    assert "cyl_20kg" in violations[0].detail


def test_a_motorcycle_only_stop_on_a_car_is_caught() -> None:
    problem = make_problem(stop_a={"motorcycle_only": True})

    violations = check(problem, good_solution())

    assert [(v.kind, v.stop_id) for v in violations] == [("incompatible_vehicle", "a")]


def test_a_car_only_stop_on_a_motorcycle_is_caught() -> None:
    problem = make_problem(stop_c={"motorcycle_only": False, "car_only": True})

    assert kinds(problem, good_solution()) == {"incompatible_vehicle"}


def test_a_stop_twice_is_caught() -> None:
    solution = dataclasses.replace(
        good_solution(), unplaced=(Unplaced("a", UnplacedReason.NO_ROOM, "also listed as left out"),)
    )

    violations = check(make_problem(), solution)

    assert [(v.kind, v.stop_id) for v in violations] == [("stop_twice", "a")]


def test_a_missing_stop_is_caught() -> None:
    problem = make_problem()
    extra = Stop("d", 3, (1, 30), 420, ((hours(8), hours(18)),))
    problem = problem.with_stop(extra)

    violations = check(problem, good_solution())

    assert [(v.kind, v.stop_id) for v in violations] == [("stop_missing", "d")]


def test_lunch_outside_its_window_is_caught() -> None:
    problem = make_problem(vehicle_truck={"lunch": LunchBreak(hours(12), hours(13), 3600)})

    assert kinds(problem, good_solution()) == {"lunch_outside_window"}


def test_a_skipped_lunch_is_caught() -> None:
    problem = make_problem(vehicle_moto={"lunch": LUNCH})

    violations = check(problem, good_solution())

    assert [(v.kind, v.vehicle_id) for v in violations] == [("lunch_missing", "moto")]


def test_a_lunch_before_its_leg_starts_is_caught() -> None:
    # Lunch on the first leg at 08:00, but the truck only leaves the depot at 08:50.
    lunch = LunchTaken(after_visits=0, start=hours(8), end=hours(9))
    problem = make_problem(vehicle_truck={"lunch": LunchBreak(hours(8), hours(13), 3600)})

    assert "lunch_misplaced" in kinds(problem, with_route(good_solution(), "truck", lunch=lunch))


def test_a_shift_overrun_is_caught() -> None:
    problem = make_problem(vehicle_truck={"shift_end": hours(13)})

    assert kinds(problem, good_solution()) == {"shift_overrun"}


def test_too_much_driving_is_caught() -> None:
    problem = make_problem(vehicle_moto={"max_driving_seconds": 2_000})

    assert kinds(problem, good_solution()) == {"driving_exceeded"}


def test_leaving_before_the_vehicle_is_ready_is_caught() -> None:
    problem = make_problem(vehicle_moto={"available_from": hours(8) + 60})

    assert "start_too_early" in kinds(problem, good_solution())


def test_a_misreported_arrival_is_caught() -> None:
    solution = good_solution()
    truck = solution.routes[0]
    early = dataclasses.replace(truck.visits[1], arrival=hours(12))

    assert kinds(make_problem(), with_route(solution, "truck", visits=(truck.visits[0], early))) == {"time_mismatch"}


def test_misreported_distances_and_totals_are_caught() -> None:
    solution = with_route(good_solution(), "moto", distance=1)

    assert kinds(make_problem(), solution) == {"distance_mismatch", "totals_mismatch"}


def test_a_misreported_objective_is_caught() -> None:
    solution = dataclasses.replace(good_solution(), objective=1)

    assert kinds(make_problem(), solution) == {"objective_mismatch"}


@pytest.mark.parametrize("vehicle_id", ["truck", "nobody"])
def test_a_vehicle_used_twice_or_unknown_is_caught(vehicle_id: str) -> None:
    solution = good_solution()
    extra = dataclasses.replace(solution.routes[0], vehicle_id=vehicle_id, visits=())
    solution = dataclasses.replace(solution, routes=(*solution.routes, extra))

    expected = "vehicle_twice" if vehicle_id == "truck" else "unknown_vehicle"
    assert expected in kinds(make_problem(), solution)
