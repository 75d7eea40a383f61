"""Drivers through the tracking service's RPCs: profiles checked and upserted, clocking in and out idempotent."""

from __future__ import annotations

from datetime import timedelta

import grpc
import pytest
from luckygas.tracking.v1 import tracking_pb2 as pb
from luckygas.tracking.v1 import tracking_pb2_grpc

from services.platform.database import Database
from services.routing.demo import FLEET
from services.tracking.demo import seed_drivers
from tests.order.factories import violations
from tests.tracking.factories import count, driver, now, stamp

Stub = tracking_pb2_grpc.TrackingServiceStub


async def test_putting_a_driver_twice_replaces_the_profile_and_writes_the_phone_as_09xx_xxx_xxx(
    tracking: Stub, database: Database
) -> None:
    first = await tracking.PutDriver(pb.PutDriverRequest(driver=driver("driver01"), actor="admin"))
    again = await tracking.PutDriver(
        pb.PutDriverRequest(driver=driver("driver01", name="陳志明 ", phone="0912 000 111"), actor="admin")
    )

    assert first.phone == "0912-345-678"
    assert (again.name, again.phone, again.on_road) == ("陳志明", "0912-000-111", False)
    listed = (await tracking.ListDrivers(pb.ListDriversRequest())).drivers
    assert [(d.username, d.phone) for d in listed] == [("driver01", "0912-000-111")]
    assert await count(database, "drivers") == 1


async def test_a_driver_is_checked_field_by_field_and_nothing_is_written(tracking: Stub, database: Database) -> None:
    bad = driver("no spaces allowed", name="", phone="089-123456", vehicle_kind="bicycle")
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await tracking.PutDriver(pb.PutDriverRequest(driver=bad))

    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(violations(raised.value)) == {
        "driver.username",
        "driver.name",
        "driver.phone",
        "driver.vehicle_kind",
    }
    assert await count(database, "drivers") == 0


async def test_clocking_in_twice_keeps_the_first_time_and_clocking_out_ends_the_time_on_the_road(
    tracking: Stub,
) -> None:
    await tracking.PutDriver(pb.PutDriverRequest(driver=driver("driver02")))
    started = now() - timedelta(minutes=30)

    first = await tracking.ClockIn(pb.ClockRequest(driver="driver02", at=stamp(started)))
    again = await tracking.ClockIn(pb.ClockRequest(driver="driver02"))
    out = await tracking.ClockOut(pb.ClockRequest(driver="driver02"))
    out_again = await tracking.ClockOut(pb.ClockRequest(driver="driver02", at=stamp(now())))

    assert (first.on_road, again.on_road) == (True, True)
    assert again.clocked_in_at == first.clocked_in_at == stamp(started)
    assert not out.on_road
    assert out.clocked_out_at.ToDatetime() > started.replace(tzinfo=None)
    assert out_again.clocked_out_at == out.clocked_out_at
    # A profile change keeps the time on the road as it is.
    put = await tracking.PutDriver(pb.PutDriverRequest(driver=driver("driver02", name="林俊宏")))
    assert (put.on_road, put.clocked_in_at, put.clocked_out_at) == (False, first.clocked_in_at, out.clocked_out_at)


async def test_clocking_in_an_unknown_driver_or_at_a_time_ahead_of_the_server_is_refused(tracking: Stub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await tracking.ClockIn(pb.ClockRequest(driver="nobody"))
    await tracking.PutDriver(pb.PutDriverRequest(driver=driver("driver03")))
    with pytest.raises(grpc.aio.AioRpcError) as ahead:
        await tracking.ClockIn(pb.ClockRequest(driver="driver03", at=stamp(now() + timedelta(hours=1))))

    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
    assert ahead.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(violations(ahead.value)) == {"at"}


async def test_the_demo_drivers_ride_the_demo_fleet_in_its_order_and_seeding_again_changes_nothing(
    tracking: Stub, tracking_database: Database
) -> None:
    await seed_drivers(tracking_database)
    await tracking.ClockIn(pb.ClockRequest(driver="driver08"))
    await seed_drivers(tracking_database)

    drivers = (await tracking.ListDrivers(pb.ListDriversRequest())).drivers
    assert [d.username for d in drivers] == [f"driver{n:02d}" for n in range(1, 9)]
    assert [d.vehicle_kind for d in drivers] == [kind for _, kind, _, _ in FLEET]
    assert (drivers[-1].vehicle_kind, drivers[-1].on_road) == ("motorcycle", True)
    assert all(len(d.phone) == 12 and d.phone.startswith("09") for d in drivers)
