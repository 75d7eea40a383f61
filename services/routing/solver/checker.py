"""An independent feasibility check of a Solution against its RoutingProblem.

Written from the problem's definition only (problem.py's docstrings), sharing no code with the solvers or
timeline.py: it replays each route from the matrices and compares every reported time, distance and load with
its own figures. An empty list means the plan is feasible and honestly reported.

The rules it applies: a route leaves its vehicle's start location no earlier than the vehicle is ready; each
visit's arrival is the previous departure plus travel (with a lunch on that leg: max(departure + travel, lunch
start) + lunch duration, and the lunch starts no earlier than the leg does); service starts no earlier than
arrival and inside one of the stop's windows, and lasts the stop's service time; the vehicle is back at the depot
(lunch included) by the end of its shift; driving adds up to at most its limit; each capacity dimension holds;
motorcycle-only stops ride motorcycles and car-only stops do not; a vehicle with a lunch break takes it, starting
inside its window; every stop is in exactly one route or in ``unplaced``.

Reloads: at most the vehicle's ``max_reloads``, each between two visits (or before the first), in order. The way
to the depot is a leg like any other (travel, and the lunch if it is on it); the vehicle then loads for its
``reload_seconds`` and leaves; each trip (start to first reload, reload to reload, last reload to the end) must
fit the capacity, the first trip the vehicle's ``first_trip_capacity`` when it has one. The travel to and from
the depot counts in driving, distance and the objective; ``load`` is the largest trip load in each dimension.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass

from services.routing.solver.problem import Reload, Route, RoutingProblem, Solution, UnplacedReason, Vehicle, Visit


@dataclass(frozen=True)
class Violation:
    kind: str
    detail: str
    vehicle_id: str | None = None
    stop_id: str | None = None


def check(problem: RoutingProblem, solution: Solution) -> list[Violation]:
    """Every way the solution breaks the problem's rules or misreports itself; empty when it is feasible."""
    found: list[Violation] = []
    stops = {stop.id: stop for stop in problem.stops}
    vehicles = {vehicle.id: vehicle for vehicle in problem.vehicles}

    appearances: Counter[str] = Counter()
    for route in solution.routes:
        appearances.update(visit.stop_id for visit in route.visits)
    appearances.update(entry.stop_id for entry in solution.unplaced)
    for stop_id, count in sorted(appearances.items()):
        if stop_id not in stops:
            found.append(Violation("unknown_stop", f"{stop_id} is not a stop of the problem", stop_id=stop_id))
        elif count > 1:
            found.append(Violation("stop_twice", f"{stop_id} appears {count} times", stop_id=stop_id))
    for stop_id in stops:
        if stop_id not in appearances:
            found.append(Violation("stop_missing", f"{stop_id} is in no route and not unplaced", stop_id=stop_id))
    for entry in solution.unplaced:
        if entry.reason not in set(UnplacedReason):
            found.append(Violation("unknown_reason", f"{entry.reason!r}", stop_id=entry.stop_id))

    used: Counter[str] = Counter(route.vehicle_id for route in solution.routes)
    for vehicle_id, count in used.items():
        if vehicle_id not in vehicles:
            found.append(Violation("unknown_vehicle", f"{vehicle_id} is not a vehicle of the problem", vehicle_id))
        elif count > 1:
            found.append(Violation("vehicle_twice", f"{vehicle_id} has {count} routes", vehicle_id))

    travel_total = 0
    for route in solution.routes:
        vehicle = vehicles.get(route.vehicle_id)
        if vehicle is None:
            continue
        if not route.visits:
            found.append(Violation("empty_route", "a route without visits uses a vehicle", vehicle.id))
            continue
        route_travel, route_found = _check_route(problem, vehicle, route)
        travel_total += route_travel
        found.extend(route_found)

    routes = solution.routes
    totals = {
        "total_distance": (solution.total_distance, sum(route.distance for route in routes)),
        "total_duration": (solution.total_duration, sum(route.duration for route in routes)),
        "total_driving_seconds": (solution.total_driving_seconds, sum(route.driving_seconds for route in routes)),
        "vehicles_used": (solution.vehicles_used, len(routes)),
    }
    for name, (reported, summed) in totals.items():
        if reported != summed:
            found.append(Violation("totals_mismatch", f"{name} reported {reported}, routes add up to {summed}"))
    objective = problem.vehicle_fixed_cost * len(routes) + travel_total
    if solution.objective != objective:
        found.append(Violation("objective_mismatch", f"reported {solution.objective}, recomputed {objective}"))
    return found


def _check_route(problem: RoutingProblem, vehicle: Vehicle, route: Route) -> tuple[int, list[Violation]]:
    """Replay one route; returns its travel over the objective matrix and what is wrong with it."""
    found: list[Violation] = []
    vid = vehicle.id

    def add(kind: str, detail: str, stop_id: str | None = None) -> None:
        found.append(Violation(kind, detail, vid, stop_id))

    stops = {stop.id: stop for stop in problem.stops}
    visits = [visit for visit in route.visits if visit.stop_id in stops]
    if len(visits) != len(route.visits):
        return 0, found  # unknown stops are reported once, by the caller; nothing to replay against

    ready = vehicle.shift_start if vehicle.available_from is None else max(vehicle.shift_start, vehicle.available_from)
    if route.start < ready:
        add("start_too_early", f"leaves at {route.start}, the vehicle is ready at {ready}")

    reloads = list(route.reloads)
    if len(reloads) > vehicle.max_reloads:
        add("too_many_reloads", f"{len(reloads)} reloads, the vehicle may reload {vehicle.max_reloads} times")
    places = [reload.after_visits for reload in reloads]
    if any(not 0 <= place < len(visits) for place in places) or any(a >= b for a, b in itertools.pairwise(places)):
        add("reload_misplaced", f"reloads after {places} visits on a route of {len(visits)}")
        return 0, found  # no sequence to replay
    # The route as the vehicle drives it: visits, with each reload before the visit it precedes.
    events: list[Visit | Reload] = []
    pending = list(reloads)
    for count, visit in enumerate(visits):
        while pending and pending[0].after_visits == count:
            events.append(pending.pop(0))
        events.append(visit)

    lunch = route.lunch
    rule = vehicle.lunch
    if rule is None and lunch is not None:
        add("lunch_unexpected", "the route reports a lunch the vehicle has no rule for")
        lunch = None
    lunch_event = -1  # the lunch is on the leg that ends at events[lunch_event] (len(events): the way home)
    if rule is not None:
        if lunch is None:
            add("lunch_missing", "the driver never gets the lunch break")
        else:
            if not rule.earliest_start <= lunch.start <= rule.latest_start:
                window = f"{rule.earliest_start}..{rule.latest_start}"
                add("lunch_outside_window", f"lunch starts at {lunch.start}, outside {window}")
            if lunch.end - lunch.start != rule.duration:
                add("lunch_duration", f"lunch lasts {lunch.end - lunch.start}s, the rule says {rule.duration}s")
            if not 0 <= lunch.after_visits <= len(visits):
                add("lunch_misplaced", f"lunch after {lunch.after_visits} visits on a route of {len(visits)}")
                lunch = None
            else:
                lunch_event = _lunch_event(events, lunch.after_visits, lunch.start)

    duration, distance, objective = problem.duration, problem.distance, problem.objective_matrix
    position = vehicle.start_location
    leg_start = route.start
    driving = travelled = travel_cost = 0
    width = len(problem.dimensions)
    trip_loads = [[0] * width]
    for leg in range(len(events) + 1):
        event = events[leg] if leg < len(events) else None
        destination = stops[event.stop_id].location if isinstance(event, Visit) else 0
        travel = duration[position][destination]
        driving += travel
        travelled += distance[position][destination]
        travel_cost += objective[position][destination]
        if lunch is not None and rule is not None and leg == lunch_event:
            if lunch.start < leg_start:
                add("lunch_misplaced", f"lunch starts at {lunch.start}, before its leg starts at {leg_start}")
            free_at = max(leg_start + travel, lunch.start) + rule.duration
        else:
            free_at = leg_start + travel
        position = destination
        if event is None:
            if route.end != free_at:
                add("time_mismatch", f"route end reported {route.end}, replayed {free_at}")
            if route.end > vehicle.shift_end:
                add("shift_overrun", f"back at {route.end}, the shift ends at {vehicle.shift_end}")
            break
        if isinstance(event, Reload):
            where = f"reload after {event.after_visits} visits"
            if event.arrival != free_at:
                add("time_mismatch", f"{where}: arrival reported {event.arrival}, replayed {free_at}")
            if event.departure != event.arrival + vehicle.reload_seconds:
                add("time_mismatch", f"{where}: departure {event.departure} is not arrival + reload time")
            trip_loads.append([0] * width)
            leg_start = event.departure
            continue
        stop = stops[event.stop_id]
        sid = stop.id
        if event.arrival != free_at:
            add("time_mismatch", f"{sid}: arrival reported {event.arrival}, replayed {free_at}", sid)
        if event.service_start < event.arrival:
            add("service_before_arrival", f"{sid}: service at {event.service_start}, arrival {event.arrival}", sid)
        if not any(start <= event.service_start <= end for start, end in stop.time_windows):
            add("window_missed", f"{sid}: service starts at {event.service_start}, windows {stop.time_windows}", sid)
        if event.departure != event.service_start + stop.service_seconds:
            add("time_mismatch", f"{sid}: departure {event.departure} is not service start + service time", sid)
        if stop.motorcycle_only and not vehicle.motorcycle:
            add("incompatible_vehicle", f"{sid} is motorcycle-only, {vid} is not a motorcycle", sid)
        if stop.car_only and vehicle.motorcycle:
            add("incompatible_vehicle", f"{sid} needs a car or truck, {vid} is a motorcycle", sid)
        for dimension, amount in enumerate(stop.demand):
            trip_loads[-1][dimension] += amount
        leg_start = event.departure

    for trip, load in enumerate(trip_loads):
        capacity = vehicle.capacity
        if trip == 0 and vehicle.first_trip_capacity is not None:
            capacity = vehicle.first_trip_capacity
        which = f" on trip {trip + 1}" if len(trip_loads) > 1 else ""
        for dimension, (carried, room) in enumerate(zip(load, capacity, strict=True)):
            if carried > room:
                name = problem.dimensions[dimension]
                add("capacity_exceeded", f"{name}: carries {carried}{which}, capacity {room}")
        if trip > 0 and tuple(load) != tuple(reloads[trip - 1].load):
            add("load_mismatch", f"reload {trip} reported loading {reloads[trip - 1].load}, replayed {tuple(load)}")
    largest = tuple(max(load[dimension] for load in trip_loads) for dimension in range(width))
    if largest != tuple(route.load):
        add("load_mismatch", f"load reported {route.load}, replayed {largest}")
    limit = vehicle.max_driving_seconds
    if limit is not None and driving > limit:
        add("driving_exceeded", f"{driving}s of driving, the limit is {limit}s")
    if route.driving_seconds != driving:
        add("driving_mismatch", f"driving reported {route.driving_seconds}, replayed {driving}")
    if route.distance != travelled:
        add("distance_mismatch", f"distance reported {route.distance}, replayed {travelled}")
    if route.duration != route.end - route.start:
        add("duration_mismatch", f"duration reported {route.duration}, end - start is {route.end - route.start}")
    return travel_cost, found


def _lunch_event(events: list[Visit | Reload], after_visits: int, start: int) -> int:
    """The index of the event whose incoming leg holds a lunch taken after ``after_visits`` visits from ``start``:
    the next visit (or the way home), or a reload in between when the lunch starts before that reload leaves."""
    seen = 0
    for index, event in enumerate(events):
        if seen == after_visits:
            if isinstance(event, Visit):
                return index
            if start < event.departure:
                return index
        if isinstance(event, Visit):
            seen += 1
    return len(events)
