"""Each stop checked on its own before solving, so a stop no plan can serve is reported with the constraint to blame.

A solver left to drop such a stop would only say "not served"; the dispatcher needs "the customer wants a car
and only motorcycles are on duty" or "nobody can be there by 09:00". The checks run in the order a dispatcher
would fix them: windows at all, a vehicle of the right kind, one big enough, one that gets there in time.
"""

from __future__ import annotations

from services.routing.solver.problem import RoutingProblem, Stop, Unplaced, UnplacedReason, Vehicle
from services.routing.solver.timeline import RELOAD, Infeasible, best_route


def stop_reason(problem: RoutingProblem, stop: Stop) -> Unplaced | None:
    """Why no vehicle could serve this stop even alone, or None if some vehicle can."""
    if not stop.time_windows:
        return Unplaced(stop.id, UnplacedReason.WINDOW_EMPTY, "the stop has no time window left to deliver in")
    compatible = [vehicle for vehicle in problem.vehicles if stop.compatible_with(vehicle)]
    if not compatible:
        needs = "a motorcycle" if stop.motorcycle_only else "a car or truck"
        if stop.motorcycle_only and stop.car_only:
            needs = "a vehicle that is both a motorcycle and a car"
        return Unplaced(stop.id, UnplacedReason.NO_COMPATIBLE_VEHICLE, f"needs {needs}; none is on duty")
    fitting = [
        vehicle
        for vehicle in compatible
        if all(amount <= capacity for amount, capacity in zip(stop.demand, _most(vehicle), strict=True))
    ]
    if not fitting:
        over = [
            f"{name} {amount}"
            for d, (name, amount) in enumerate(zip(problem.dimensions, stop.demand, strict=True))
            if all(amount > _most(vehicle)[d] for vehicle in compatible)
        ]
        detail = f"more than any compatible vehicle carries ({', '.join(over) or 'in some dimension'})"
        return Unplaced(stop.id, UnplacedReason.EXCEEDS_VEHICLE_CAPACITY, detail)
    failures: list[Infeasible] = []
    for vehicle in fitting:
        found = best_route(problem, vehicle, [stop])
        if isinstance(found, Infeasible) and found.kind == "capacity" and vehicle.max_reloads > 0:
            found = best_route(problem, vehicle, [RELOAD, stop])  # its first trip is short: load first
        if not isinstance(found, Infeasible):
            return None
        failures.append(found)
    if all(failure.kind == "driving" for failure in failures):
        return Unplaced(
            stop.id,
            UnplacedReason.BEYOND_DRIVING_LIMIT,
            "reachable in time, but the round trip alone exceeds every compatible driver's driving limit",
        )
    windows = ", ".join(f"{_clock(start)}–{_clock(end)}" for start, end in sorted(stop.time_windows))
    return Unplaced(
        stop.id,
        UnplacedReason.WINDOW_UNREACHABLE,
        f"no compatible vehicle can start service within {windows} and be back inside its shift",
    )


def precheck(problem: RoutingProblem) -> tuple[list[Stop], list[Unplaced]]:
    """The stops some vehicle could serve alone, and the reasons for the others."""
    servable: list[Stop] = []
    unplaced: list[Unplaced] = []
    for stop in problem.stops:
        reason = stop_reason(problem, stop)
        if reason is None:
            servable.append(stop)
        else:
            unplaced.append(reason)
    return servable, unplaced


def _most(vehicle: Vehicle) -> tuple[int, ...]:
    """The most one trip of the vehicle can carry (a first trip cut short by a re-plan is all one that cannot
    reload has)."""
    return vehicle.capacity if vehicle.max_reloads > 0 else vehicle.trip_capacity(0)


def _clock(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"
