"""The Solomon VRPTW benchmark (VRPLIB files) as RoutingProblems, under the DIMACS challenge's conventions.

DIMACS: Euclidean distances truncated to one decimal, travel time equal to distance, objective the total
distance, the file's fleet. We scale everything by 10 (distances, service times, windows) so the truncation is
exact in integers: distance = floor(10 * sqrt(dx² + dy²)) = isqrt(100 * (dx² + dy²)) for integer coordinates.
The objective ``distance_dimacs_trunc1`` in BKS.tsv is then our total distance / 10.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from services.routing.solver.problem import RoutingProblem, Solution, Stop, Vehicle
from services.routing.solver.timeline import location_of, points_of

SCALE = 10
BKS_OBJECTIVE = "distance_dimacs_trunc1"
CLASSES = ("C1", "C2", "R1", "R2", "RC1", "RC2")


@dataclass(frozen=True)
class SolomonInstance:
    name: str
    problem: RoutingProblem
    coordinates: tuple[tuple[int, int], ...]  # location 0 is the depot


def read_instance(path: Path) -> SolomonInstance:
    """Read one ``.vrp`` (VRPLIB CVRPTW: coordinates, demands, windows, one service time for every customer)."""
    header: dict[str, str] = {}
    sections: dict[str, list[list[str]]] = {}
    current: str | None = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line == "EOF":
            continue
        if line.endswith("_SECTION"):
            current = line
            sections[current] = []
        elif current is None and ":" in line:
            key, value = line.split(":", 1)
            header[key.strip()] = value.strip()
        elif current is not None:
            sections[current].append(line.split())
    size = int(header["DIMENSION"])
    coordinates = [(int(float(x)), int(float(y))) for _, x, y in sections["NODE_COORD_SECTION"]]
    demands = [int(amount) for _, amount in sections["DEMAND_SECTION"]]
    windows = [(int(float(early)), int(float(late))) for _, early, late in sections["TIME_WINDOW_SECTION"]]
    depot_nodes = [int(row[0]) for row in sections["DEPOT_SECTION"] if row[0] != "-1"]
    if depot_nodes != [1] or len(coordinates) != size:
        raise ValueError(f"{path.name}: expected the depot as node 1 and {size} nodes")
    service = int(float(header.get("SERVICE_TIME", "0")))

    matrix = tuple(
        tuple(math.isqrt(SCALE * SCALE * ((ax - bx) ** 2 + (ay - by) ** 2)) for bx, by in coordinates)
        for ax, ay in coordinates
    )
    horizon = windows[0][1] * SCALE
    stops = tuple(
        Stop(
            id=str(location),
            location=location,
            demand=(demands[location],),
            service_seconds=service * SCALE,
            time_windows=((windows[location][0] * SCALE, windows[location][1] * SCALE),),
        )
        for location in range(1, size)
    )
    fleet = int(header["VEHICLES"])
    vehicles = tuple(
        Vehicle(
            id=f"v{number:02d}",
            capacity=(int(header["CAPACITY"]),),
            shift_start=windows[0][0] * SCALE,
            shift_end=horizon,
            max_driving_seconds=None,
        )
        for number in range(1, fleet + 1)
    )
    problem = RoutingProblem(
        duration=matrix,
        distance=matrix,
        stops=stops,
        vehicles=vehicles,
        dimensions=("demand",),
        vehicle_fixed_cost=0,
        objective="distance",
        name=header.get("NAME", path.stem),
    )
    return SolomonInstance(problem.name, problem, tuple(coordinates))


def read_bks(path: Path) -> dict[str, float]:
    """Best known DIMACS objectives (``distance_dimacs_trunc1``) by instance name, from BKS.tsv."""
    best: dict[str, float] = {}
    for line in path.read_text().splitlines()[1:]:
        parts = line.split("\t")
        if len(parts) >= 3 and parts[1] == BKS_OBJECTIVE:
            best[parts[0]] = float(parts[2])
    return best


def read_routes(path: Path) -> list[list[str]]:
    """A ``.sol`` file's routes as stop ids (customer numbers, which are our stop ids)."""
    routes: list[list[str]] = []
    for line in path.read_text().splitlines():
        if line.startswith("Route"):
            routes.append(line.split(":", 1)[1].split())
    return routes


def dimacs_cost(problem: RoutingProblem, solution: Solution) -> float:
    """The DIMACS objective of a plan: its total distance, recomputed over the problem's matrix, in file units."""
    total = 0
    for route in solution.routes:
        position = problem.vehicle(route.vehicle_id).start_location
        for point in points_of(problem, route):
            location = location_of(point)
            total += problem.distance[position][location]
            position = location
        total += problem.distance[position][0]
    return total / SCALE


def instance_class(name: str) -> str:
    """C1, C2, R1, R2, RC1 or RC2, from a name like RC105."""
    letters = name.rstrip("0123456789")
    return f"{letters}{name[len(letters)]}"
