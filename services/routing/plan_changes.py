"""Changing a published plan during the day: an urgent order inserted without moving visited stops or
reordering the others, and the rest of the day re-optimised from where each vehicle is. Visited stops (arrived,
delivered or failed) never move."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, replace

from services.platform.clock import TAIPEI
from services.platform.errors import FailedPrecondition, NotFound
from services.platform.proto_values import parse_uuid
from services.routing.model_builder import PlannedStop, PlannedVehicle, build_problem
from services.routing.models import PlanRow, RouteRow, StopRow
from services.routing.plan_rows import (
    Excluded,
    fill_route,
    new_route,
    planned_stop,
    route_event,
    route_from_timeline,
    route_timeline,
    seconds_since_midnight,
    stop_from_row,
    stop_row,
    vehicle_from_shift,
)
from services.routing.planning import SOLVE_SECONDS, PlanningService, checked
from services.routing.repository import FleetRepository, PlanDocument, PlanRepository
from services.routing.schemas import PlanRecord
from services.routing.solver.insertion import insert_urgent, replan_problem
from services.routing.solver.problem import DEPOT, LunchTaken, RoutingProblem, Solution

DONE = ("arrived", "delivered", "failed")  # a stop in one of these is never moved again


@dataclass
class _DayModel:
    """A published plan turned back into solver terms: the problem, the solution and what is already done."""

    document: PlanDocument
    stops: list[PlannedStop]
    vehicles: list[PlannedVehicle]
    problem: RoutingProblem
    solution: Solution
    completed: dict[str, int]  # plate → visits already done (a prefix of the route)
    routes: dict[str, RouteRow]  # plate → route row (vehicles on shift without a route yet have none)


class PlanChanges(PlanningService):
    """The planning service plus the changes a published plan takes during the day."""

    async def _day_model(
        self, repository: PlanRepository, plan: PlanRow, document: PlanDocument, extra: Sequence[PlannedStop] = ()
    ) -> _DayModel:
        """The published plan in solver terms; ``extra`` stops (an urgent order) join the problem, unplaced."""
        routes = {route.vehicle_plate: route for route in document.routes}
        vehicles = [
            PlannedVehicle.from_json(route.vehicle_plate, route.driver, route.shift) for route in document.routes
        ]
        # Vehicles on shift that the plan left unused may take an urgent order or a share of the rest.
        for item in await FleetRepository(repository.session).shifts(plan.date):
            if item.vehicle.plate not in routes and item.vehicle.active:
                vehicles.append(vehicle_from_shift(item.shift, item.vehicle))
        rows = [stop for route in document.routes for stop in document.stops[route.id]]
        stops = [*(stop_from_row(row) for row in rows), *extra]
        matrix = await self._matrix(plan.depot, stops)
        problem = build_problem(stops, vehicles, matrix, name=f"plan {plan.date}")
        solved_routes = tuple(route_from_timeline(route.vehicle_plate, route.timeline) for route in document.routes)
        solution = Solution(
            routes=solved_routes,
            unplaced=(),
            objective=0,
            total_distance=sum(route.distance for route in solved_routes),
            total_duration=sum(route.duration for route in solved_routes),
            total_driving_seconds=sum(route.driving_seconds for route in solved_routes),
            vehicles_used=sum(1 for route in solved_routes if route.visits),
            solver="stored",
            runtime_seconds=0.0,
        )
        completed = {}
        for route in document.routes:
            done = 0
            for stop in document.stops[route.id]:
                if stop.status not in DONE:
                    break
                done += 1
            completed[route.vehicle_plate] = done
        return _DayModel(document, stops, vehicles, problem, solution, completed, routes)

    async def _published(self, repository: PlanRepository, plan_id: str) -> PlanRow:
        parsed = parse_uuid(plan_id, "plan_id", "a plan id")
        plan = await repository.plan(parsed)
        if plan is None:
            raise NotFound(f"plan {plan_id} does not exist")
        await repository.lock_date(plan.date)
        plan = await repository.plan(parsed, for_update=True)
        assert plan is not None
        if plan.status != "published":
            raise FailedPrecondition(f"plan {plan_id} is {plan.status}: only a published plan changes during the day")
        return plan

    async def insert_order(self, plan_id: str, order_id: str, actor: str) -> PlanRecord:
        parse_uuid(order_id, "order_id", "an order id")
        async with self.database.session() as session:
            repository = PlanRepository(session)
            plan = await self._published(repository, plan_id)
            document = await repository.document(plan)
            if any(str(row.order_id) == order_id for rows in document.stops.values() for row in rows):
                return PlanRecord.from_document(document)  # already in the plan: a retried insert
            order = await self.orders.get(order_id)
            if order.scheduled_date != plan.date.isoformat():
                raise FailedPrecondition(f"order {order.number} is for {order.scheduled_date}, not {plan.date}")
            if order.status != "confirmed":
                raise FailedPrecondition(f"order {order.number} is {order.status}; only a confirmed order is inserted")
            customers, resting = await self.customers.get_many([order.customer_id], plan.date.isoformat())
            found = planned_stop(order, customers.get(order.customer_id), order.customer_id in resting)
            if isinstance(found, Excluded):
                raise FailedPrecondition(f"order {order.number} cannot be delivered: {found.reason}: {found.detail}")
            # One travel matrix over the plan's stops and the new one (it may be a call to the road engine).
            model = await self._day_model(repository, plan, document, extra=[found])
            problem = model.problem
            with SOLVE_SECONDS.labels("insert").time():
                solution = insert_urgent(problem, model.solution, problem.stops[-1], model.completed)
            checked(problem, solution)
            left = [unplaced for unplaced in solution.unplaced if unplaced.stop_id == order_id]
            if left:
                raise FailedPrecondition(
                    f"order {order.number} fits in no route without moving others: {left[0].reason}: {left[0].detail}"
                )
            changed = await self._write_routes(repository, plan, model, model.stops, solution, urgent={order_id})
            route_of = {visit.stop_id: route.vehicle_id for route in solution.routes for visit in route.visits}
            plates = {row.vehicle_plate: row for row in changed}
            await self.orders.assign([(order_id, str(plates[route_of[order_id]].id))], actor)
            plan.version += 1
            document = await repository.document(plan)
            for route in changed:
                await route_event(session, "route.updated", plan, route, document.stops[route.id])
            return PlanRecord.from_document(document)

    async def reoptimize(self, plan_id: str, budget: float, actor: str) -> PlanRecord:
        budget = self._budget(budget)
        async with self.database.session() as session:
            repository = PlanRepository(session)
            plan = await self._published(repository, plan_id)
            model = await self._day_model(repository, plan, await repository.document(plan))
            today = self.clock().astimezone(TAIPEI)
            if plan.date < today.date():
                raise FailedPrecondition(f"plan {plan_id} is for {plan.date}, which is over")
            now = seconds_since_midnight(plan.date, today) if plan.date == today.date() else 0
            remaining = replan_problem(model.problem, model.solution, now, model.completed)
            rest = await self._solve("reoptimize", remaining, budget)
            before = {visit.stop_id for route in model.solution.routes for visit in route.visits}
            dropped = [unplaced.stop_id for unplaced in rest.unplaced if unplaced.stop_id in before]
            if dropped:
                numbers = sorted(stop.order_number for stop in model.stops if stop.order_id in dropped)
                raise FailedPrecondition(
                    f"re-optimising from now would leave out {', '.join(numbers)}; the plan is unchanged"
                )
            merged = _merge(model, rest)
            changed = await self._write_routes(repository, plan, model, model.stops, merged, urgent=set())
            plates = {row.vehicle_plate: row for row in changed}
            # The visits still to make: a visited stop's order has moved on (in delivery, delivered, failed), and
            # a cancelled one is kept in the plan (and timed) only until the next full re-plan.
            cancelled = {
                str(row.order_id) for rows in model.document.stops.values() for row in rows if row.status == "cancelled"
            }
            moved = [
                (visit.stop_id, str(plates[route.vehicle_id].id))
                for route in merged.routes
                if route.vehicle_id in plates
                for visit in route.visits[model.completed.get(route.vehicle_id, 0) :]
                if visit.stop_id not in cancelled
            ]
            await self.orders.assign(moved, actor)  # unchanged assignments are no-ops in the order service
            plan.version += 1
            document = await repository.document(plan)
            for route in changed:
                await route_event(session, "route.updated", plan, route, document.stops[route.id])
            return PlanRecord.from_document(document)

    async def _write_routes(
        self,
        repository: PlanRepository,
        plan: PlanRow,
        model: _DayModel,
        stops: Sequence[PlannedStop],
        solution: Solution,
        urgent: set[str],
    ) -> list[RouteRow]:
        """Writes the routes whose timeline changed (stop rows keep their id and status); returns them."""
        existing = {str(row.order_id): row for rows in model.document.stops.values() for row in rows}
        planned = {stop.order_id: stop for stop in stops}
        vehicles = {vehicle.plate: vehicle for vehicle in model.vehicles}
        changed: list[RouteRow] = []
        rows: list[StopRow] = []
        for route in solution.routes:
            row = model.routes.get(route.vehicle_id)
            if row is not None and row.timeline == route_timeline(route):
                continue
            if row is None:
                if not route.visits:
                    continue
                row = new_route(plan, vehicles[route.vehicle_id])
                await repository.add([row])
            else:
                row.version += 1
            fill_route(row, plan.date, route)
            changed.append(row)
            for sequence, visit in enumerate(route.visits, start=1):
                written = stop_row(plan, row, sequence, planned[visit.stop_id], visit)
                before = existing.get(visit.stop_id)
                if before is not None:
                    written.id, written.status = before.id, before.status
                written.urgent = written.urgent or visit.stop_id in urgent
                rows.append(written)
        await repository.replace_stops([row.id for row in changed], rows)
        return changed


def _merge(model: _DayModel, rest: Solution) -> Solution:
    """The day's routes: each vehicle's completed visits (and the reloads among them) as they were, then the
    re-optimised rest; distance, driving and the largest trip load are recomputed over the whole day."""
    old = {route.vehicle_id: route for route in model.solution.routes}
    locations = {stop.id: stop.location for stop in model.problem.stops}
    demand = {stop.id: stop.demand for stop in model.problem.stops}
    rest_routes = {route.vehicle_id: route for route in rest.routes}
    for vehicle_id, made in old.items():
        done = model.completed.get(vehicle_id, 0)
        if done and vehicle_id not in rest_routes:
            # Nothing left for this vehicle: its day is the visits it made, then home.
            last = made.visits[done - 1]
            home = last.departure + model.problem.duration[locations[last.stop_id]][DEPOT]
            rest_routes[vehicle_id] = replace(
                made, visits=(), reloads=(), lunch=None, start=last.departure, end=home, load=made.load
            )
    routes = []
    for route in rest_routes.values():
        before = old.get(route.vehicle_id)
        done = model.completed.get(route.vehicle_id, 0)
        if before is None or done == 0:
            routes.append(route)
            continue
        lunch = route.lunch
        if lunch is not None:
            lunch = LunchTaken(lunch.after_visits + done, lunch.start, lunch.end)
        elif before.lunch is not None and before.lunch.after_visits < done:
            lunch = before.lunch  # eaten already, on the part of the day that is done
        visits = (*before.visits[:done], *route.visits)
        reloads = (
            *(reload for reload in before.reloads if reload.after_visits < done),
            *(replace(reload, after_visits=reload.after_visits + done) for reload in route.reloads),
        )
        # The day's path: the depot, the visits in order with a return to the depot at each reload, the depot.
        path = [DEPOT]
        trips: list[list[tuple[int, ...]]] = [[]]
        reload_points = sorted(reload.after_visits for reload in reloads)
        for index, visit in enumerate(visits):
            while reload_points and reload_points[0] == index:
                reload_points.pop(0)
                path.append(DEPOT)
                trips.append([])
            path.append(locations[visit.stop_id])
            trips[-1].append(demand[visit.stop_id])
        path.append(DEPOT)
        legs = list(itertools.pairwise(path))
        width = len(model.problem.dimensions)
        trip_loads = [tuple(sum(amounts) for amounts in zip(*trip, strict=True)) or (0,) * width for trip in trips]
        routes.append(
            replace(
                route,
                visits=visits,
                start=before.start,
                lunch=lunch,
                distance=sum(model.problem.distance[a][b] for a, b in legs),
                duration=route.end - before.start,
                driving_seconds=sum(model.problem.duration[a][b] for a, b in legs),
                load=tuple(max(loads) for loads in zip(*trip_loads, strict=True)),
                reloads=reloads,
            )
        )
    return replace(rest, routes=tuple(routes))
