"""Drivers in the field and the office watching them: ``/api/v1/drivers/me/...`` (positions, clock in/out, a
stop arrived, delivered or failed) and ``/api/v1/tracking/...`` (drivers, live positions, nearest drivers, a
day's track). Live positions also go out on the ``/api/v1/live`` WebSocket (see live.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query
from google.protobuf.timestamp_pb2 import Timestamp
from luckygas.order.v1 import order_pb2 as order_pb
from luckygas.routing.v1 import routing_pb2 as routing_pb
from luckygas.tracking.v1 import tracking_pb2 as pb
from pydantic import BaseModel, Field

from services.gateway.context import GatewayContext, get_context
from services.gateway.routes.orders import DeliveryFailure, DeliveryIn, OrderOut, delivery_proof, to_out
from services.gateway.schemas import Strict, timestamp_field
from services.gateway.security import DISPATCHER, DRIVER, Allow
from services.gateway.tokens import AccessClaims
from services.platform.errors import NotFound

driver_router = APIRouter(prefix="/api/v1/drivers/me", tags=["drivers"])
office_router = APIRouter(prefix="/api/v1/tracking", tags=["tracking"])

Context = Annotated[GatewayContext, Depends(get_context)]
Driver = Annotated[AccessClaims, Depends(Allow(DRIVER))]
Office = Annotated[AccessClaims, Depends(Allow(DISPATCHER))]
IdempotencyKey = Annotated[str, Header(min_length=1, max_length=100, description="makes a retried visit safe")]
MAX_FIXES = 2000


class FixIn(Strict):
    latitude: float
    longitude: float
    accuracy_m: float = Field(0.0, description="metres, >= 0")
    speed_mps: float = Field(-1.0, description="m/s; -1 when unknown")
    heading_deg: float = Field(-1.0, description="0-360; -1 when unknown")
    battery: float = Field(1.0, description="0-1")
    device_time: datetime = Field(description="when the phone took the fix (ISO 8601 with an offset)")


class PositionBatch(Strict):
    batch_id: str = Field(
        min_length=1, max_length=100, description="the phone's id for this batch; a resend is a no-op"
    )
    fixes: list[FixIn] = Field(min_length=1, max_length=MAX_FIXES)


class PositionOut(BaseModel):
    driver: str
    latitude: float
    longitude: float
    accuracy_m: float
    speed_mps: float
    heading_deg: float
    battery: float
    device_time: datetime | None
    received_at: datetime | None
    distance_m: float | None = None


class StopProgressOut(BaseModel):
    route_id: str
    stop_id: str
    order_id: str
    sequence: int
    status: str
    latitude: float
    longitude: float
    planned_eta: datetime | None
    eta: datetime | None
    arrived_at: datetime | None
    arrived_by: str


class BatchOut(BaseModel):
    stored: int
    duplicates: int
    replayed: bool
    latest: PositionOut | None
    arrivals: list[StopProgressOut]


class ProgressOut(BaseModel):
    driver: str
    route_id: str
    date: str
    stops: list[StopProgressOut]
    latest: PositionOut | None


class ClockIn(Strict):
    at: datetime | None = Field(None, description="when, by the phone's clock; now when absent")


class DriverIn(Strict):
    name: str = Field(max_length=100)
    phone: str = Field("", max_length=20, examples=["0912-345-678"])
    vehicle_kind: str = Field("small_truck", description="small_truck | medium_truck | van | motorcycle")


class DriverOut(DriverIn):
    username: str
    on_road: bool
    clocked_in_at: datetime | None
    clocked_out_at: datetime | None


class TrackOut(BaseModel):
    driver: str
    date: str
    distance_m: float
    positions: list[PositionOut]


def _stamp(moment: datetime | None) -> Timestamp | None:
    if moment is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC))
    return stamp


def position_out(position: pb.Position) -> PositionOut:
    return PositionOut(
        driver=position.driver,
        latitude=position.latitude,
        longitude=position.longitude,
        accuracy_m=position.accuracy_m,
        speed_mps=position.speed_mps,
        heading_deg=position.heading_deg,
        battery=position.battery,
        device_time=timestamp_field(position, "device_time"),
        received_at=timestamp_field(position, "received_at"),
        distance_m=position.distance_m or None,
    )


def stop_out(stop: pb.StopProgress) -> StopProgressOut:
    return StopProgressOut(
        route_id=stop.route_id,
        stop_id=stop.stop_id,
        order_id=stop.order_id,
        sequence=stop.sequence,
        status=stop.status,
        latitude=stop.latitude,
        longitude=stop.longitude,
        planned_eta=timestamp_field(stop, "planned_eta"),
        eta=timestamp_field(stop, "eta"),
        arrived_at=timestamp_field(stop, "arrived_at"),
        arrived_by=stop.arrived_by,
    )


def driver_out(driver: pb.Driver) -> DriverOut:
    return DriverOut(
        username=driver.username,
        name=driver.name,
        phone=driver.phone,
        vehicle_kind=driver.vehicle_kind,
        on_road=driver.on_road,
        clocked_in_at=timestamp_field(driver, "clocked_in_at"),
        clocked_out_at=timestamp_field(driver, "clocked_out_at"),
    )


# --- the driver's phone ------------------------------------------------------------------------------------------


@driver_router.post("/positions", response_model=BatchOut)
async def post_positions(body: PositionBatch, context: Context, claims: Driver) -> BatchOut:
    """A batch of GPS fixes, possibly an offline backlog: late, out of order or sent twice is fine (the same
    batch_id again stores nothing more). A batch with an invalid fix is refused whole, naming each field."""
    fixes = [
        pb.Fix(
            latitude=fix.latitude,
            longitude=fix.longitude,
            accuracy_m=fix.accuracy_m,
            speed_mps=fix.speed_mps,
            heading_deg=fix.heading_deg,
            battery=fix.battery,
            device_time=_stamp(fix.device_time),
        )
        for fix in body.fixes
    ]
    reply = await context.tracking.RecordPositions(
        pb.RecordPositionsRequest(driver=claims.username, batch_id=body.batch_id, fixes=fixes)
    )
    return BatchOut(
        stored=reply.stored,
        duplicates=reply.duplicates,
        replayed=reply.replayed,
        latest=position_out(reply.latest) if reply.HasField("latest") else None,
        arrivals=[stop_out(stop) for stop in reply.arrivals],
    )


@driver_router.post("/clock-in", response_model=DriverOut)
async def clock_in(context: Context, claims: Driver, body: ClockIn | None = None) -> DriverOut:
    at = _stamp(body.at if body else None)
    return driver_out(await context.tracking.ClockIn(pb.ClockRequest(driver=claims.username, at=at)))


@driver_router.post("/clock-out", response_model=DriverOut)
async def clock_out(context: Context, claims: Driver, body: ClockIn | None = None) -> DriverOut:
    at = _stamp(body.at if body else None)
    return driver_out(await context.tracking.ClockOut(pb.ClockRequest(driver=claims.username, at=at)))


@driver_router.get("/progress", response_model=ProgressOut)
async def my_progress(
    context: Context, claims: Driver, day: Annotated[date | None, Query(alias="date")] = None
) -> ProgressOut:
    """Today's stops with their status and the ETA from the latest position."""
    reply = await context.tracking.GetDriverProgress(
        pb.GetDriverProgressRequest(driver=claims.username, date=day.isoformat() if day else "")
    )
    return ProgressOut(
        driver=reply.driver,
        route_id=reply.route_id,
        date=reply.date,
        stops=[stop_out(stop) for stop in reply.stops],
        latest=position_out(reply.latest) if reply.HasField("latest") else None,
    )


@driver_router.post("/stops/{stop_id}/arrived", response_model=StopProgressOut)
async def stop_arrived(stop_id: str, context: Context, claims: Driver) -> StopProgressOut:
    """The driver is at the stop (arrival is also detected from positions within 100 m). Repeating is a no-op."""
    stop = await context.tracking.MarkArrived(pb.MarkArrivedRequest(driver=claims.username, stop_id=stop_id))
    return stop_out(stop)


RouteDay = Annotated[
    date | None,
    Query(alias="date", description="the route's date; today unless a phone syncs an earlier day's backlog"),
]


async def _own_order(context: GatewayContext, claims: AccessClaims, stop_id: str, day: date | None) -> str:
    """The order of a stop on the driver's own route that day; another driver's stop looks like a missing one."""
    route = await context.routing.GetDriverRoute(
        routing_pb.GetDriverRouteRequest(driver=claims.username, date=day.isoformat() if day else "")
    )
    for stop in route.stops:
        if stop.id == stop_id:
            return str(stop.order_id)
    raise NotFound(f"stop {stop_id} is not on your route of {route.date}")


@driver_router.post("/stops/{stop_id}/delivered", response_model=OrderOut)
async def stop_delivered(
    stop_id: str,
    body: DeliveryIn,
    context: Context,
    claims: Driver,
    idempotency_key: IdempotencyKey,
    day: RouteDay = None,
) -> OrderOut:
    """Delivered with proof: completes the stop's order in the order service, which also sets off an order still
    only assigned (the stop follows its event)."""
    order_id = await _own_order(context, claims, stop_id, day)
    order = await context.orders.CompleteDelivery(
        order_pb.CompleteDeliveryRequest(
            id=order_id, proof=delivery_proof(body), request_id=idempotency_key, actor=claims.username
        )
    )
    return to_out(order)


@driver_router.post("/stops/{stop_id}/failed", response_model=OrderOut)
async def stop_failed(
    stop_id: str,
    body: DeliveryFailure,
    context: Context,
    claims: Driver,
    idempotency_key: IdempotencyKey,
    day: RouteDay = None,
) -> OrderOut:
    """Failed at the door (not_home, refused, wrong_address): recorded on the stop's order."""
    order_id = await _own_order(context, claims, stop_id, day)
    order = await context.orders.FailDelivery(
        order_pb.FailDeliveryRequest(
            id=order_id, reason=body.reason, notes=body.notes, request_id=idempotency_key, actor=claims.username
        )
    )
    return to_out(order)


# --- the office --------------------------------------------------------------------------------------------------


@office_router.get("/drivers", response_model=list[DriverOut])
async def list_drivers(context: Context, claims: Office) -> list[DriverOut]:
    return [driver_out(driver) for driver in (await context.tracking.ListDrivers(pb.ListDriversRequest())).drivers]


@office_router.put("/drivers/{username}", response_model=DriverOut)
async def put_driver(username: str, body: DriverIn, context: Context, claims: Office) -> DriverOut:
    """Create or replace a driver's profile (idempotent)."""
    driver = pb.Driver(username=username, name=body.name, phone=body.phone, vehicle_kind=body.vehicle_kind)
    return driver_out(await context.tracking.PutDriver(pb.PutDriverRequest(driver=driver, actor=claims.username)))


@office_router.get("/positions", response_model=list[PositionOut])
async def live_positions(
    context: Context, claims: Office, max_age_seconds: Annotated[int, Query(ge=1, le=86_400)] = 900
) -> list[PositionOut]:
    """Every driver's latest position (the WebSocket feed then keeps a map current)."""
    reply = await context.tracking.ListLivePositions(pb.ListLivePositionsRequest(max_age_seconds=max_age_seconds))
    return [position_out(position) for position in reply.positions]


@office_router.get("/nearest", response_model=list[PositionOut])
async def nearest_drivers(
    context: Context,
    claims: Office,
    latitude: Annotated[float, Query(ge=-90, le=90)],
    longitude: Annotated[float, Query(ge=-180, le=180)],
    radius_m: Annotated[float, Query(gt=0, le=100_000)] = 5_000,
    limit: Annotated[int, Query(ge=1, le=50)] = 5,
) -> list[PositionOut]:
    """Drivers within ``radius_m`` of a point, nearest first (e.g. who can take an urgent order)."""
    reply = await context.tracking.FindNearestDrivers(
        pb.FindNearestDriversRequest(latitude=latitude, longitude=longitude, radius_m=radius_m, limit=limit)
    )
    return [position_out(position) for position in reply.positions]


@office_router.get("/drivers/{username}/track", response_model=TrackOut)
async def track(username: str, context: Context, claims: Office, day: Annotated[date, Query(alias="date")]) -> TrackOut:
    """A driver's fixes on a day (Asia/Taipei) in the order they were taken, and the distance along them."""
    reply = await context.tracking.GetTrack(pb.GetTrackRequest(driver=username, date=day.isoformat()))
    return TrackOut(
        driver=reply.driver,
        date=reply.date,
        distance_m=reply.distance_m,
        positions=[position_out(position) for position in reply.positions],
    )
