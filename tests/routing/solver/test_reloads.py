"""Reloads at the depot: timed leg by leg, checked trip by trip, planned by both solvers, kept by the insertion."""

from __future__ import annotations

import dataclasses
import itertools
import random
from collections.abc import Callable

import pytest

from services.routing.solver import luckygas, ortools_solver, pyvrp_solver
from services.routing.solver.assemble import solution_of
from services.routing.solver.checker import check
from services.routing.solver.insertion import insert_urgent, replan_problem
from services.routing.solver.precheck import stop_reason
from services.routing.solver.problem import (
    LunchBreak,
    Reload,
    Route,
    RoutingProblem,
    Solution,
    Stop,
    Unplaced,
    UnplacedReason,
    Vehicle,
    Visit,
)
from services.routing.solver.timeline import RELOAD, Infeasible, Point, best_route, build_route, points_of
from tests.routing.solver.factories import LUNCH, Day, city_position, hours, motorcycle, truck

# Depot 0 and three stops; travel in seconds, distance ten metres a second (as in test_checker.py).
SECONDS = [
    [0, 600, 900, 1200],
    [600, 0, 300, 900],
    [900, 300, 0, 600],
    [1200, 900, 600, 0],
]
METRES = [[10 * value for value in row] for row in SECONDS]
ALL_DAY = ((hours(8), hours(18)),)
VAN_LOAD = (0, 0, 0, 4, 0, 120)  # four 20 kg cylinders a trip


def small_problem(**van_changes: object) -> RoutingProblem:
    van = Vehicle("van", (2, 60), hours(8), hours(18), max_reloads=1, reload_seconds=900)
    return RoutingProblem(
        duration=SECONDS,
        distance=METRES,
        stops=tuple(Stop(name, location, (1, 30), 420, ALL_DAY) for location, name in enumerate("abc", start=1)),
        vehicles=(dataclasses.replace(van, **van_changes),),  # type: ignore[arg-type]
        dimensions=("cyl_20kg", "weight_kg"),
        vehicle_fixed_cost=10_000,
    )


def timed(problem: RoutingProblem, points: list[Point], lunch_leg: int | None = None) -> Route:
    found = build_route(problem, problem.vehicles[0], points, lunch_leg)
    assert isinstance(found, Route), found
    return found


def only(problem: RoutingProblem, route: Route) -> Solution:
    """A plan of this one route, the other stops left out."""
    served = {visit.stop_id for visit in route.visits}
    others = [Unplaced(stop.id, UnplacedReason.NO_ROOM, "") for stop in problem.stops if stop.id not in served]
    return solution_of(problem, [route], others, "by hand", 0.0)


def kinds(problem: RoutingProblem, route: Route) -> set[str]:
    return {violation.kind for violation in check(problem, only(problem, route))}


def test_a_route_that_reloads_is_timed_leg_by_leg() -> None:
    problem = small_problem()
    a, b, c = problem.stops

    route = timed(problem, [a, b, RELOAD, c])

    # Leaves at 08:00; a at 08:10 for 7 min; b at 08:22; back at the depot at 08:44, loads until 08:59; c at
    # 09:19, home at 09:46.
    assert route.visits == (
        Visit("a", hours(8) + 600, hours(8) + 600, hours(8) + 1020),
        Visit("b", hours(8) + 1320, hours(8) + 1320, hours(8) + 1740),
        Visit("c", hours(8) + 4740, hours(8) + 4740, hours(8) + 5160),
    )
    assert route.reloads == (Reload(after_visits=2, arrival=hours(8) + 2640, departure=hours(8) + 3540, load=(1, 30)),)
    assert route.end == hours(8) + 6360
    assert (route.driving_seconds, route.distance) == (4_200, 42_000)  # the way to the depot and back included
    assert route.load == (2, 60)  # the larger trip
    assert check(problem, only(problem, route)) == []
    assert points_of(problem, route) == [a, b, RELOAD, c]


def test_each_trip_must_fit_and_the_reloads_are_limited() -> None:
    problem = small_problem()
    a, b, c = problem.stops

    assert isinstance(build_route(problem, problem.vehicles[0], [a, b, c], None), Infeasible)
    assert isinstance(build_route(problem, problem.vehicles[0], [a, RELOAD, b, RELOAD, c], None), Infeasible)
    assert isinstance(build_route(problem, problem.vehicles[0], [a, b, c, RELOAD], None), Infeasible)


def test_the_checker_catches_a_trip_over_capacity_and_a_reload_too_many() -> None:
    problem = small_problem()
    route = timed(problem, [*problem.stops[:2], RELOAD, problem.stops[2]])

    assert kinds(small_problem(capacity=(1, 60)), route) == {"capacity_exceeded"}
    assert kinds(small_problem(max_reloads=0), route) == {"too_many_reloads"}
    assert kinds(small_problem(first_trip_capacity=(1, 60)), route) == {"capacity_exceeded"}


def test_the_checker_catches_misreported_reloads() -> None:
    problem = small_problem()
    route = timed(problem, [*problem.stops[:2], RELOAD, problem.stops[2]])
    (reload,) = route.reloads

    hurried = dataclasses.replace(reload, departure=reload.departure - 300)
    assert "time_mismatch" in kinds(problem, dataclasses.replace(route, reloads=(hurried,)))
    at_the_end = dataclasses.replace(reload, after_visits=3)
    assert "reload_misplaced" in kinds(problem, dataclasses.replace(route, reloads=(at_the_end,)))
    assert kinds(problem, dataclasses.replace(route, load=(3, 90))) == {"load_mismatch"}
    assert kinds(problem, dataclasses.replace(route, reloads=(dataclasses.replace(reload, load=(2, 60)),))) == {
        "load_mismatch"
    }
    # Reported as if it had not driven to the depot and back.
    assert "distance_mismatch" in kinds(problem, dataclasses.replace(route, distance=route.distance - 6_000))


def test_the_lunch_may_be_on_the_way_to_a_reload_or_on_the_way_from_it() -> None:
    lunch = LunchBreak(hours(8.5), hours(10), 1800)
    problem = small_problem(lunch=lunch)
    a, b, c = problem.stops
    points: list[Point] = [a, b, RELOAD, c]

    inbound = timed(problem, points, lunch_leg=2)  # b → depot
    outbound = timed(problem, points, lunch_leg=3)  # depot → c

    assert inbound.lunch is not None
    assert outbound.lunch is not None
    assert inbound.lunch.after_visits == outbound.lunch.after_visits == 2
    (into,), (out,) = inbound.reloads, outbound.reloads
    assert inbound.lunch.end <= into.arrival
    assert outbound.lunch.start >= out.departure
    assert check(problem, only(problem, inbound)) == []
    assert check(problem, only(problem, outbound)) == []
    # Loading first (while the lunch window is not open yet) ends the day earlier.
    assert outbound.end <= inbound.end


def test_every_route_the_timeline_builds_passes_the_checker() -> None:
    # Two independent implementations of the same rules, compared on random sequences with reloads and every
    # choice of lunch leg.
    rng = random.Random(5)
    day = Day()
    for number in range(8):
        day.stop(f"s{number}", city_position(rng), {20: rng.randint(1, 2)}, ((hours(8), hours(rng.choice((12, 18)))),))
    day.vehicles.append(truck("van", capacity=VAN_LOAD, max_reloads=3, reload_seconds=600))
    problem = day.problem()
    vehicle = problem.vehicles[0]
    routes: list[Route] = []
    for _ in range(60):
        stops = rng.sample(list(problem.stops), rng.randint(2, 6))
        points: list[Point] = []
        for stop in stops:
            if points and rng.random() < 0.4:
                points.append(RELOAD)
            points.append(stop)
        for leg in range(len(points) + 1):
            found = build_route(problem, vehicle, points, leg)
            if isinstance(found, Route):
                routes.append(found)
                assert check(problem, only(problem, found)) == [], (points, leg)
    with_reloads = [route for route in routes if route.reloads]
    assert len(with_reloads) > 30
    assert any(
        route.lunch is not None and any(reload.after_visits == route.lunch.after_visits for reload in route.reloads)
        for route in with_reloads
    )


def van_day(stop_count: int, max_reloads: int, seed: int = 3) -> Day:
    rng = random.Random(seed)
    day = Day()
    for number in range(stop_count):
        day.stop(f"s{number:02d}", city_position(rng), {20: 1})
    day.vehicles.append(
        truck("van", capacity=VAN_LOAD, max_reloads=max_reloads, reload_seconds=luckygas.RELOAD_SECONDS)
    )
    return day


@pytest.mark.parametrize("solve", [pyvrp_solver.solve, ortools_solver.solve], ids=["pyvrp", "ortools"])
def test_a_van_reloads_to_serve_more_than_one_load(solve: Callable[[RoutingProblem, float], Solution]) -> None:
    problem = van_day(10, max_reloads=2).problem()

    solution = solve(problem, 0.5)

    assert check(problem, solution) == []
    assert solution.unplaced == ()
    (route,) = solution.routes
    assert len(route.reloads) == 2  # ten cylinders, four a trip
    assert route.load == VAN_LOAD  # full on at least one trip


def test_without_reloads_the_same_van_serves_one_load() -> None:
    problem = van_day(10, max_reloads=0).problem()

    solution = pyvrp_solver.solve(problem, 0.5, seed=1)

    assert check(problem, solution) == []
    assert len(solution.served_stop_ids()) == 4
    assert {entry.reason for entry in solution.unplaced} == {UnplacedReason.NO_ROOM}


def test_a_motorcycle_reloads_for_motorcycle_only_stops_alongside_a_truck() -> None:
    rng = random.Random(11)
    day = Day()
    for number in range(10):
        day.stop(f"lane{number}", city_position(rng), {rng.choice((16, 20)): 1}, motorcycle_only=True)
    for number in range(10):
        day.stop(f"shop{number}", city_position(rng), {20: 2}, car_only=True)
    reloads = luckygas.max_reloads(motorcycle=True)
    day.vehicles.extend(
        [truck("truck1"), motorcycle("moto1", max_reloads=reloads, reload_seconds=luckygas.RELOAD_SECONDS)]
    )
    problem = day.problem()

    solution = pyvrp_solver.solve(problem, 0.5, seed=1)

    assert check(problem, solution) == []
    assert solution.unplaced == ()
    moto = solution.route_of("moto1")
    assert moto is not None
    assert {visit.stop_id for visit in moto.visits} == {f"lane{number}" for number in range(10)}
    assert 2 <= len(moto.reloads) <= reloads  # four cylinders, 120 kg a trip
    assert solution.notes == ()


@pytest.fixture(scope="module")
def reloading_plan() -> tuple[RoutingProblem, Solution]:
    problem = van_day(10, max_reloads=2, seed=8).problem()
    solution = pyvrp_solver.solve(problem, 0.5, seed=1)
    assert check(problem, solution) == []
    assert len(solution.routes[0].reloads) == 2
    return problem, solution


def test_an_urgent_stop_goes_on_a_trip_with_room_without_moving_completed_visits_or_reloads(
    reloading_plan: tuple[RoutingProblem, Solution],
) -> None:
    problem, solution = reloading_plan
    (route,) = solution.routes
    urgent = Stop("urgent", problem.stops[0].location, luckygas.demand({20: 1}), 420, ((hours(8), hours(18)),))
    # Ten cylinders on three trips of four: two trips have room for it, or one has room for two.

    inserted = insert_urgent(problem, solution, urgent, {route.vehicle_id: 1})

    assert check(problem.with_stop(urgent), inserted) == []  # every trip within the van's four cylinders
    (after,) = inserted.routes
    order = [visit.stop_id for visit in after.visits]
    assert order.index("urgent") >= 1
    assert after.visits[0] == route.visits[0]
    assert [stop_id for stop_id in order if stop_id != "urgent"] == [visit.stop_id for visit in route.visits]
    assert len(after.reloads) == len(route.reloads)
    trip_of_urgent = sum(order.index("urgent") >= reload.after_visits for reload in after.reloads)
    places = [0, *(reload.after_visits for reload in route.reloads), len(route.visits)]
    trip_sizes = [end - start for start, end in itertools.pairwise(places)]
    assert trip_sizes[trip_of_urgent] < 4  # it went on a trip that had room


def test_an_urgent_stop_for_a_van_with_every_trip_full_adds_a_reload_it_has_to_spare() -> None:
    problem = van_day(8, max_reloads=2, seed=8).problem()
    solution = pyvrp_solver.solve(problem, 0.5, seed=1)
    (route,) = solution.routes
    assert len(route.reloads) == 1  # eight cylinders: two full trips
    urgent = Stop("urgent", problem.stops[0].location, luckygas.demand({20: 1}), 420, ((hours(8), hours(18)),))

    inserted = insert_urgent(problem, solution, urgent, {route.vehicle_id: 1})

    assert check(problem.with_stop(urgent), inserted) == []
    (after,) = inserted.routes
    assert "urgent" in [visit.stop_id for visit in after.visits]
    assert len(after.reloads) == 2
    assert after.visits[0] == route.visits[0]


def test_replanning_after_a_reload_counts_the_load_from_it_and_the_reloads_left(
    reloading_plan: tuple[RoutingProblem, Solution],
) -> None:
    problem, solution = reloading_plan
    (route,) = solution.routes
    done = route.reloads[0].after_visits + 1
    now = route.visits[done - 1].departure

    rest = replan_problem(problem, solution, now, {route.vehicle_id: done})

    (van,) = rest.vehicles
    assert van.max_reloads == 1
    assert van.capacity == VAN_LOAD
    assert van.first_trip_capacity == (0, 0, 0, 3, 0, 90)  # one cylinder delivered since the reload
    assert van.start_location == problem.stop(route.visits[done - 1].stop_id).location
    for again in (pyvrp_solver.solve(rest, 0.5, seed=1), ortools_solver.solve(rest, 0.5)):
        assert check(rest, again) == []
        assert again.unplaced == ()
        assert len(again.routes[0].reloads) <= 1


def test_a_vehicle_out_of_cylinders_reloads_first_or_cannot_take_the_stop() -> None:
    problem = van_day(2, max_reloads=1).problem()
    empty = dataclasses.replace(problem.vehicles[0], first_trip_capacity=(0,) * 6, start_location=1)
    stop = problem.stops[1]

    reloading = dataclasses.replace(problem, vehicles=(empty,))
    assert stop_reason(reloading, stop) is None
    route = best_route(reloading, empty, [RELOAD, stop])
    assert isinstance(route, Route)
    assert route.reloads[0].after_visits == 0
    assert check(reloading, only(reloading, route)) == []

    stuck = dataclasses.replace(problem, vehicles=(dataclasses.replace(empty, max_reloads=0),))
    reason = stop_reason(stuck, stop)
    assert reason is not None
    assert reason.reason == UnplacedReason.EXCEEDS_VEHICLE_CAPACITY


def test_pyvrp_reload_hours_leave_no_room_for_a_second_lunch() -> None:
    vehicle = truck("t", max_reloads=2, reload_seconds=900)
    assert LUNCH.earliest_start + LUNCH.duration == hours(12.5)
    assert LUNCH.latest_start - 900 == hours(12.75)

    hours_open = pyvrp_solver._reload_hours(vehicle, hours(18))

    # A reload arriving 12:30–12:45 could follow a lunch and precede another; none may begin then.
    assert hours_open == [(0, hours(12.5) - 1), (hours(12.75) + 1, hours(18))]
    assert pyvrp_solver._reload_hours(dataclasses.replace(vehicle, lunch=None), hours(18)) == [(0, hours(18))]
    assert pyvrp_solver._reload_hours(dataclasses.replace(vehicle, max_reloads=0), hours(18)) == []


def test_lucky_gas_reload_conventions() -> None:
    assert luckygas.RELOAD_SECONDS == 15 * 60
    assert luckygas.max_reloads(motorcycle=False) == luckygas.DEFAULT_MAX_RELOADS == 2
    assert luckygas.max_reloads(motorcycle=True) == luckygas.MOTORCYCLE_MAX_RELOADS
    assert all(
        a.max_reloads == b.max_reloads == 0 for a, b in itertools.pairwise([truck("t1"), truck("t2"), motorcycle("m1")])
    )
