"""Fleet and plans: REST bodies ↔ ``luckygas.routing.v1`` messages."""

from __future__ import annotations

from datetime import date

from luckygas.routing.v1 import routing_pb2 as pb

from services.gateway.mappers.common import timestamp_field
from services.gateway.schemas.routing import (
    DepotOut,
    ItemCount,
    PlanOut,
    ReloadOut,
    RouteOut,
    ShiftOut,
    StopOut,
    UnplacedOut,
    VehicleIn,
    VehicleOut,
)

PLAN_STATUS = {value: name.removeprefix("PLAN_STATUS_").lower() for name, value in pb.PlanStatus.items()}


STOP_STATUS = {value: name.removeprefix("STOP_STATUS_").lower() for name, value in pb.StopStatus.items()}


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


def vehicle_in(plate: str, body: VehicleIn) -> pb.Vehicle:
    return pb.Vehicle(
        plate=plate,
        kind=body.kind,
        capacity=[pb.SizeCount(size_kg=size, count=count) for size, count in body.capacity.items()],
        max_load_kg=body.max_load_kg,
        depot_code=body.depot_code,
        active=body.active,
    )
