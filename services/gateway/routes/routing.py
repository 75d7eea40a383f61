"""``/api/v1/fleet``, ``/api/v1/plans`` and ``/api/v1/drivers/me/route``: the fleet, day plans, a driver's day."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Response, status
from luckygas.routing.v1 import routing_pb2 as pb

from services.gateway import problems
from services.gateway.context import GatewayContext, get_context
from services.gateway.mappers.routing import depot_out, plan_out, route_out, shift_out, vehicle_in, vehicle_out
from services.gateway.schemas.routing import (
    DEFAULT_BUDGET_SECONDS,
    DepotIn,
    DepotOut,
    PlanCreate,
    PlanOut,
    Reoptimization,
    RouteOut,
    ShiftIn,
    ShiftOut,
    UrgentOrder,
    VehicleIn,
    VehicleOut,
)
from services.gateway.security import DISPATCHER, DRIVER, Allow
from services.gateway.tokens import AccessClaims

fleet_router = APIRouter(prefix="/api/v1/fleet", tags=["fleet"])
plans_router = APIRouter(prefix="/api/v1/plans", tags=["plans"])
driver_router = APIRouter(prefix="/api/v1/drivers", tags=["drivers"])

Context = Annotated[GatewayContext, Depends(get_context)]
Office = Annotated[AccessClaims, Depends(Allow(DISPATCHER))]
Driver = Annotated[AccessClaims, Depends(Allow(DRIVER))]
IdempotencyKey = Annotated[str, Header(min_length=1, max_length=100, description="makes a retried plan safe")]
# A plan takes its whole time budget; the call to the routing service waits that long plus this.
PLANNING_MARGIN_SECONDS = 15.0


# --- bodies ----------------------------------------------------------------------------------------------------


# --- conversions -------------------------------------------------------------------------------------------------


def _solving(context: GatewayContext, budget: float) -> float:
    """The deadline of a call that solves: the budget (never less than the default) plus a margin."""
    return max(budget, DEFAULT_BUDGET_SECONDS) + PLANNING_MARGIN_SECONDS + context.settings.call_deadline_seconds


# --- fleet -------------------------------------------------------------------------------------------------------


@fleet_router.get("/depots", response_model=list[DepotOut])
async def list_depots(context: Context, claims: Office) -> list[DepotOut]:
    """Every depot the fleet leaves from."""
    return [depot_out(depot) for depot in (await context.routing.ListDepots(pb.ListDepotsRequest())).depots]


@fleet_router.put("/depots/{code}", response_model=DepotOut)
async def put_depot(code: str, body: DepotIn, context: Context, claims: Office) -> DepotOut:
    """Create or replace a depot by its code (idempotent)."""
    depot = pb.Depot(code=code, name=body.name, latitude=body.latitude, longitude=body.longitude)
    return depot_out(await context.routing.PutDepot(pb.PutDepotRequest(depot=depot, actor=claims.username)))


@fleet_router.get("/vehicles", response_model=list[VehicleOut])
async def list_vehicles(
    context: Context, claims: Office, include_inactive: Annotated[bool, Query()] = False
) -> list[VehicleOut]:
    """The vehicles (active ones, or all with include_inactive) with their capacities and depot."""
    reply = await context.routing.ListVehicles(pb.ListVehiclesRequest(include_inactive=include_inactive))
    return [vehicle_out(vehicle) for vehicle in reply.vehicles]


@fleet_router.put("/vehicles/{plate}", response_model=VehicleOut)
async def put_vehicle(plate: str, body: VehicleIn, context: Context, claims: Office) -> VehicleOut:
    """Create or replace a vehicle by its plate (idempotent)."""
    request = pb.PutVehicleRequest(vehicle=vehicle_in(plate, body), actor=claims.username)
    return vehicle_out(await context.routing.PutVehicle(request))


@fleet_router.get("/shifts", response_model=list[ShiftOut])
async def list_shifts(context: Context, claims: Office, day: Annotated[date, Query(alias="date")]) -> list[ShiftOut]:
    """Which vehicle works which hours with which driver on the date."""
    reply = await context.routing.ListShifts(pb.ListShiftsRequest(date=day.isoformat()))
    return [shift_out(shift) for shift in reply.shifts]


@fleet_router.put("/shifts/{day}/{plate}", response_model=ShiftOut)
async def put_shift(day: date, plate: str, body: ShiftIn, context: Context, claims: Office) -> ShiftOut:
    """Create or replace the vehicle's shift on that day (idempotent)."""
    shift = pb.Shift(vehicle_plate=plate, date=day.isoformat(), **body.model_dump())
    return shift_out(await context.routing.PutShift(pb.PutShiftRequest(shift=shift, actor=claims.username)))


@fleet_router.delete("/shifts/{day}/{plate}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_shift(day: date, plate: str, context: Context, claims: Office) -> Response:
    """Remove the shift; removing one that is not there is not an error (204 either way)."""
    await context.routing.DeleteShift(
        pb.DeleteShiftRequest(vehicle_plate=plate, date=day.isoformat(), actor=claims.username)
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- plans -------------------------------------------------------------------------------------------------------


@plans_router.post("", status_code=status.HTTP_201_CREATED, response_model=PlanOut)
async def plan_day(
    body: PlanCreate, context: Context, claims: Office, response: Response, idempotency_key: IdempotencyKey
) -> PlanOut:
    """Plan a date: every confirmed order of that day is routed or listed in ``unplaced`` with its reason.
    The plan is a draft until published. A retry with the same Idempotency-Key returns the same plan."""
    plan = await context.routing.PlanDay(
        pb.PlanDayRequest(
            date=body.date.isoformat(),
            time_budget_seconds=body.time_budget_seconds,
            request_id=idempotency_key,
            actor=claims.username,
        ),
        timeout=_solving(context, body.time_budget_seconds),
    )
    response.headers["Location"] = f"{plans_router.prefix}/{plan.id}"
    return plan_out(plan)


@plans_router.get("", response_model=PlanOut, responses=problems.documented(404))
async def current_plan(context: Context, claims: Office, day: Annotated[date, Query(alias="date")]) -> PlanOut:
    """The plan of a date: the published one, else the newest draft."""
    return plan_out(await context.routing.GetPlan(pb.GetPlanRequest(date=day.isoformat())))


@plans_router.get("/{plan_id}", response_model=PlanOut)
async def get_plan(plan_id: str, context: Context, claims: Office) -> PlanOut:
    """One plan: its routes, each route's stops in order with ETAs, and the orders it could not place."""
    return plan_out(await context.routing.GetPlan(pb.GetPlanRequest(id=plan_id)))


@plans_router.post("/{plan_id}/publish", response_model=PlanOut)
async def publish_plan(plan_id: str, context: Context, claims: Office) -> PlanOut:
    """Assign every routed order to its route and tell the drivers. Publishing again changes nothing."""
    plan = await context.routing.PublishPlan(
        pb.PublishPlanRequest(id=plan_id, actor=claims.username), timeout=_solving(context, 0)
    )
    return plan_out(plan)


@plans_router.post("/{plan_id}/urgent", response_model=PlanOut)
async def insert_urgent(plan_id: str, body: UrgentOrder, context: Context, claims: Office) -> PlanOut:
    """Put a confirmed order into the published plan without moving a visited stop or reordering others;
    409 naming the constraint when it fits nowhere. Inserting the same order again changes nothing."""
    plan = await context.routing.InsertOrder(
        pb.InsertOrderRequest(plan_id=plan_id, order_id=body.order_id, actor=claims.username),
        timeout=_solving(context, 0),
    )
    return plan_out(plan)


@plans_router.post("/{plan_id}/reoptimize", response_model=PlanOut)
async def reoptimize_plan(plan_id: str, body: Reoptimization, context: Context, claims: Office) -> PlanOut:
    """Re-solve the stops not yet visited from where each vehicle is now; 409 if that would drop a stop."""
    plan = await context.routing.ReoptimizePlan(
        pb.ReoptimizePlanRequest(plan_id=plan_id, time_budget_seconds=body.time_budget_seconds, actor=claims.username),
        timeout=_solving(context, body.time_budget_seconds),
    )
    return plan_out(plan)


# --- drivers -----------------------------------------------------------------------------------------------------


@driver_router.get("/me/route", response_model=RouteOut, responses=problems.documented(404))
async def my_route(
    context: Context, claims: Driver, day: Annotated[date | None, Query(alias="date")] = None
) -> RouteOut:
    """The signed-in driver's stops in order (today in Taipei unless ``date`` is given): what to deliver and
    which empties to collect at each."""
    route = await context.routing.GetDriverRoute(
        pb.GetDriverRouteRequest(driver=claims.username, date=day.isoformat() if day else "")
    )
    return route_out(route)
