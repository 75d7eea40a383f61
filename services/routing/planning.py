"""Day plans: build the routing problem from the order and customer services, solve it, keep it, publish it,
and change it during the day (an urgent order inserted, the rest of the day re-optimised).

Every plan the solver returns is checked by the independent feasibility checker before it is written: a plan
that breaks a window, a capacity, a shift or a vehicle restriction is a bug, never something a driver gets.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from prometheus_client import Histogram
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.platform.database import Database
from services.platform.errors import AlreadyExists, FailedPrecondition, FieldViolation, InvalidArgument, NotFound
from services.platform.outbox import record_event
from services.platform.products import PRODUCTS
from services.routing.directory import CustomerDirectory, CustomerInfo, OrderDirectory, OrderInfo
from services.routing.fleet import parse_date
from services.routing.model_builder import (
    SIZES,
    PlannedStop,
    PlannedVehicle,
    build_problem,
    delivery_windows,
    parse_clock,
    seconds_of,
)
from services.routing.models import OUTBOX, PlanRow, RouteRow, StopRow
from services.routing.repository import FleetRepository, PlanDocument, PlanRepository
from services.routing.settings import RoutingSettings
from services.routing.solver import pyvrp_solver
from services.routing.solver.checker import check
from services.routing.solver.insertion import insert_urgent, replan_problem
from services.routing.solver.problem import DEPOT, LunchTaken, Route, RoutingProblem, Solution, Visit
from services.routing.travel import Coordinate, TravelMatrix, TravelTimeProvider

TAIPEI = ZoneInfo("Asia/Taipei")
MAX_REQUEST_ID = 100
DONE = ("arrived", "delivered", "failed")  # a stop in one of these is never moved again

Clock = Callable[[], datetime]

SOLVE_SECONDS = Histogram(
    "luckygas_routing_solve_seconds",
    "Time the solver took for a plan, an insertion or a re-optimisation.",
    ["operation"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 20, 30, 60),
)

_log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


def at(day: date, seconds: int) -> datetime:
    """Seconds since midnight of ``day`` in Taipei → an aware datetime."""
    return datetime.combine(day, time(0), tzinfo=TAIPEI) + timedelta(seconds=seconds)


def seconds_since_midnight(day: date, moment: datetime) -> int:
    return int((moment - datetime.combine(day, time(0), tzinfo=TAIPEI)).total_seconds())


@dataclass(frozen=True)
class Excluded:
    """An order left out of a plan and why (reason codes are listed in routing.proto's Unplaced)."""

    order: OrderInfo
    reason: str
    detail: str

    def to_json(self) -> dict[str, str]:
        return {
            "order_id": self.order.id,
            "order_number": self.order.number,
            "customer_code": self.order.customer_code,
            "reason": self.reason,
            "detail": self.detail,
        }


def planned_stop(order: OrderInfo, customer: CustomerInfo | None, resting: bool) -> PlannedStop | Excluded:
    """The order as a stop, or why it cannot be one whatever the fleet does."""
    if customer is None:
        return Excluded(order, "customer_not_found", f"customer {order.customer_code} is not in the customer service")
    if resting:
        return Excluded(order, "customer_rest_day", f"customer {customer.code} takes no deliveries on that day")
    if customer.latitude is None or customer.longitude is None:
        return Excluded(order, "missing_location", f"customer {customer.code} has no coordinates to drive to")
    unknown = [line.product for line in order.items if line.product not in PRODUCTS]
    if unknown:
        return Excluded(order, "unknown_product", f"products not in the catalogue: {', '.join(unknown)}")
    deliver: dict[str, int] = {}
    for line in order.items:
        deliver[line.product] = deliver.get(line.product, 0) + line.quantity
    stop = PlannedStop(
        order_id=order.id,
        order_number=order.number,
        customer_id=customer.id,
        customer_code=customer.code,
        customer_name=customer.name,
        address=customer.address,
        latitude=customer.latitude,
        longitude=customer.longitude,
        windows=(),
        deliver=deliver,
        vehicle_requirement=customer.vehicle_requirement,
        urgent=order.urgent,
    )
    try:
        start, end = parse_clock(order.window_start), parse_clock(order.window_end)
    except ValueError:
        return Excluded(
            order, "window_empty", f"the order's window {order.window_start}-{order.window_end} is unreadable"
        )
    return replace(stop, windows=delivery_windows(start, end, customer.hourly_windows, stop.service_seconds))


def stop_from_row(row: StopRow) -> PlannedStop:
    return PlannedStop(
        order_id=str(row.order_id),
        order_number=row.order_number,
        customer_id=str(row.customer_id),
        customer_code=row.customer_code,
        customer_name=row.customer_name,
        address=row.address,
        latitude=row.latitude,
        longitude=row.longitude,
        windows=tuple((int(start), int(end)) for start, end in row.windows),
        deliver=dict(row.deliver),
        vehicle_requirement=row.vehicle_requirement,
        urgent=row.urgent,
    )


def route_timeline(route: Route) -> dict[str, Any]:
    return {
        "start": route.start,
        "end": route.end,
        "lunch": None
        if route.lunch is None
        else {"after_visits": route.lunch.after_visits, "start": route.lunch.start, "end": route.lunch.end},
        "distance": route.distance,
        "duration": route.duration,
        "driving_seconds": route.driving_seconds,
        "load": list(route.load),
        "visits": [[visit.stop_id, visit.arrival, visit.service_start, visit.departure] for visit in route.visits],
    }


def route_from_timeline(vehicle_id: str, data: dict[str, Any]) -> Route:
    lunch = data.get("lunch")
    return Route(
        vehicle_id=vehicle_id,
        visits=tuple(
            Visit(str(stop_id), arrival, start, departure) for stop_id, arrival, start, departure in data["visits"]
        ),
        start=data["start"],
        end=data["end"],
        lunch=None if lunch is None else LunchTaken(lunch["after_visits"], lunch["start"], lunch["end"]),
        distance=data["distance"],
        duration=data["duration"],
        driving_seconds=data["driving_seconds"],
        load=tuple(data["load"]),
    )


def vehicle_from_shift(shift: Any, vehicle: Any) -> PlannedVehicle:
    return PlannedVehicle(
        plate=vehicle.plate,
        kind=vehicle.kind,
        driver=shift.driver,
        capacity={int(size): int(count) for size, count in vehicle.capacity.items()},
        max_load_kg=vehicle.max_load_kg,
        shift_start=seconds_of(shift.start_time),
        shift_end=seconds_of(shift.end_time),
        lunch_start=None if shift.lunch_start is None else seconds_of(shift.lunch_start),
        lunch_latest_start=None if shift.lunch_latest_start is None else seconds_of(shift.lunch_latest_start),
        lunch_minutes=shift.lunch_minutes,
        max_driving_minutes=shift.max_driving_minutes,
    )


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


class PlanningService:
    def __init__(
        self,
        database: Database,
        orders: OrderDirectory,
        customers: CustomerDirectory,
        travel: TravelTimeProvider,
        settings: RoutingSettings,
        *,
        clock: Clock = utc_now,
    ) -> None:
        self.database = database
        self.orders = orders
        self.customers = customers
        self.travel = travel
        self.settings = settings
        self.clock = clock

    # --- checks ------------------------------------------------------------------------------------------------

    def _budget(self, seconds: float) -> float:
        if seconds == 0:
            return self.settings.default_time_budget_seconds
        low, high = self.settings.min_time_budget_seconds, self.settings.max_time_budget_seconds
        if not low <= seconds <= high:
            raise InvalidArgument.for_field("time_budget_seconds", f"from {low:g} to {high:g} seconds")
        return seconds

    @staticmethod
    def _request_id(request_id: str) -> str:
        request_id = request_id.strip()
        if not 1 <= len(request_id) <= MAX_REQUEST_ID:
            raise InvalidArgument.for_field("request_id", f"is required, at most {MAX_REQUEST_ID} characters")
        return request_id

    @staticmethod
    def _plan_id(text: str, field: str = "plan_id") -> uuid.UUID:
        try:
            return uuid.UUID(text)
        except ValueError as error:
            raise InvalidArgument.for_field(field, "a plan id (UUID)") from error

    # --- planning a day ----------------------------------------------------------------------------------------

    async def plan_day(self, day_text: str, budget: float, request_id: str, actor: str) -> PlanDocument:
        day = parse_date(day_text)
        budget = self._budget(budget)
        request_id = self._request_id(request_id)
        if day < self.clock().astimezone(TAIPEI).date():
            raise InvalidArgument.for_field("date", "must not be in the past")
        async with self.database.session() as session:
            existing = await self._replay(PlanRepository(session), request_id, day)
            if existing is not None:
                return existing
            shifts = await FleetRepository(session).shifts(day)
            depot = None if not shifts else await FleetRepository(session).depot_by_id(shifts[0].vehicle.depot_id)
        if not shifts or depot is None:
            raise FailedPrecondition(f"no shifts on {day}: put the vehicles' shifts for that day first")
        orders = await self.orders.list_for_date(day.isoformat(), ["confirmed"])
        if not orders:
            raise FailedPrecondition(f"no confirmed orders on {day}: nothing to plan")
        customers, resting = await self.customers.get_many([order.customer_id for order in orders], day.isoformat())
        stops: list[PlannedStop] = []
        excluded: list[Excluded] = []
        for order in sorted(orders, key=lambda order: order.number):
            found = planned_stop(order, customers.get(order.customer_id), order.customer_id in resting)
            (excluded if isinstance(found, Excluded) else stops).append(found)  # type: ignore[arg-type]
        vehicles = [vehicle_from_shift(item.shift, item.vehicle) for item in shifts]
        depot_json = {"code": depot.code, "latitude": depot.latitude, "longitude": depot.longitude}
        matrix = await self._matrix(depot_json, stops)
        problem = build_problem(stops, vehicles, matrix, name=f"plan {day}")
        solution = await self._solve("plan", problem, budget)
        by_id = {order.id: order for order in orders}
        excluded += [
            Excluded(by_id[unplaced.stop_id], str(unplaced.reason), unplaced.detail) for unplaced in solution.unplaced
        ]
        async with self.database.session() as session:
            repository = PlanRepository(session)
            await session.execute(_advisory_lock(f"routing.request:{request_id}"))
            existing = await self._replay(repository, request_id, day)
            if existing is not None:
                return existing
            plan = PlanRow(
                id=uuid.uuid4(),
                date=day,
                status="draft",
                request_id=request_id,
                created_by=actor,
                time_budget_seconds=budget,
                solver=solution.solver,
                solve_seconds=solution.runtime_seconds,
                travel_source=matrix.source,
                degraded=matrix.degraded,
                degraded_reason=matrix.reason or "",
                unplaced=[item.to_json() for item in excluded],
                depot=depot_json,
                version=1,
            )
            await repository.add([plan])
            rows = _route_rows(plan, vehicles, stops, solution)
            await repository.add(rows)
            return await repository.document(plan)

    async def _replay(self, repository: PlanRepository, request_id: str, day: date) -> PlanDocument | None:
        plan = await repository.by_request_id(request_id)
        if plan is None:
            return None
        if plan.date != day:
            raise AlreadyExists(
                f"request_id {request_id} was used to plan {plan.date}",
                [FieldViolation("request_id", f"already used for the plan of {plan.date}")],
            )
        return await repository.document(plan)

    async def _matrix(self, depot: dict[str, Any], stops: Sequence[PlannedStop]) -> TravelMatrix:
        points = [Coordinate(depot["latitude"], depot["longitude"])]
        points += [Coordinate(stop.latitude, stop.longitude) for stop in stops]
        return await self.travel.matrix(points)

    async def _solve(self, operation: str, problem: RoutingProblem, budget: float) -> Solution:
        with SOLVE_SECONDS.labels(operation).time():
            # In a thread: the solver runs for the whole budget and must not stall this process's other calls.
            solution = await asyncio.to_thread(pyvrp_solver.solve, problem, budget)
        _checked(problem, solution)
        return solution

    # --- reading -----------------------------------------------------------------------------------------------

    async def get(self, plan_id: str = "", day_text: str = "") -> PlanDocument:
        async with self.database.session() as session:
            repository = PlanRepository(session)
            if plan_id:
                plan = await repository.plan(self._plan_id(plan_id, "id"))
                if plan is None:
                    raise NotFound(f"plan {plan_id} does not exist")
            else:
                day = parse_date(day_text)
                plan = await repository.current_plan(day)
                if plan is None:
                    raise NotFound(f"no plan for {day}")
            return await repository.document(plan)

    async def driver_route(self, driver: str, day_text: str) -> tuple[RouteRow, list[StopRow]]:
        day = parse_date(day_text) if day_text else self.clock().astimezone(TAIPEI).date()
        async with self.database.session() as session:
            found = await PlanRepository(session).driver_route(driver, day)
        if found is None:
            raise NotFound(f"{driver} has no published route on {day}")
        return found

    # --- publishing --------------------------------------------------------------------------------------------

    async def publish(self, plan_id: str, actor: str) -> PlanDocument:
        parsed = self._plan_id(plan_id, "id")
        async with self.database.session() as session:
            repository = PlanRepository(session)
            plan = await repository.plan(parsed)
            if plan is None:
                raise NotFound(f"plan {plan_id} does not exist")
            await repository.lock_date(plan.date)
            plan = await repository.plan(parsed, for_update=True)
            assert plan is not None
            if plan.status == "published":
                return await repository.document(plan)
            if plan.status == "superseded":
                raise FailedPrecondition(f"plan {plan_id} was superseded by another plan of {plan.date}")
            published = await repository.published_plan(plan.date)
            if published is not None:
                raise FailedPrecondition(
                    f"{plan.date} already has a published plan ({published.id}); insert orders into it or "
                    "re-optimise it"
                )
            document = await repository.document(plan)
            await self._check_orders_still_open(document)
            assignments = [
                (str(stop.order_id), str(route.id)) for route in document.routes for stop in document.stops[route.id]
            ]
            await self.orders.assign(assignments, actor)
            plan.status = "published"
            plan.published_at = self.clock()
            plan.version += 1
            await repository.supersede_drafts(plan.date, plan.id)
            for route in document.routes:
                await _route_event(session, "route.published", plan, route, document.stops[route.id])
            await session.flush()
            return document

    async def _check_orders_still_open(self, document: PlanDocument) -> None:
        """Every routed order is still confirmed, or assigned to this plan's route (a retried publish)."""
        orders = await self.orders.list_for_date(document.plan.date.isoformat(), ["confirmed", "assigned"])
        status = {order.id: order for order in orders}
        gone = []
        for route in document.routes:
            for stop in document.stops[route.id]:
                order = status.get(str(stop.order_id))
                if order is None or (order.status == "assigned" and order.route_id != str(route.id)):
                    gone.append(stop.order_number)
        if gone:
            raise FailedPrecondition(
                f"orders changed since the plan was made ({', '.join(sorted(gone)[:10])}"
                f"{' …' if len(gone) > 10 else ''}): plan the day again"
            )

    # --- changing a published plan -----------------------------------------------------------------------------

    async def _day_model(self, repository: PlanRepository, plan: PlanRow) -> _DayModel:
        document = await repository.document(plan)
        routes = {route.vehicle_plate: route for route in document.routes}
        vehicles = [
            PlannedVehicle.from_json(route.vehicle_plate, route.driver, route.shift) for route in document.routes
        ]
        # Vehicles on shift that the plan left unused may take an urgent order or a share of the rest.
        for item in await FleetRepository(repository.session).shifts(plan.date):
            if item.vehicle.plate not in routes and item.vehicle.active:
                vehicles.append(vehicle_from_shift(item.shift, item.vehicle))
        rows = [stop for route in document.routes for stop in document.stops[route.id]]
        stops = [stop_from_row(row) for row in rows]
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
        parsed = self._plan_id(plan_id)
        plan = await repository.plan(parsed)
        if plan is None:
            raise NotFound(f"plan {plan_id} does not exist")
        await repository.lock_date(plan.date)
        plan = await repository.plan(parsed, for_update=True)
        assert plan is not None
        if plan.status != "published":
            raise FailedPrecondition(f"plan {plan_id} is {plan.status}: only a published plan changes during the day")
        return plan

    async def insert_order(self, plan_id: str, order_id: str, actor: str) -> PlanDocument:
        try:
            uuid.UUID(order_id)
        except ValueError as error:
            raise InvalidArgument.for_field("order_id", "an order id (UUID)") from error
        async with self.database.session() as session:
            repository = PlanRepository(session)
            plan = await self._published(repository, plan_id)
            model = await self._day_model(repository, plan)
            if any(stop.order_id == order_id for stop in model.stops):
                return model.document  # already in the plan: a retried insert
            order = await self.orders.get(order_id)
            if order.scheduled_date != plan.date.isoformat():
                raise FailedPrecondition(f"order {order.number} is for {order.scheduled_date}, not {plan.date}")
            if order.status != "confirmed":
                raise FailedPrecondition(f"order {order.number} is {order.status}; only a confirmed order is inserted")
            customers, resting = await self.customers.get_many([order.customer_id], plan.date.isoformat())
            found = planned_stop(order, customers.get(order.customer_id), order.customer_id in resting)
            if isinstance(found, Excluded):
                raise FailedPrecondition(f"order {order.number} cannot be delivered: {found.reason}: {found.detail}")
            stops = [*model.stops, found]
            matrix = await self._matrix(plan.depot, stops)
            problem = build_problem(stops, model.vehicles, matrix, name=f"plan {plan.date}")
            with SOLVE_SECONDS.labels("insert").time():
                solution = insert_urgent(problem, model.solution, problem.stops[-1], model.completed)
            _checked(problem, solution)
            left = [unplaced for unplaced in solution.unplaced if unplaced.stop_id == order_id]
            if left:
                raise FailedPrecondition(
                    f"order {order.number} fits in no route without moving others: {left[0].reason}: {left[0].detail}"
                )
            changed = await self._write_routes(repository, plan, model, stops, solution, urgent={order_id})
            route_of = {visit.stop_id: route.vehicle_id for route in solution.routes for visit in route.visits}
            plates = {row.vehicle_plate: row for row in changed}
            await self.orders.assign([(order_id, str(plates[route_of[order_id]].id))], actor)
            plan.version += 1
            document = await repository.document(plan)
            for route in changed:
                await _route_event(session, "route.updated", plan, route, document.stops[route.id])
            return document

    async def reoptimize(self, plan_id: str, budget: float, actor: str) -> PlanDocument:
        budget = self._budget(budget)
        async with self.database.session() as session:
            repository = PlanRepository(session)
            plan = await self._published(repository, plan_id)
            model = await self._day_model(repository, plan)
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
            moved = [
                (visit.stop_id, str(plates[route.vehicle_id].id))
                for route in merged.routes
                if route.vehicle_id in plates
                for visit in route.visits
            ]
            await self.orders.assign(moved, actor)  # unchanged assignments are no-ops in the order service
            plan.version += 1
            document = await repository.document(plan)
            for route in changed:
                await _route_event(session, "route.updated", plan, route, document.stops[route.id])
            return document

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
                row = _new_route(plan, vehicles[route.vehicle_id])
                await repository.add([row])
            else:
                row.version += 1
            _fill_route(row, plan.date, route)
            changed.append(row)
            for sequence, visit in enumerate(route.visits, start=1):
                stop_row = _stop_row(plan, row, sequence, planned[visit.stop_id], visit)
                before = existing.get(visit.stop_id)
                if before is not None:
                    stop_row.id, stop_row.status = before.id, before.status
                stop_row.urgent = stop_row.urgent or visit.stop_id in urgent
                rows.append(stop_row)
        await repository.replace_stops([row.id for row in changed], rows)
        return changed


def _checked(problem: RoutingProblem, solution: Solution) -> None:
    """The independent checker's verdict; a plan it refuses is a solver bug and is never written."""
    violations = check(problem, solution)
    if violations:
        _log.error("the solver returned an infeasible plan", extra={"violations": [str(v) for v in violations[:20]]})
        raise RuntimeError(f"infeasible plan from the solver: {violations[:3]}")


def _advisory_lock(key: str) -> Select[Any]:
    return select(func.pg_advisory_xact_lock(func.hashtext(key)))


def _new_route(plan: PlanRow, vehicle: PlannedVehicle) -> RouteRow:
    return RouteRow(
        id=uuid.uuid4(),
        plan_id=plan.id,
        date=plan.date,
        vehicle_plate=vehicle.plate,
        vehicle_kind=vehicle.kind,
        driver=vehicle.driver,
        shift=vehicle.to_json(),
        version=1,
    )


def _fill_route(row: RouteRow, day: date, route: Route) -> None:
    row.timeline = route_timeline(route)
    row.distance_m = route.distance
    row.duration_s = route.duration
    row.start_at = at(day, route.start)
    row.end_at = at(day, route.end)
    row.lunch_start_at = None if route.lunch is None else at(day, route.lunch.start)
    row.load = {str(size): count for size, count in zip(SIZES, route.load, strict=False) if count}
    row.load_kg = route.load[len(SIZES)] if len(route.load) > len(SIZES) else 0


def _stop_row(plan: PlanRow, route: RouteRow, sequence: int, stop: PlannedStop, visit: Visit) -> StopRow:
    return StopRow(
        id=uuid.uuid4(),
        route_id=route.id,
        plan_id=plan.id,
        sequence=sequence,
        order_id=uuid.UUID(stop.order_id),
        order_number=stop.order_number,
        customer_id=uuid.UUID(stop.customer_id),
        customer_code=stop.customer_code,
        customer_name=stop.customer_name,
        address=stop.address,
        latitude=stop.latitude,
        longitude=stop.longitude,
        windows=[list(window) for window in stop.windows],
        deliver=dict(stop.deliver),
        vehicle_requirement=stop.vehicle_requirement,
        service_minutes=stop.service_seconds // 60,
        eta=at(plan.date, visit.arrival),
        service_start=at(plan.date, visit.service_start),
        status="planned",
        urgent=stop.urgent,
    )


def _route_rows(
    plan: PlanRow, vehicles: Sequence[PlannedVehicle], stops: Sequence[PlannedStop], solution: Solution
) -> list[object]:
    """Rows of a new plan: a route per vehicle that has visits, then its stops."""
    planned = {stop.order_id: stop for stop in stops}
    by_plate = {vehicle.plate: vehicle for vehicle in vehicles}
    rows: list[object] = []
    stop_rows: list[object] = []
    for route in solution.routes:
        if not route.visits:
            continue
        row = _new_route(plan, by_plate[route.vehicle_id])
        _fill_route(row, plan.date, route)
        rows.append(row)
        stop_rows += [
            _stop_row(plan, row, sequence, planned[visit.stop_id], visit)
            for sequence, visit in enumerate(route.visits, start=1)
        ]
    return rows + stop_rows


def _merge(model: _DayModel, rest: Solution) -> Solution:
    """The day's routes: each vehicle's completed visits as they were, then the re-optimised rest."""
    old = {route.vehicle_id: route for route in model.solution.routes}
    locations = {stop.id: stop.location for stop in model.problem.stops}
    demand = {stop.id: stop.demand for stop in model.problem.stops}
    routes = []
    for route in rest.routes:
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
        path = [DEPOT, *(locations[visit.stop_id] for visit in visits), DEPOT]
        legs = list(itertools.pairwise(path))
        # What the vehicle left the depot with: the completed visits' cylinders plus the rest's.
        load = tuple(
            sum(amounts) for amounts in zip(route.load, *(demand[v.stop_id] for v in visits[:done]), strict=True)
        )
        routes.append(
            replace(
                route,
                visits=visits,
                start=before.start,
                lunch=lunch,
                distance=sum(model.problem.distance[a][b] for a, b in legs),
                duration=route.end - before.start,
                driving_seconds=sum(model.problem.duration[a][b] for a, b in legs),
                load=load,
            )
        )
    return replace(rest, routes=tuple(routes))


async def _route_event(
    session: AsyncSession, type: str, plan: PlanRow, route: RouteRow, stops: Sequence[StopRow]
) -> None:
    await record_event(
        session,
        OUTBOX,
        aggregate="route",
        type=type,
        aggregate_id=str(route.id),
        aggregate_version=route.version,
        payload={
            "route_id": str(route.id),
            "plan_id": str(plan.id),
            "date": plan.date.isoformat(),
            "driver": route.driver,
            "vehicle_plate": route.vehicle_plate,
            "stops": [
                {
                    "stop_id": str(stop.id),
                    "sequence": stop.sequence,
                    "order_id": str(stop.order_id),
                    "order_number": stop.order_number,
                    "eta": stop.eta.isoformat(),
                    "latitude": stop.latitude,
                    "longitude": stop.longitude,
                    "status": stop.status,
                }
                for stop in stops
            ],
        },
    )
