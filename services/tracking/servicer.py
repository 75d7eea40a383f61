"""The gRPC transport of the tracking service: proto in, service call, proto out. No SQL here."""

from __future__ import annotations

from collections.abc import Callable

import grpc
from luckygas.tracking.v1 import tracking_pb2 as pb
from luckygas.tracking.v1 import tracking_pb2_grpc

from services.platform.proto_values import datetime_field, optional_timestamp, timestamp
from services.tracking.drivers import DriverService
from services.tracking.positions import PositionService
from services.tracking.progress import ProgressService
from services.tracking.schemas import BatchResult, Driver, DriverInput, FixInput, Position, StopState


def driver_to_proto(driver: Driver) -> pb.Driver:
    return pb.Driver(
        username=driver.username,
        name=driver.name,
        phone=driver.phone,
        vehicle_kind=driver.vehicle_kind,
        on_road=driver.on_road,
        clocked_in_at=optional_timestamp(driver.clocked_in_at),
        clocked_out_at=optional_timestamp(driver.clocked_out_at),
    )


def position_to_proto(position: Position) -> pb.Position:
    return pb.Position(
        driver=position.driver,
        latitude=position.latitude,
        longitude=position.longitude,
        accuracy_m=position.accuracy_m,
        speed_mps=position.speed_mps,
        heading_deg=position.heading_deg,
        battery=position.battery,
        device_time=timestamp(position.device_time),
        received_at=timestamp(position.received_at),
        distance_m=position.distance_m,
    )


def stop_to_proto(state: StopState) -> pb.StopProgress:
    return pb.StopProgress(
        route_id=state.route_id,
        stop_id=state.stop_id,
        order_id=state.order_id,
        sequence=state.sequence,
        status=state.status,
        latitude=state.latitude,
        longitude=state.longitude,
        planned_eta=optional_timestamp(state.planned_eta),
        eta=optional_timestamp(state.eta),
        arrived_at=optional_timestamp(state.arrived_at),
        arrived_by=state.arrived_by,
    )


def batch_to_proto(result: BatchResult) -> pb.RecordPositionsResponse:
    return pb.RecordPositionsResponse(
        stored=result.stored,
        duplicates=result.duplicates,
        replayed=result.replayed,
        latest=None if result.latest is None else position_to_proto(result.latest),
        arrivals=[stop_to_proto(state) for state in result.arrivals],
    )


def fix_from_proto(fix: pb.Fix) -> FixInput:
    return FixInput(
        latitude=fix.latitude,
        longitude=fix.longitude,
        accuracy_m=fix.accuracy_m,
        speed_mps=fix.speed_mps,
        heading_deg=fix.heading_deg,
        battery=fix.battery,
        device_time=datetime_field(fix, "device_time"),
    )


class TrackingServicer(tracking_pb2_grpc.TrackingServiceServicer):
    def __init__(self, drivers: DriverService, positions: PositionService, progress: ProgressService) -> None:
        self.drivers = drivers
        self.positions = positions
        self.progress = progress

    async def PutDriver(self, request: pb.PutDriverRequest, context: grpc.aio.ServicerContext) -> pb.Driver:
        driver = request.driver
        stored = await self.drivers.put(
            DriverInput(driver.username, driver.name, driver.phone, driver.vehicle_kind), request.actor
        )
        return driver_to_proto(stored)

    async def ListDrivers(
        self, request: pb.ListDriversRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListDriversResponse:
        return pb.ListDriversResponse(drivers=[driver_to_proto(each) for each in await self.drivers.drivers()])

    async def ClockIn(self, request: pb.ClockRequest, context: grpc.aio.ServicerContext) -> pb.Driver:
        return driver_to_proto(await self.drivers.clock_in(request.driver, datetime_field(request, "at")))

    async def ClockOut(self, request: pb.ClockRequest, context: grpc.aio.ServicerContext) -> pb.Driver:
        return driver_to_proto(await self.drivers.clock_out(request.driver, datetime_field(request, "at")))

    async def RecordPositions(
        self, request: pb.RecordPositionsRequest, context: grpc.aio.ServicerContext
    ) -> pb.RecordPositionsResponse:
        fixes = [fix_from_proto(fix) for fix in request.fixes]
        return batch_to_proto(await self.positions.record(request.driver, request.batch_id, fixes))

    async def ListLivePositions(
        self, request: pb.ListLivePositionsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListLivePositionsResponse:
        found = await self.positions.live(request.max_age_seconds)
        return pb.ListLivePositionsResponse(positions=[position_to_proto(position) for position in found])

    async def FindNearestDrivers(
        self, request: pb.FindNearestDriversRequest, context: grpc.aio.ServicerContext
    ) -> pb.FindNearestDriversResponse:
        found = await self.positions.nearest(request.latitude, request.longitude, request.radius_m, request.limit)
        return pb.FindNearestDriversResponse(positions=[position_to_proto(position) for position in found])

    async def GetTrack(self, request: pb.GetTrackRequest, context: grpc.aio.ServicerContext) -> pb.Track:
        track = await self.positions.track(request.driver, request.date)
        return pb.Track(
            driver=track.driver,
            date=track.date.isoformat(),
            positions=[position_to_proto(position) for position in track.positions],
            distance_m=track.distance_m,
        )

    async def GetDriverProgress(
        self, request: pb.GetDriverProgressRequest, context: grpc.aio.ServicerContext
    ) -> pb.DriverProgress:
        progress = await self.progress.driver_progress(request.driver, request.date)
        return pb.DriverProgress(
            driver=progress.driver,
            route_id=progress.route_id,
            date=progress.date.isoformat(),
            stops=[stop_to_proto(state) for state in progress.stops],
            latest=None if progress.latest is None else position_to_proto(progress.latest),
        )

    async def MarkArrived(self, request: pb.MarkArrivedRequest, context: grpc.aio.ServicerContext) -> pb.StopProgress:
        state = await self.progress.mark_arrived(request.driver, request.stop_id, datetime_field(request, "at"))
        return stop_to_proto(state)


def registrar(
    drivers: DriverService, positions: PositionService, progress: ProgressService
) -> Callable[[grpc.aio.Server], None]:
    def register(server: grpc.aio.Server) -> None:
        tracking_pb2_grpc.add_TrackingServiceServicer_to_server(TrackingServicer(drivers, positions, progress), server)

    return register


SERVICE_NAME = pb.DESCRIPTOR.services_by_name["TrackingService"].full_name
