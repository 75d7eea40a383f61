"""Drivers in the field and the office watching them: ``/api/v1/drivers/me/...`` (positions, clock in/out, a
stop arrived, delivered or failed) and ``/api/v1/tracking/...`` (drivers, live positions, nearest drivers, a
day's track). Live positions also go out on the ``/api/v1/live`` WebSocket (see live.py)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query
from luckygas.order.v1 import order_pb2 as order_pb
from luckygas.routing.v1 import routing_pb2 as routing_pb
from luckygas.tracking.v1 import tracking_pb2 as pb

from services.gateway import problems
from services.gateway.context import GatewayContext, get_context
from services.gateway.mappers.orders import delivery_proof, order_out
from services.gateway.mappers.tracking import driver_out, fixes_in, position_out, stop_out
from services.gateway.schemas.orders import DeliveryFailure, DeliveryIn, OrderOut
from services.gateway.schemas.tracking import (
    BatchOut,
    ClockIn,
    DriverIn,
    DriverOut,
    PositionBatch,
    PositionOut,
    ProgressOut,
    StopProgressOut,
    TrackOut,
)
from services.gateway.security import DISPATCHER, DRIVER, Allow
from services.gateway.tokens import AccessClaims
from services.platform.errors import NotFound
from services.platform.proto_values import optional_timestamp

driver_router = APIRouter(prefix="/api/v1/drivers/me", tags=["drivers"])
office_router = APIRouter(prefix="/api/v1/tracking", tags=["tracking"])

Context = Annotated[GatewayContext, Depends(get_context)]
Driver = Annotated[AccessClaims, Depends(Allow(DRIVER))]
Office = Annotated[AccessClaims, Depends(Allow(DISPATCHER))]
IdempotencyKey = Annotated[str, Header(min_length=1, max_length=100, description="makes a retried visit safe")]


# --- the driver's phone ------------------------------------------------------------------------------------------


@driver_router.post("/positions", response_model=BatchOut)
async def post_positions(body: PositionBatch, context: Context, claims: Driver) -> BatchOut:
    """A batch of GPS fixes, possibly an offline backlog: late, out of order or sent twice is fine (the same
    batch_id again stores nothing more). A batch with an invalid fix is refused whole, naming each field."""
    reply = await context.tracking.RecordPositions(
        pb.RecordPositionsRequest(driver=claims.username, batch_id=body.batch_id, fixes=fixes_in(body))
    )
    return BatchOut(
        stored=reply.stored,
        duplicates=reply.duplicates,
        replayed=reply.replayed,
        latest=position_out(reply.latest) if reply.HasField("latest") else None,
        arrivals=[stop_out(stop) for stop in reply.arrivals],
    )


@driver_router.post("/clock-in", response_model=DriverOut, responses=problems.documented(404))
async def clock_in(context: Context, claims: Driver, body: ClockIn | None = None) -> DriverOut:
    """The driver starts their working day (now, or at the given time for a phone that was offline)."""
    at = optional_timestamp(body.at if body else None)
    return driver_out(await context.tracking.ClockIn(pb.ClockRequest(driver=claims.username, at=at)))


@driver_router.post("/clock-out", response_model=DriverOut, responses=problems.documented(404))
async def clock_out(context: Context, claims: Driver, body: ClockIn | None = None) -> DriverOut:
    """The driver ends their working day (now, or at the given time)."""
    at = optional_timestamp(body.at if body else None)
    return driver_out(await context.tracking.ClockOut(pb.ClockRequest(driver=claims.username, at=at)))


@driver_router.get("/progress", response_model=ProgressOut, responses=problems.documented(404))
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
    return order_out(order)


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
    return order_out(order)


# --- the office --------------------------------------------------------------------------------------------------


@office_router.get("/drivers", response_model=list[DriverOut])
async def list_drivers(context: Context, claims: Office) -> list[DriverOut]:
    """Every driver: name, phone, vehicle kind, whether on the road, when they last clocked in and out."""
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
