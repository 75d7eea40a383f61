"""``/api/v1/fleet``, ``/api/v1/plans`` and ``/api/v1/drivers/me/route``: the fleet, day plans, a driver's day."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Response, status
from luckygas.routing.v1 import routing_pb2 as pb
from pydantic import BaseModel, Field

from services.gateway.context import GatewayContext, get_context
from services.gateway.schemas import Strict, timestamp_field
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
DEFAULT_BUDGET_SECONDS = 5.0

PLAN_STATUS = {value: name.removeprefix("PLAN_STATUS_").lower() for name, value in pb.PlanStatus.items()}
STOP_STATUS = {value: name.removeprefix("STOP_STATUS_").lower() for name, value in pb.StopStatus.items()}


# --- bodies ----------------------------------------------------------------------------------------------------


class DepotIn(Strict):
    name: str = Field(max_length=100, examples=["幸福氣 台東總站"])
    latitude: float
    longitude: float


class DepotOut(DepotIn):
    id: str
    code: str


class VehicleIn(Strict):
    kind: str = Field(examples=["small_truck"], description="small_truck | medium_truck | van | motorcycle")
    capacity: dict[int, int] = Field(
        examples=[{"20": 30, "50": 6}], description="full cylinders per size in kg (4, 10, 16, 20, 50)"
    )
    max_load_kg: int = Field(examples=[1000], description="gross weight of full cylinders it may carry")
    depot_code: str = "taitung"
    active: bool = True


class VehicleOut(VehicleIn):
    id: str
    plate: str
    version: int


class ShiftIn(Strict):
    driver: str = Field(examples=["driver01"])
    start: str = Field("08:00", description="HH:MM, Asia/Taipei")
    end: str = "18:00"
    lunch_start: str = Field("11:30", description="earliest lunch start; empty for no lunch break")
    lunch_latest_start: str = "13:00"
    lunch_minutes: int = 60
    max_driving_minutes: int = 480


class ShiftOut(ShiftIn):
    id: str
    vehicle_plate: str
    date: date


class PlanCreate(Strict):
    date: date
    time_budget_seconds: float = Field(DEFAULT_BUDGET_SECONDS, description="how long the solver may search, 1-60 s")


class Reoptimization(Strict):
    time_budget_seconds: float = Field(DEFAULT_BUDGET_SECONDS, description="1-60 s")


class UrgentOrder(Strict):
    order_id: str = Field(min_length=1, max_length=64)


class ItemCount(BaseModel):
    product: str
    quantity: int


class StopOut(BaseModel):
    id: str
    sequence: int
    order_id: str
    order_number: str
    customer_id: str
    customer_code: str
    customer_name: str
    address: str
    latitude: float
    longitude: float
    window_start: str
    window_end: str
    eta: datetime | None
    service_start: datetime | None
    service_minutes: int
    deliver: list[ItemCount]
    collect: list[ItemCount]
    status: str
    urgent: bool


class ReloadOut(BaseModel):
    after_stops: int = Field(description="back at the depot after this many stops, to load for the next trip")
    arrival: datetime | None
    departure: datetime | None
    load: dict[int, int] = Field(description="full cylinders loaded for the next trip, per size in kg")
    load_kg: int


class RouteOut(BaseModel):
    id: str
    plan_id: str
    date: str
    vehicle_plate: str
    vehicle_kind: str
    driver: str
    stops: list[StopOut]
    distance_m: int
    duration_s: int
    start: datetime | None
    end: datetime | None
    lunch_start: datetime | None
    load: dict[int, int] = Field(description="the most full cylinders on board at once (the fullest trip)")
    load_kg: int
    reloads: list[ReloadOut]
    version: int


class UnplacedOut(BaseModel):
    order_id: str
    order_number: str
    customer_code: str
    reason: str
    detail: str


class PlanOut(BaseModel):
    id: str
    date: str
    status: str
    routes: list[RouteOut]
    unplaced: list[UnplacedOut]
    distance_m: int
    duration_s: int
    vehicles_used: int
    solver: str
    solve_seconds: float
    time_budget_seconds: float
    degraded: bool = Field(description="travel times came from the straight-line fallback, not the road engine")
    degraded_reason: str
    travel_source: str
    created_at: datetime | None
    published_at: datetime | None
    created_by: str
    version: int


# --- conversions -------------------------------------------------------------------------------------------------


def _sizes(counts: object) -> dict[int, int]:
    return {entry.size_kg: entry.count for entry in counts}  # type: ignore[attr-defined]


def _items(items: object) -> list[ItemCount]:
    return [ItemCount(product=item.product, quantity=item.quantity) for item in items]  # type: ignore[attr-defined]


def depot_out(depot: pb.Depot) -> DepotOut:
    return DepotOut(id=depot.id, code=depot.code, name=depot.name, latitude=depot.latitude, longitude=depot.longitude)


def vehicle_out(vehicle: pb.Vehicle) -> VehicleOut:
    return VehicleOut(
        id=vehicle.id,
        plate=vehicle.plate,
        kind=vehicle.kind,
        capacity=_sizes(vehicle.capacity),
        max_load_kg=vehicle.max_load_kg,
        depot_code=vehicle.depot_code,
        active=vehicle.active,
        version=vehicle.version,
    )


def shift_out(shift: pb.Shift) -> ShiftOut:
    return ShiftOut(
        id=shift.id,
        vehicle_plate=shift.vehicle_plate,
        date=date.fromisoformat(shift.date),
        driver=shift.driver,
        start=shift.start,
        end=shift.end,
        lunch_start=shift.lunch_start,
        lunch_latest_start=shift.lunch_latest_start,
        lunch_minutes=shift.lunch_minutes,
        max_driving_minutes=shift.max_driving_minutes,
    )


def stop_out(stop: pb.Stop) -> StopOut:
    return StopOut(
        id=stop.id,
        sequence=stop.sequence,
        order_id=stop.order_id,
        order_number=stop.order_number,
        customer_id=stop.customer_id,
        customer_code=stop.customer_code,
        customer_name=stop.customer_name,
        address=stop.address,
        latitude=stop.latitude,
        longitude=stop.longitude,
        window_start=stop.window_start,
        window_end=stop.window_end,
        eta=timestamp_field(stop, "eta"),
        service_start=timestamp_field(stop, "service_start"),
        service_minutes=stop.service_minutes,
        deliver=_items(stop.deliver),
        collect=_items(stop.collect),
        status=STOP_STATUS[stop.status],
        urgent=stop.urgent,
    )


def route_out(route: pb.Route) -> RouteOut:
    return RouteOut(
        id=route.id,
        plan_id=route.plan_id,
        date=route.date,
        vehicle_plate=route.vehicle_plate,
        vehicle_kind=route.vehicle_kind,
        driver=route.driver,
        stops=[stop_out(stop) for stop in route.stops],
        distance_m=route.distance_m,
        duration_s=route.duration_s,
        start=timestamp_field(route, "start"),
        end=timestamp_field(route, "end"),
        lunch_start=timestamp_field(route, "lunch_start"),
        load=_sizes(route.load),
        load_kg=route.load_kg,
        reloads=[
            ReloadOut(
                after_stops=reload.after_stops,
                arrival=timestamp_field(reload, "arrival"),
                departure=timestamp_field(reload, "departure"),
                load=_sizes(reload.load),
                load_kg=reload.load_kg,
            )
            for reload in route.reloads
        ],
        version=route.version,
    )


def plan_out(plan: pb.Plan) -> PlanOut:
    return PlanOut(
        id=plan.id,
        date=plan.date,
        status=PLAN_STATUS[plan.status],
        routes=[route_out(route) for route in plan.routes],
        unplaced=[
            UnplacedOut(
                order_id=u.order_id,
                order_number=u.order_number,
                customer_code=u.customer_code,
                reason=u.reason,
                detail=u.detail,
            )
            for u in plan.unplaced
        ],
        distance_m=plan.distance_m,
        duration_s=plan.duration_s,
        vehicles_used=plan.vehicles_used,
        solver=plan.solver,
        solve_seconds=plan.solve_seconds,
        time_budget_seconds=plan.time_budget_seconds,
        degraded=plan.degraded,
        degraded_reason=plan.degraded_reason,
        travel_source=plan.travel_source,
        created_at=timestamp_field(plan, "created_at"),
        published_at=timestamp_field(plan, "published_at"),
        created_by=plan.created_by,
        version=plan.version,
    )


def _solving(context: GatewayContext, budget: float) -> float:
    """The deadline of a call that solves: the budget (never less than the default) plus a margin."""
    return max(budget, DEFAULT_BUDGET_SECONDS) + PLANNING_MARGIN_SECONDS + context.settings.call_deadline_seconds


# --- fleet -------------------------------------------------------------------------------------------------------


@fleet_router.get("/depots", response_model=list[DepotOut])
async def list_depots(context: Context, claims: Office) -> list[DepotOut]:
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
    reply = await context.routing.ListVehicles(pb.ListVehiclesRequest(include_inactive=include_inactive))
    return [vehicle_out(vehicle) for vehicle in reply.vehicles]


@fleet_router.put("/vehicles/{plate}", response_model=VehicleOut)
async def put_vehicle(plate: str, body: VehicleIn, context: Context, claims: Office) -> VehicleOut:
    """Create or replace a vehicle by its plate (idempotent)."""
    vehicle = pb.Vehicle(
        plate=plate,
        kind=body.kind,
        capacity=[pb.SizeCount(size_kg=size, count=count) for size, count in body.capacity.items()],
        max_load_kg=body.max_load_kg,
        depot_code=body.depot_code,
        active=body.active,
    )
    return vehicle_out(await context.routing.PutVehicle(pb.PutVehicleRequest(vehicle=vehicle, actor=claims.username)))


@fleet_router.get("/shifts", response_model=list[ShiftOut])
async def list_shifts(context: Context, claims: Office, day: Annotated[date, Query(alias="date")]) -> list[ShiftOut]:
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


@plans_router.get("", response_model=PlanOut)
async def current_plan(context: Context, claims: Office, day: Annotated[date, Query(alias="date")]) -> PlanOut:
    """The plan of a date: the published one, else the newest draft."""
    return plan_out(await context.routing.GetPlan(pb.GetPlanRequest(date=day.isoformat())))


@plans_router.get("/{plan_id}", response_model=PlanOut)
async def get_plan(plan_id: str, context: Context, claims: Office) -> PlanOut:
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


@driver_router.get("/me/route", response_model=RouteOut)
async def my_route(
    context: Context, claims: Driver, day: Annotated[date | None, Query(alias="date")] = None
) -> RouteOut:
    """The signed-in driver's stops in order (today in Taipei unless ``date`` is given): what to deliver and
    which empties to collect at each."""
    route = await context.routing.GetDriverRoute(
        pb.GetDriverRouteRequest(driver=claims.username, date=day.isoformat() if day else "")
    )
    return route_out(route)
