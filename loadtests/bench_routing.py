"""``make bench-routing``: solution quality of the routing engine (PyVRP) against OR-Tools on the Solomon VRPTW set.

Every instance is read into the same RoutingProblem (services/routing/solver/solomon.py, DIMACS conventions:
distances truncated to one decimal, travel time = distance, objective = total distance, the file's fleet of 25)
and handed to both solvers with the same time budget; each plan is verified by the independent checker and
priced in DIMACS units against the best known solution (BKS.tsv, ``distance_dimacs_trunc1``). The solvers run
one at a time, single-threaded, so on a two-core machine neither competes with the other for CPU.

Prints one line per instance, then the mean and worst gap per class (C1, C2, R1, R2, RC1, RC2) and overall for
each solver, the ratio of the mean gaps, and how many plans were infeasible or incomplete (those are left out of
the gap figures and counted instead). Aims, reported, not asserted: a mean gap of at most 1 % at 2 s, and at most
a third of OR-Tools' mean gap. Flags: ``--budget`` seconds per solve (2.0), ``--instances`` a glob on names
(``*``; e.g. ``'RC2*'``), ``--data`` the directory with the .vrp files and BKS.tsv (../shared/data/vrptw/solomon
from the repository root), ``--seed`` (PyVRP's), ``--solomon-only`` (skip the realistic day, which
loadtests/bench_routing_day.py then runs through the API; its flags are ``--day-budget`` and ``--rounds``).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from loadtests import bench_routing_day
from services.routing.solver import ortools_solver, pyvrp_solver, solomon
from services.routing.solver.checker import check
from services.routing.solver.problem import RoutingProblem, Solution

REPOSITORY = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPOSITORY.parent / "shared" / "data" / "vrptw" / "solomon"
AIM_MEAN_GAP = 1.0
AIM_RATIO = 1 / 3

Solve = Callable[[RoutingProblem, float, int], Solution]
SOLVERS: dict[str, Solve] = {"pyvrp": pyvrp_solver.solve, "ortools": ortools_solver.solve}


@dataclass
class Outcome:
    cost: float
    gap: float  # percent above the BKS
    vehicles: int
    seconds: float
    valid: bool  # feasible by the checker and every stop served
    problems: list[str] = field(default_factory=list)


@dataclass
class Row:
    name: str
    bks: float
    outcomes: dict[str, Outcome]


def solve_instance(path: Path, bks: float, budget: float, seed: int) -> Row:
    instance = solomon.read_instance(path)
    outcomes: dict[str, Outcome] = {}
    for name, solve in SOLVERS.items():  # one after the other, never side by side
        started = time.perf_counter()
        solution = solve(instance.problem, budget, seed)
        seconds = time.perf_counter() - started
        violations = [f"{v.kind}: {v.detail}" for v in check(instance.problem, solution)]
        if solution.unplaced:
            violations.append(f"{len(solution.unplaced)} stops unplaced")
        cost = solomon.dimacs_cost(instance.problem, solution)
        outcomes[name] = Outcome(
            cost=cost,
            gap=100 * (cost - bks) / bks,
            vehicles=solution.vehicles_used,
            seconds=seconds,
            valid=not violations,
            problems=violations,
        )
    return Row(instance.name, bks, outcomes)


def instance_order(path: Path) -> tuple[int, str]:
    return solomon.CLASSES.index(solomon.instance_class(path.stem)), path.stem


def print_row(row: Row) -> None:
    parts = [f"{row.name:<6} BKS {row.bks:8.1f}"]
    for name, outcome in row.outcomes.items():
        flag = "" if outcome.valid else " INVALID"
        parts.append(f"{name} {outcome.cost:8.1f} ({outcome.gap:+6.2f}%, {outcome.vehicles:2d} veh){flag}")
    print("  ".join(parts), flush=True)
    for name, outcome in row.outcomes.items():
        for problem in outcome.problems[:3]:
            print(f"         {name}: {problem}")


def summarise(rows: Sequence[Row]) -> dict[str, float]:
    """Prints the per-class and overall table; returns each solver's overall mean gap."""
    print()
    print(f"{'class':<8}" + "".join(f"{name + ' mean':>14}{name + ' worst':>14}" for name in SOLVERS) + f"{'n':>5}")
    means: dict[str, float] = {}
    for label in (*solomon.CLASSES, "overall"):
        chosen = [row for row in rows if label == "overall" or solomon.instance_class(row.name) == label]
        if not chosen:
            continue
        line = f"{label:<8}"
        for name in SOLVERS:
            gaps = [row.outcomes[name].gap for row in chosen if row.outcomes[name].valid]
            if gaps:
                line += f"{statistics.fmean(gaps):13.2f}%{max(gaps):13.2f}%"
            else:
                line += f"{'-':>14}{'-':>14}"
            if label == "overall" and gaps:
                means[name] = statistics.fmean(gaps)
        print(line + f"{len(chosen):5d}")
    return means


def run_solomon(data: Path, pattern: str, budget: float, seed: int) -> dict[str, float]:
    bks = solomon.read_bks(data / "BKS.tsv")
    paths = sorted((path for path in data.glob(f"{pattern}.vrp") if path.stem in bks), key=instance_order)
    if not paths:
        raise SystemExit(f"no Solomon instance matches {pattern!r} in {data}")
    cores = os.cpu_count() or 1
    print(f"Solomon VRPTW, {len(paths)} instances, {budget:g} s per solve, DIMACS objective (distance, 1 decimal)")
    print(
        f"machine: {platform.processor() or platform.machine()}, {cores} cores; the solvers run one at a time, "
        "single-threaded (never side by side)"
    )
    print()
    rows: list[Row] = []
    for path in paths:
        row = solve_instance(path, bks[path.stem], budget, seed)
        print_row(row)
        rows.append(row)
    means = summarise(rows)
    print()
    for name in SOLVERS:
        invalid = sum(not row.outcomes[name].valid for row in rows)
        seconds = statistics.fmean(row.outcomes[name].seconds for row in rows)
        print(f"{name}: {invalid} infeasible or incomplete of {len(rows)}; mean wall time {seconds:.2f} s per solve")
    if "pyvrp" in means and "ortools" in means:
        ours, theirs = means["pyvrp"], means["ortools"]
        ratio = ours / theirs if theirs > 0 else float("inf")
        print(
            f"mean gap pyvrp {ours:.2f}% vs ortools {theirs:.2f}%: ratio {ratio:.2f} "
            f"(aims: pyvrp <= {AIM_MEAN_GAP:.0f}% "
            f"{'met' if ours <= AIM_MEAN_GAP else 'missed'}, ratio <= {AIM_RATIO:.2f} "
            f"{'met' if ratio <= AIM_RATIO else 'missed'})"
        )
    return means


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m loadtests.bench_routing", description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=2.0, help="seconds per solve, the same for both solvers")
    parser.add_argument("--instances", default="*", help="glob on instance names, e.g. 'C1*' or 'R20?'")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="directory with the .vrp files and BKS.tsv")
    parser.add_argument("--seed", type=int, default=1, help="PyVRP's seed (OR-Tools is deterministic)")
    parser.add_argument("--solomon-only", action="store_true", help="only the Solomon benchmark")
    bench_routing_day.add_arguments(parser)
    arguments = parser.parse_args(argv)
    if arguments.budget <= 0:
        parser.error("--budget must be positive")
    run_solomon(arguments.data.resolve(), arguments.instances, arguments.budget, arguments.seed)
    if not arguments.solomon_only:
        print()
        bench_routing_day.run(arguments)


if __name__ == "__main__":
    main()
