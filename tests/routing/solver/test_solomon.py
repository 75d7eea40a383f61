"""The Solomon reader under DIMACS conventions, and both solvers on C101."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.routing.solver import ortools_solver, pyvrp_solver, solomon
from services.routing.solver.assemble import assemble
from services.routing.solver.checker import check

DATA = Path(__file__).resolve().parents[4] / "shared" / "data" / "vrptw" / "solomon"
pytestmark = pytest.mark.skipif(not (DATA / "C101.vrp").exists(), reason=f"Solomon instances not found in {DATA}")


@pytest.fixture(scope="module")
def c101() -> solomon.SolomonInstance:
    return solomon.read_instance(DATA / "C101.vrp")


@pytest.fixture(scope="module")
def bks() -> dict[str, float]:
    return solomon.read_bks(DATA / "BKS.tsv")


def test_c101_reads_as_a_scaled_problem(c101: solomon.SolomonInstance) -> None:
    problem = c101.problem

    assert len(problem.stops) == 100
    assert len(problem.vehicles) == 25
    assert {vehicle.capacity for vehicle in problem.vehicles} == {(200,)}
    first = problem.stop("1")
    assert (first.location, first.demand, first.service_seconds) == (1, (10,), 900)
    assert first.time_windows == ((9120, 9670),)
    # Depot (40, 50) to customer 1 (45, 68): sqrt(349) = 18.68..., truncated to 18.6, scaled to 186.
    assert problem.distance[0][1] == problem.duration[0][1] == 186
    assert problem.objective == "distance"
    assert problem.vehicle_fixed_cost == 0


def test_the_bks_file_gives_the_dimacs_objective(bks: dict[str, float]) -> None:
    assert len(bks) == 56
    assert bks["C101"] == 827.3


def test_the_best_known_routes_pass_the_checker_at_the_best_known_cost(
    c101: solomon.SolomonInstance, bks: dict[str, float]
) -> None:
    problem = c101.problem
    routes = solomon.read_routes(DATA / "C101.sol")
    sequences = {
        problem.vehicles[number].id: [problem.stop(stop_id) for stop_id in route] for number, route in enumerate(routes)
    }

    solution = assemble(problem, sequences, {}, [], "bks", 0.0)

    assert check(problem, solution) == []
    assert solution.unplaced == ()
    assert solomon.dimacs_cost(problem, solution) == pytest.approx(bks["C101"])


def test_pyvrp_solves_c101_close_to_the_best_known(c101: solomon.SolomonInstance, bks: dict[str, float]) -> None:
    solution = pyvrp_solver.solve(c101.problem, 1.0, seed=1)

    assert check(c101.problem, solution) == []
    assert solution.unplaced == ()
    assert solomon.dimacs_cost(c101.problem, solution) <= bks["C101"] * 1.05


def test_ortools_solves_c101_feasibly(c101: solomon.SolomonInstance, bks: dict[str, float]) -> None:
    solution = ortools_solver.solve(c101.problem, 1.0)

    assert check(c101.problem, solution) == []
    assert solution.unplaced == ()
    assert solution.solver == "ortools"
    assert solomon.dimacs_cost(c101.problem, solution) >= bks["C101"] - 1e-9


@pytest.mark.parametrize(("name", "expected"), [("C101", "C1"), ("RC208", "RC2"), ("R112", "R1")])
def test_instance_class_is_read_from_the_name(name: str, expected: str) -> None:
    assert solomon.instance_class(name) == expected
