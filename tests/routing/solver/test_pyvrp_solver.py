"""The PyVRP engine on small Lucky Gas days: feasible by the checker, the constraints honoured, reasons named."""

from __future__ import annotations

from collections import Counter

import pytest

from services.routing.solver import pyvrp_solver
from services.routing.solver.checker import check
from services.routing.solver.problem import RoutingProblem, Solution, UnplacedReason
from tests.routing.solver.factories import Day, hours, motorcycle, random_day, truck

BUDGET = 0.5
# Places around the depot: a few minutes apart in the city, and one in Dawu (大武), about 2 h 15 min away.
NORTH = (22.7653, 121.1504)
EAST = (22.7553, 121.1604)
SOUTH = (22.7453, 121.1504)
WEST = (22.7553, 121.1404)
DAWU = (22.3400, 120.8900)


def solved(problem: RoutingProblem, budget: float = BUDGET) -> Solution:
    solution = pyvrp_solver.solve(problem, budget, seed=1)
    assert check(problem, solution) == []
    return solution


def reasons(solution: Solution) -> dict[str, UnplacedReason]:
    return {entry.stop_id: entry.reason for entry in solution.unplaced}


def vehicle_of(solution: Solution, stop_id: str) -> str:
    for route in solution.routes:
        if any(visit.stop_id == stop_id for visit in route.visits):
            return route.vehicle_id
    raise AssertionError(f"{stop_id} is not on any route")


@pytest.mark.parametrize("seed", [1, 2])
def test_a_city_day_is_served_completely_and_feasibly(seed: int) -> None:
    problem = random_day(seed, 25, trucks=3, motorcycles=1, motorcycle_share=0.1).problem()

    solution = solved(problem, budget=1.0)

    assert solution.unplaced == ()
    assert solution.notes == ()  # no fallback, no repair
    assert sorted(solution.served_stop_ids()) == sorted(stop.id for stop in problem.stops)
    assert all(route.lunch is not None for route in solution.routes)
    assert solution.solver == "pyvrp"


def test_a_motorcycle_only_stop_rides_the_motorcycle() -> None:
    day = Day()
    day.stop("lane", NORTH, {16: 1}, motorcycle_only=True)
    day.stop("shop", EAST, {20: 2}, car_only=True)
    day.stop("home", SOUTH, {20: 1})
    day.vehicles.extend([truck("truck1"), motorcycle("moto1")])

    solution = solved(day.problem())

    assert vehicle_of(solution, "lane") == "moto1"
    assert vehicle_of(solution, "shop") == "truck1"


def test_disjoint_windows_are_respected_when_the_first_is_out_of_reach() -> None:
    day = Day()
    # The morning window closes before anyone can get there; the afternoon one is the only way.
    day.stop("split", DAWU, {20: 1}, ((hours(8), hours(8) + 600), (hours(14), hours(14.5))))
    day.vehicles.append(truck("truck1"))

    solution = solved(day.problem())

    (visit,) = solution.routes[0].visits
    assert hours(14) <= visit.service_start <= hours(14.5)


def test_a_stop_heavier_than_any_vehicle_is_unplaced_for_capacity() -> None:
    day = Day()
    day.stop("banquet", NORTH, {50: 20})
    day.stop("home", SOUTH, {20: 1})
    day.vehicles.extend([truck("truck1"), motorcycle("moto1")])

    solution = solved(day.problem())

    assert reasons(solution) == {"banquet": UnplacedReason.EXCEEDS_VEHICLE_CAPACITY}
    assert solution.served_stop_ids() == ["home"]


def test_a_window_nobody_can_reach_is_unplaced_as_unreachable() -> None:
    day = Day()
    day.stop("too early", DAWU, {20: 1}, ((hours(8), hours(8.5)),))
    day.stop("home", SOUTH, {20: 1})
    day.vehicles.append(truck("truck1"))

    solution = solved(day.problem())

    assert reasons(solution) == {"too early": UnplacedReason.WINDOW_UNREACHABLE}


def test_a_round_trip_longer_than_the_driving_limit_is_unplaced_for_it() -> None:
    day = Day()
    day.stop("dawu", DAWU, {20: 1})
    day.stop("home", SOUTH, {20: 1})
    day.vehicles.append(truck("truck1", max_driving_seconds=hours(3)))

    solution = solved(day.problem())

    assert reasons(solution) == {"dawu": UnplacedReason.BEYOND_DRIVING_LIMIT}


def test_stops_without_a_window_or_a_vehicle_of_their_kind_are_named() -> None:
    day = Day()
    day.stop("closed", NORTH, {20: 1}, ())
    day.stop("lane", EAST, {20: 1}, motorcycle_only=True)
    day.stop("home", SOUTH, {20: 1})
    day.vehicles.append(truck("truck1"))

    solution = solved(day.problem())

    assert reasons(solution) == {
        "closed": UnplacedReason.WINDOW_EMPTY,
        "lane": UnplacedReason.NO_COMPATIBLE_VEHICLE,
    }


def test_more_stops_than_the_fleet_can_serve_leaves_some_without_room_and_the_rest_feasible() -> None:
    day = Day()
    # Twelve 50 kg deliveries of about 15 minutes each; one truck with a four-hour shift (no lunch) cannot do all.
    for number, position in enumerate([NORTH, EAST, SOUTH, WEST] * 3):
        day.stop(f"s{number:02d}", position, {50: 2}, ((hours(8), hours(12)),))
    day.vehicles.append(truck("truck1", shift_end=hours(11), lunch=None))

    solution = solved(day.problem())

    counts = Counter(entry.reason for entry in solution.unplaced)
    assert set(counts) == {UnplacedReason.NO_ROOM}
    assert 0 < counts[UnplacedReason.NO_ROOM] < 12
    assert len(solution.served_stop_ids()) + counts[UnplacedReason.NO_ROOM] == 12


def test_one_vehicle_is_used_when_one_is_enough() -> None:
    day = Day()
    for number, position in enumerate([NORTH, EAST, SOUTH, WEST]):
        day.stop(f"s{number}", position, {20: 1})
    day.vehicles.extend([truck("truck1"), truck("truck2"), truck("truck3")])

    solution = solved(day.problem())

    assert solution.vehicles_used == 1
    assert solution.unplaced == ()


def test_an_optional_stop_is_left_out_when_not_worth_it() -> None:
    day = Day()
    day.stop("far and optional", DAWU, {20: 1}, required=False, prize=1)
    day.stop("home", SOUTH, {20: 1})
    day.vehicles.append(truck("truck1"))

    solution = solved(day.problem())

    assert reasons(solution) == {"far and optional": UnplacedReason.OPTIONAL_SKIPPED}


def test_a_lone_motorcycle_serves_what_it_can_of_more_motorcycle_only_stops_than_it_carries() -> None:
    # Regression: with more motorcycle-only stops than the motorcycle carries, every stop became optional and the
    # search never found a feasible plan again (a unit of excess load, e.g. a motorcycle-only stop on a truck,
    # cost less than a stop's prize once a vehicle cost more than 100,000), so the plan was its random start
    # stripped to feasibility by assemble: stops taken off, a truck too many, on a real day no motorcycle route.
    day = Day()
    for number, position in enumerate([NORTH, EAST, SOUTH, WEST, NORTH, EAST]):
        day.stop(f"lane{number}", position, {20: 1}, motorcycle_only=True)  # the motorcycle carries four
    for number, position in enumerate([NORTH, EAST, SOUTH, WEST] * 3):
        day.stop(f"shop{number:02d}", position, {20: 2, 50: 1}, car_only=True)
    day.stop("dawu", DAWU, {20: 1}, car_only=True)  # a long leg: a stop's prize well above a vehicle's cost
    day.vehicles.extend([truck("truck1"), truck("truck2"), truck("truck3"), motorcycle("moto1")])
    problem = day.problem()
    assert problem.vehicle_fixed_cost > 100_000

    solution = solved(problem)

    moto = solution.route_of("moto1")
    assert moto is not None
    assert len(moto.visits) == 4
    assert {visit.stop_id for visit in moto.visits} <= {f"lane{number}" for number in range(6)}
    assert Counter(reasons(solution).values()) == {UnplacedReason.NO_ROOM: 2}
    assert {f"shop{number:02d}" for number in range(12)} | {"dawu"} <= set(solution.served_stop_ids())
    assert solution.vehicles_used == 3  # two trucks carry the twelve shops and Dawu
    (note,) = solution.notes  # the plan PyVRP found holds up: nothing taken off when timed
    assert "motorcycle-only stops need 6 cylinders_20kg" in note


def test_motorcycle_only_stops_the_motorcycle_cannot_all_reach_in_time_still_ride_it() -> None:
    # Enough room on the motorcycle by the totals, but four stops due in the same ten minutes in four places: the
    # all-required attempt fails, and the fallback must still give the motorcycle what it can reach.
    day = Day()
    for number, position in enumerate([NORTH, EAST, SOUTH, WEST]):
        day.stop(f"lane{number}", position, {16: 1}, ((hours(9), hours(9) + 600),), motorcycle_only=True)
    for number, position in enumerate([NORTH, EAST, SOUTH, WEST] * 2):
        day.stop(f"shop{number}", position, {20: 2}, car_only=True)
    day.vehicles.extend([truck("truck1"), truck("truck2"), truck("truck3"), motorcycle("moto1")])

    solution = solved(day.problem())

    moto = solution.route_of("moto1")
    assert moto is not None
    assert 1 <= len(moto.visits) < 4
    assert set(reasons(solution).values()) == {UnplacedReason.NO_ROOM}
    assert len(solution.unplaced) == 4 - len(moto.visits)
