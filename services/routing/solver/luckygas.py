"""Lucky Gas's conventions for building a RoutingProblem: the load dimensions, a delivery's load and service time,
reloads at the depot, and a vehicle cost that makes the objective "fewest vehicles first, then least travel
time" (docs/domain.md#constraints-and-objective).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from services.platform.products import FULL_CYLINDER_GROSS_KG
from services.routing.solver.problem import Vehicle

CYLINDER_SIZES = (4, 10, 16, 20, 50)
# Cylinders of each size, then the gross weight of the load (a small truck carries about 1,000 kg).
DIMENSIONS = (*(f"cylinders_{size}kg" for size in CYLINDER_SIZES), "gross_kg")

# Runs reload at the depot between trips (runs are named by area and half-day): a truck or van may go back twice
# (morning, midday, afternoon trips), a motorcycle, carrying about four cylinders a trip, five times (six trips).
# Loading takes a quarter of an hour. Vehicle.max_reloads / Vehicle.reload_seconds take these.
DEFAULT_MAX_RELOADS = 2
MOTORCYCLE_MAX_RELOADS = 5
RELOAD_SECONDS = 15 * 60


def demand(cylinders: Mapping[int, int]) -> tuple[int, ...]:
    """The load of a delivery given as {size in kg: full cylinders}, one amount per DIMENSIONS entry."""
    unknown = set(cylinders) - set(CYLINDER_SIZES)
    if unknown:
        raise ValueError(f"no cylinder of {sorted(unknown)} kg")
    counts = tuple(cylinders.get(size, 0) for size in CYLINDER_SIZES)
    return (*counts, sum(FULL_CYLINDER_GROSS_KG[size] * count for size, count in cylinders.items()))


def service_seconds(cylinders: Mapping[int, int]) -> int:
    """About 5 minutes a stop plus 2 per cylinder, 3 more per 50 kg cylinder."""
    return 300 + 120 * sum(cylinders.values()) + 180 * cylinders.get(50, 0)


def max_reloads(motorcycle: bool) -> int:
    """How many times a vehicle of this kind may reload in a shift (Vehicle.max_reloads)."""
    return MOTORCYCLE_MAX_RELOADS if motorcycle else DEFAULT_MAX_RELOADS


def fewest_vehicles_first(vehicles: Iterable[Vehicle]) -> int:
    """A fixed cost per vehicle above all the travel time the whole fleet could drive in a day (each driver's
    driving limit, or the shift where there is none): one vehicle fewer always beats any saving in travel."""
    return 1 + sum(
        vehicle.max_driving_seconds
        if vehicle.max_driving_seconds is not None
        else vehicle.shift_end - vehicle.shift_start
        for vehicle in vehicles
    )
