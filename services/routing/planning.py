"""Day plans: build the routing problem from the order and customer services, solve it, keep it, publish it.
Changes during the day (an urgent order, re-optimising the rest) are in plan_changes.py.

Every plan the solver returns is checked by the independent feasibility checker before it is written: a plan
that breaks a window, a capacity, a shift or a vehicle restriction is a bug, never something a driver gets.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

from prometheus_client import Histogram

from services.platform.clock import TAIPEI, utc_now
from services.platform.database import Database
from services.platform.errors import AlreadyExists, FailedPrecondition, FieldViolation, InvalidArgument, NotFound
from services.platform.proto_values import parse_date, parse_uuid
from services.routing.directory import CustomerDirectory, OrderDirectory
from services.routing.model_builder import (
    PlannedStop,
    build_problem,
)
from services.routing.models import PlanRow
from services.routing.plan_rows import Excluded, planned_stop, route_event, route_rows, vehicle_from_shift
from services.routing.repository import FleetRepository, PlanDocument, PlanRepository
from services.routing.schemas import PlanRecord, RouteRecord
from services.routing.settings import RoutingSettings
from services.routing.solver import pyvrp_solver
from services.routing.solver.checker import check
from services.routing.solver.problem import RoutingProblem, Solution
from services.routing.travel import Coordinate, TravelMatrix, TravelTimeProvider

MAX_REQUEST_ID = 100

Clock = Callable[[], datetime]

SOLVE_SECONDS = Histogram(
    "luckygas_routing_solve_seconds",
    "Time the solver took for a plan, an insertion or a re-optimisation.",
    ["operation"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 20, 30, 60),
)

_log = logging.getLogger(__name__)


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

    # --- planning a day ----------------------------------------------------------------------------------------

    async def plan_day(self, day_text: str, budget: float, request_id: str, actor: str) -> PlanRecord:
        day = parse_date(day_text, "date")
        budget = self._budget(budget)
        request_id = self._request_id(request_id)
        if day < self.clock().astimezone(TAIPEI).date():
            raise InvalidArgument.for_field("date", "must not be in the past")
        async with self.database.session() as session:
            existing = await self._replay(PlanRepository(session), request_id, day)
            if existing is not None:
                return PlanRecord.from_document(existing)
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
            if isinstance(found, Excluded):
                excluded.append(found)
            else:
                stops.append(found)
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
            await repository.lock_request(request_id)
            existing = await self._replay(repository, request_id, day)
            if existing is not None:
                return PlanRecord.from_document(existing)
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
            rows = route_rows(plan, vehicles, stops, solution)
            await repository.add(rows)
            return PlanRecord.from_document(await repository.document(plan))

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
        checked(problem, solution)
        return solution

    # --- reading -----------------------------------------------------------------------------------------------

    async def get(self, plan_id: str = "", day_text: str = "") -> PlanRecord:
        async with self.database.session() as session:
            repository = PlanRepository(session)
            if plan_id:
                plan = await repository.plan(parse_uuid(plan_id, "id", "a plan id"))
                if plan is None:
                    raise NotFound(f"plan {plan_id} does not exist")
            else:
                day = parse_date(day_text, "date")
                plan = await repository.current_plan(day)
                if plan is None:
                    raise NotFound(f"no plan for {day}")
            return PlanRecord.from_document(await repository.document(plan))

    async def driver_route(self, driver: str, day_text: str) -> RouteRecord:
        day = parse_date(day_text, "date") if day_text else self.clock().astimezone(TAIPEI).date()
        async with self.database.session() as session:
            found = await PlanRepository(session).driver_route(driver, day)
            if found is None:
                raise NotFound(f"{driver} has no published route on {day}")
            return RouteRecord.from_row(*found)

    # --- publishing --------------------------------------------------------------------------------------------

    async def publish(self, plan_id: str, actor: str) -> PlanRecord:
        parsed = parse_uuid(plan_id, "id", "a plan id")
        async with self.database.session() as session:
            repository = PlanRepository(session)
            plan = await repository.plan(parsed)
            if plan is None:
                raise NotFound(f"plan {plan_id} does not exist")
            await repository.lock_date(plan.date)
            plan = await repository.plan(parsed, for_update=True)
            assert plan is not None
            if plan.status == "published":
                return PlanRecord.from_document(await repository.document(plan))
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
                await route_event(session, "route.published", plan, route, document.stops[route.id])
            await session.flush()
            return PlanRecord.from_document(document)

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


def checked(problem: RoutingProblem, solution: Solution) -> None:
    """The independent checker's verdict; a plan it refuses is a solver bug and is never written."""
    violations = check(problem, solution)
    if violations:
        _log.error("the solver returned an infeasible plan", extra={"violations": [str(v) for v in violations[:20]]})
        raise RuntimeError(f"infeasible plan from the solver: {violations[:3]}")
