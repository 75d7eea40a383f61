"""Turning a solver's sequences into a plan: stops the solver left out go back where they fit as timed exactly."""

from __future__ import annotations

from services.routing.solver.assemble import assemble
from services.routing.solver.checker import check
from services.routing.solver.problem import UnplacedReason
from tests.routing.solver.factories import Day, truck

NORTH = (22.7653, 121.1504)
EAST = (22.7553, 121.1604)
SOUTH = (22.7453, 121.1504)


def test_a_required_stop_the_solver_left_out_goes_where_it_fits() -> None:
    day = Day()
    first = day.stop("first", NORTH, {20: 1})
    day.stop("left out", EAST, {20: 1})
    day.stop("optional", SOUTH, {20: 1}, required=False, prize=1)
    day.vehicles.extend([truck("truck1"), truck("truck2")])
    problem = day.problem()

    solution = assemble(problem, {"truck1": [first]}, {}, [], "by hand", 0.0)

    assert check(problem, solution) == []
    assert solution.vehicles_used == 1
    assert [visit.stop_id for visit in solution.routes[0].visits] in (["first", "left out"], ["left out", "first"])
    assert [(entry.stop_id, entry.reason) for entry in solution.unplaced] == [
        ("optional", UnplacedReason.OPTIONAL_SKIPPED)
    ]
    assert solution.notes == ("1 stops the solver left out fitted in a route as timed exactly and were added",)


def test_a_required_stop_that_fits_nowhere_stays_without_room() -> None:
    day = Day()
    first = day.stop("first", NORTH, {50: 10})
    day.stop("too much", EAST, {50: 5})  # a truck carries twelve 50 kg cylinders, and there is one truck
    day.vehicles.append(truck("truck1"))
    problem = day.problem()

    solution = assemble(problem, {"truck1": [first]}, {}, [], "by hand", 0.0)

    assert check(problem, solution) == []
    assert [(entry.stop_id, entry.reason) for entry in solution.unplaced] == [("too much", UnplacedReason.NO_ROOM)]
    assert solution.notes == ()
