"""Drivers and positions: REST bodies ↔ ``luckygas.tracking.v1`` messages."""

from __future__ import annotations

from luckygas.tracking.v1 import tracking_pb2 as pb

from services.gateway.mappers.common import timestamp_field
from services.gateway.schemas.tracking import DriverOut, PositionBatch, PositionOut, StopProgressOut
from services.platform.proto_values import timestamp


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


def fixes_in(body: PositionBatch) -> list[pb.Fix]:
    return [
        pb.Fix(
            latitude=fix.latitude,
            longitude=fix.longitude,
            accuracy_m=fix.accuracy_m,
            speed_mps=fix.speed_mps,
            heading_deg=fix.heading_deg,
            battery=fix.battery,
            device_time=timestamp(fix.device_time),
        )
        for fix in body.fixes
    ]
