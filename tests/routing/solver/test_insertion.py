"""Changing a running plan: an urgent stop inserted around completed visits, and the rest of the day re-planned."""

from __future__ import annotations

import pytest

from services.platform.errors import InvalidArgument
from services.routing.solver import pyvrp_solver
from services.routing.solver.checker import check
from services.routing.solver.insertion import insert_urgent, replan_problem
from services.routing.solver.problem import DEPOT, RoutingProblem, Solution, Stop, UnplacedReason
from tests.routing.solver.factories import DEPOT_POSITION, Day, demand_of, hours, random_day, service_of


@pytest.fixture(scope="module")
def day() -> Day:
    day = random_day(7, 16, trucks=2, motorcycles=0, motorcycle_share=0.0)
    # Where the urgent orders will be: one near the depot, one whose window has long closed.
    day.place(DEPOT_POSITION[0] + 0.004, DEPOT_POSITION[1] + 0.003)
    return day


@pytest.fixture(scope="module")
def planned(day: Day) -> tuple[RoutingProblem, Solution]:
    problem = day.problem()
    solution = pyvrp_solver.solve(problem, 0.5, seed=1)
    assert check(problem, solution) == []
    assert solution.unplaced == ()
    return problem, solution


def urgent_stop(problem: RoutingProblem, windows: tuple[tuple[int, int], ...]) -> Stop:
    return Stop(
        id="urgent",
        location=len(problem.duration) - 1,
        demand=demand_of({20: 1}),
        service_seconds=service_of({20: 1}),
        time_windows=windows,
    )


def completed_by(solution: Solution, now: int) -> dict[str, int]:
    return {route.vehicle_id: sum(visit.departure <= now for visit in route.visits) for route in solution.routes}


def test_an_urgent_stop_is_inserted_without_moving_completed_visits_or_reordering(
    planned: tuple[RoutingProblem, Solution],
) -> None:
    problem, solution = planned
    frozen = completed_by(solution, hours(11))
    assert any(frozen.values())
    stop = urgent_stop(problem, ((hours(11), hours(17)),))

    inserted = insert_urgent(problem, solution, stop, frozen)

    assert check(problem.with_stop(stop), inserted) == []
    assert "urgent" in inserted.served_stop_ids()
    for before in solution.routes:
        after = inserted.route_of(before.vehicle_id)
        assert after is not None
        done = frozen[before.vehicle_id]
        assert after.visits[:done] == before.visits[:done]
        assert [visit.stop_id for visit in after.visits if visit.stop_id != "urgent"] == [
            visit.stop_id for visit in before.visits
        ]
        if "urgent" in [visit.stop_id for visit in after.visits]:
            assert [visit.stop_id for visit in after.visits].index("urgent") >= done
    assert inserted.objective >= solution.objective


def test_an_urgent_stop_that_cannot_be_reached_is_unplaced_with_its_reason(
    planned: tuple[RoutingProblem, Solution],
) -> None:
    problem, solution = planned
    stop = urgent_stop(problem, ((hours(6), hours(7)),))

    inserted = insert_urgent(problem, solution, stop, completed_by(solution, hours(11)))

    assert check(problem.with_stop(stop), inserted) == []
    assert [(entry.stop_id, entry.reason) for entry in inserted.unplaced] == [
        ("urgent", UnplacedReason.WINDOW_UNREACHABLE)
    ]
    assert inserted.routes == solution.routes


def test_an_urgent_stop_due_before_the_completed_part_ends_finds_no_room(
    planned: tuple[RoutingProblem, Solution],
) -> None:
    problem, solution = planned
    # Reachable from the depot in the morning, but every vehicle is done with the morning by 15:00.
    stop = urgent_stop(problem, ((hours(8), hours(8.5)),))
    everything = {route.vehicle_id: len(route.visits) for route in solution.routes}
    # An idle vehicle could take it alone: keep the fleet to the vehicles already out.
    used_only = RoutingProblem(
        duration=problem.duration,
        distance=problem.distance,
        stops=problem.stops,
        vehicles=tuple(vehicle for vehicle in problem.vehicles if solution.route_of(vehicle.id) is not None),
        dimensions=problem.dimensions,
        vehicle_fixed_cost=problem.vehicle_fixed_cost,
    )

    inserted = insert_urgent(used_only, solution, stop, everything)

    assert check(used_only.with_stop(stop), inserted) == []
    assert [(entry.stop_id, entry.reason) for entry in inserted.unplaced] == [("urgent", UnplacedReason.NO_ROOM)]


def test_frozen_counts_beyond_a_route_are_refused(planned: tuple[RoutingProblem, Solution]) -> None:
    problem, solution = planned
    route = solution.routes[0]

    with pytest.raises(InvalidArgument):
        insert_urgent(problem, solution, urgent_stop(problem, ((hours(8), hours(18)),)), {route.vehicle_id: 99})


def test_replanning_drops_completed_stops_and_starts_vehicles_where_they_are(
    planned: tuple[RoutingProblem, Solution],
) -> None:
    problem, solution = planned
    now = hours(11)
    completed = completed_by(solution, now)

    rest = replan_problem(problem, solution, now, completed)

    done = {visit.stop_id for route in solution.routes for visit in route.visits[: completed[route.vehicle_id]]}
    assert done
    assert {stop.id for stop in rest.stops} == {stop.id for stop in problem.stops} - done
    for route in solution.routes:
        vehicle = rest.vehicle(route.vehicle_id)
        count = completed[route.vehicle_id]
        if count:
            last = route.visits[count - 1]
            assert vehicle.start_location == problem.stop(last.stop_id).location
            assert vehicle.ready_time == max(now, last.departure)
            assert vehicle.capacity == problem.vehicle(route.vehicle_id).capacity
            delivered = [problem.stop(visit.stop_id).demand for visit in route.visits[:count]]
            assert vehicle.first_trip_capacity == tuple(
                full - sum(amounts) for full, *amounts in zip(vehicle.capacity, *delivered, strict=True)
            )
        else:
            assert vehicle.start_location == DEPOT
            assert vehicle.ready_time >= now
    again = pyvrp_solver.solve(rest, 0.5, seed=1)
    assert check(rest, again) == []
