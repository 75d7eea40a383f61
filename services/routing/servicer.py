"""The gRPC transport of the routing service: proto in, service call, proto out. No SQL here."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import time

import grpc
from luckygas.routing.v1 import routing_pb2 as pb
from luckygas.routing.v1 import routing_pb2_grpc

from services.platform.proto_values import optional_timestamp, timestamp
from services.routing.fleet import DepotInput, FleetService, ShiftInput, VehicleInput
from services.routing.model_builder import clock_text
from services.routing.plan_changes import PlanChanges
from services.routing.schemas import (
    DepotRecord,
    PlanRecord,
    ReloadRecord,
    RouteRecord,
    ShiftRecord,
    StopRecord,
    VehicleRecord,
)

PLAN_STATUS = {
    "draft": pb.PLAN_STATUS_DRAFT,
    "published": pb.PLAN_STATUS_PUBLISHED,
    "superseded": pb.PLAN_STATUS_SUPERSEDED,
}
STOP_STATUS = {
    "planned": pb.STOP_STATUS_PLANNED,
    "arrived": pb.STOP_STATUS_ARRIVED,
    "delivered": pb.STOP_STATUS_DELIVERED,
    "failed": pb.STOP_STATUS_FAILED,
    "cancelled": pb.STOP_STATUS_CANCELLED,
}


def _sizes(counts: Mapping[str, int]) -> list[pb.SizeCount]:
    return [
        pb.SizeCount(size_kg=int(size), count=count) for size, count in sorted(counts.items(), key=lambda i: int(i[0]))
    ]


def depot_to_proto(depot: DepotRecord) -> pb.Depot:
    return pb.Depot(
        id=str(depot.id), code=depot.code, name=depot.name, latitude=depot.latitude, longitude=depot.longitude
    )


def vehicle_to_proto(vehicle: VehicleRecord) -> pb.Vehicle:
    return pb.Vehicle(
        id=str(vehicle.id),
        plate=vehicle.plate,
        kind=vehicle.kind,
        capacity=_sizes(vehicle.capacity),
        max_load_kg=vehicle.max_load_kg,
        depot_code=vehicle.depot_code,
        active=vehicle.active,
        version=vehicle.version,
    )


def shift_to_proto(shift: ShiftRecord) -> pb.Shift:
    def clock(value: time | None) -> str:
        return "" if value is None else value.strftime("%H:%M")

    return pb.Shift(
        id=str(shift.id),
        vehicle_plate=shift.vehicle_plate,
        driver=shift.driver,
        date=shift.date.isoformat(),
        start=clock(shift.start),
        end=clock(shift.end),
        lunch_start=clock(shift.lunch_start),
        lunch_latest_start=clock(shift.lunch_latest_start),
        lunch_minutes=shift.lunch_minutes,
        max_driving_minutes=shift.max_driving_minutes,
    )


def stop_to_proto(stop: StopRecord) -> pb.Stop:
    deliver = [pb.ItemCount(product=product, quantity=quantity) for product, quantity in sorted(stop.deliver.items())]
    windows = stop.windows
    return pb.Stop(
        id=str(stop.id),
        sequence=stop.sequence,
        order_id=str(stop.order_id),
        order_number=stop.order_number,
        customer_id=str(stop.customer_id),
        customer_code=stop.customer_code,
        customer_name=stop.customer_name,
        address=stop.address,
        latitude=stop.latitude,
        longitude=stop.longitude,
        # The window kept (its first piece to its last), closing when service must be over.
        window_start=clock_text(windows[0][0]) if windows else "",
        window_end=clock_text(windows[-1][1] + stop.service_minutes * 60) if windows else "",
        eta=timestamp(stop.eta),
        service_start=timestamp(stop.service_start),
        service_minutes=stop.service_minutes,
        deliver=deliver,
        # Cylinder exchange: an empty comes back for every full one.
        collect=deliver,
        status=STOP_STATUS[stop.status],
        urgent=stop.urgent,
    )


def reload_to_proto(reload: ReloadRecord) -> pb.RouteReload:
    return pb.RouteReload(
        after_stops=reload.after_stops,
        arrival=timestamp(reload.arrival),
        departure=timestamp(reload.departure),
        load=_sizes(reload.load),
        load_kg=reload.load_kg,
    )


def route_to_proto(route: RouteRecord) -> pb.Route:
    return pb.Route(
        id=str(route.id),
        plan_id=str(route.plan_id),
        date=route.date.isoformat(),
        vehicle_plate=route.vehicle_plate,
        vehicle_kind=route.vehicle_kind,
        driver=route.driver,
        stops=[stop_to_proto(stop) for stop in route.stops],
        distance_m=route.distance_m,
        duration_s=route.duration_s,
        start=optional_timestamp(route.start_at),
        end=optional_timestamp(route.end_at),
        load=_sizes(route.load),
        load_kg=route.load_kg,
        lunch_start=optional_timestamp(route.lunch_start_at),
        version=route.version,
        reloads=[reload_to_proto(reload) for reload in route.reloads],
    )


def plan_to_proto(plan: PlanRecord) -> pb.Plan:
    return pb.Plan(
        id=str(plan.id),
        date=plan.date.isoformat(),
        status=PLAN_STATUS[plan.status],
        routes=[route_to_proto(route) for route in plan.routes],
        unplaced=[
            pb.Unplaced(
                order_id=item.order_id,
                order_number=item.order_number,
                customer_code=item.customer_code,
                reason=item.reason,
                detail=item.detail,
            )
            for item in plan.unplaced
        ],
        distance_m=plan.distance_m,
        duration_s=plan.duration_s,
        vehicles_used=plan.vehicles_used,
        solver=plan.solver,
        solve_seconds=plan.solve_seconds,
        time_budget_seconds=plan.time_budget_seconds,
        degraded=plan.degraded,
        degraded_reason=plan.degraded_reason,
        created_at=timestamp(plan.created_at),
        published_at=optional_timestamp(plan.published_at),
        created_by=plan.created_by,
        version=plan.version,
        travel_source=plan.travel_source,
    )


class RoutingServicer(routing_pb2_grpc.RoutingServiceServicer):
    def __init__(self, fleet: FleetService, planning: PlanChanges) -> None:
        self.fleet = fleet
        self.planning = planning

    async def PutDepot(self, request: pb.PutDepotRequest, context: grpc.aio.ServicerContext) -> pb.Depot:
        depot = request.depot
        stored = await self.fleet.put_depot(DepotInput(depot.code, depot.name, depot.latitude, depot.longitude))
        return depot_to_proto(stored)

    async def ListDepots(
        self, request: pb.ListDepotsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListDepotsResponse:
        return pb.ListDepotsResponse(depots=[depot_to_proto(depot) for depot in await self.fleet.depots()])

    async def PutVehicle(self, request: pb.PutVehicleRequest, context: grpc.aio.ServicerContext) -> pb.Vehicle:
        vehicle = request.vehicle
        capacity: dict[int, int] = {}
        for entry in vehicle.capacity:
            capacity[entry.size_kg] = capacity.get(entry.size_kg, 0) + entry.count
        stored = await self.fleet.put_vehicle(
            VehicleInput(vehicle.plate, vehicle.kind, capacity, vehicle.max_load_kg, vehicle.depot_code, vehicle.active)
        )
        return vehicle_to_proto(stored)

    async def ListVehicles(
        self, request: pb.ListVehiclesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListVehiclesResponse:
        found = await self.fleet.vehicles(include_inactive=request.include_inactive)
        return pb.ListVehiclesResponse(vehicles=[vehicle_to_proto(vehicle) for vehicle in found])

    async def PutShift(self, request: pb.PutShiftRequest, context: grpc.aio.ServicerContext) -> pb.Shift:
        shift = request.shift
        stored = await self.fleet.put_shift(
            ShiftInput(
                vehicle_plate=shift.vehicle_plate,
                driver=shift.driver,
                date=shift.date,
                start=shift.start,
                end=shift.end,
                lunch_start=shift.lunch_start,
                lunch_latest_start=shift.lunch_latest_start,
                lunch_minutes=shift.lunch_minutes,
                max_driving_minutes=shift.max_driving_minutes,
            )
        )
        return shift_to_proto(stored)

    async def ListShifts(
        self, request: pb.ListShiftsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListShiftsResponse:
        found = await self.fleet.shifts(request.date)
        return pb.ListShiftsResponse(shifts=[shift_to_proto(shift) for shift in found])

    async def DeleteShift(
        self, request: pb.DeleteShiftRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeleteShiftResponse:
        return pb.DeleteShiftResponse(deleted=await self.fleet.delete_shift(request.vehicle_plate, request.date))

    async def PlanDay(self, request: pb.PlanDayRequest, context: grpc.aio.ServicerContext) -> pb.Plan:
        plan = await self.planning.plan_day(
            request.date, request.time_budget_seconds, request.request_id, request.actor
        )
        return plan_to_proto(plan)

    async def GetPlan(self, request: pb.GetPlanRequest, context: grpc.aio.ServicerContext) -> pb.Plan:
        if request.WhichOneof("key") == "id":
            return plan_to_proto(await self.planning.get(plan_id=request.id))
        return plan_to_proto(await self.planning.get(day_text=request.date))

    async def PublishPlan(self, request: pb.PublishPlanRequest, context: grpc.aio.ServicerContext) -> pb.Plan:
        return plan_to_proto(await self.planning.publish(request.id, request.actor))

    async def InsertOrder(self, request: pb.InsertOrderRequest, context: grpc.aio.ServicerContext) -> pb.Plan:
        return plan_to_proto(await self.planning.insert_order(request.plan_id, request.order_id, request.actor))

    async def ReoptimizePlan(self, request: pb.ReoptimizePlanRequest, context: grpc.aio.ServicerContext) -> pb.Plan:
        plan = await self.planning.reoptimize(request.plan_id, request.time_budget_seconds, request.actor)
        return plan_to_proto(plan)

    async def GetDriverRoute(self, request: pb.GetDriverRouteRequest, context: grpc.aio.ServicerContext) -> pb.Route:
        return route_to_proto(await self.planning.driver_route(request.driver, request.date))


def registrar(fleet: FleetService, planning: PlanChanges) -> Callable[[grpc.aio.Server], None]:
    def register(server: grpc.aio.Server) -> None:
        routing_pb2_grpc.add_RoutingServiceServicer_to_server(RoutingServicer(fleet, planning), server)

    return register


SERVICE_NAME = pb.DESCRIPTOR.services_by_name["RoutingService"].full_name
