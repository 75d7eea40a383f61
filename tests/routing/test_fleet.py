"""The fleet through the routing service's RPCs: vehicles and shifts checked field by field, puts idempotent."""

from __future__ import annotations

import grpc
import pytest
from luckygas.routing.v1 import routing_pb2 as pb
from luckygas.routing.v1 import routing_pb2_grpc
from sqlalchemy import text

from services.platform.database import Database
from tests.order.factories import day, violations
from tests.routing.factories import shift, vehicle

Stub = routing_pb2_grpc.RoutingServiceStub


async def count(database: Database, table: str) -> int:
    async with database.session() as session:
        return int((await session.execute(text(f"SELECT count(*) FROM routing.{table}"))).scalar_one())


async def test_the_taitung_depot_is_there_from_the_start(routing: Stub) -> None:
    depots = (await routing.ListDepots(pb.ListDepotsRequest())).depots
    assert [(d.code, round(d.latitude, 4), round(d.longitude, 4)) for d in depots] == [("taitung", 22.7553, 121.1504)]


async def test_putting_a_vehicle_twice_updates_it_and_bumps_its_version(routing: Stub, database: Database) -> None:
    first = await routing.PutVehicle(pb.PutVehicleRequest(vehicle=vehicle("LG-2001")))
    again = await routing.PutVehicle(pb.PutVehicleRequest(vehicle=vehicle("LG-2001", max_load_kg=900)))

    assert (first.version, again.version) == (1, 2)
    assert again.id == first.id
    assert again.max_load_kg == 900
    assert await count(database, "vehicles") == 1


async def test_a_vehicle_with_zero_capacity_is_refused_naming_the_field_and_nothing_is_written(
    routing: Stub, database: Database
) -> None:
    empty = vehicle("LG-2002", capacity={20: 0}, max_load_kg=0, kind="truck")
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await routing.PutVehicle(pb.PutVehicleRequest(vehicle=empty))

    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(violations(raised.value)) == {"vehicle.capacity", "vehicle.max_load_kg", "vehicle.kind"}
    assert await count(database, "vehicles") == 0


async def test_a_shift_is_checked_field_by_field(routing: Stub, database: Database) -> None:
    await routing.PutVehicle(pb.PutVehicleRequest(vehicle=vehicle("LG-2003")))
    bad = shift("LG-2003", "driver01", "2026-02-30", start="18:00", end="08:00", lunch_minutes=300)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await routing.PutShift(pb.PutShiftRequest(shift=bad))

    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert {"shift.date", "shift.end", "shift.lunch_minutes"} <= set(violations(raised.value))
    assert await count(database, "shifts") == 0


async def test_a_driver_drives_one_vehicle_a_day(routing: Stub) -> None:
    for plate in ("LG-2004", "LG-2005"):
        await routing.PutVehicle(pb.PutVehicleRequest(vehicle=vehicle(plate)))
    await routing.PutShift(pb.PutShiftRequest(shift=shift("LG-2004", "driver01", day(1))))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await routing.PutShift(pb.PutShiftRequest(shift=shift("LG-2005", "driver01", day(1))))

    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "shift.driver" in violations(raised.value)


async def test_shifts_are_listed_by_day_and_deleted_once(routing: Stub) -> None:
    await routing.PutVehicle(pb.PutVehicleRequest(vehicle=vehicle("LG-2006")))
    await routing.PutShift(pb.PutShiftRequest(shift=shift("LG-2006", "driver02", day(1))))
    await routing.PutShift(pb.PutShiftRequest(shift=shift("LG-2006", "driver02", day(1), end="17:00")))

    listed = await routing.ListShifts(pb.ListShiftsRequest(date=day(1)))
    deleted = await routing.DeleteShift(pb.DeleteShiftRequest(vehicle_plate="LG-2006", date=day(1)))
    again = await routing.DeleteShift(pb.DeleteShiftRequest(vehicle_plate="LG-2006", date=day(1)))

    assert [(s.vehicle_plate, s.driver, s.end) for s in listed.shifts] == [("LG-2006", "driver02", "17:00")]
    assert (deleted.deleted, again.deleted) == (True, False)
