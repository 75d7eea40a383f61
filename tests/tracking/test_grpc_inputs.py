"""Whatever a caller inside the cluster sends the tracking service, it is refused or answered, never a crash."""

from __future__ import annotations

import itertools

from luckygas.tracking.v1 import tracking_pb2 as pb
from luckygas.tracking.v1 import tracking_pb2_grpc

from tests.platform.grpc_inputs import bad_values_are_named, no_request_crashes, one_field_off
from tests.tracking.factories import TRACKING_SERVICE, batch, driver, fix, now, taipei_today

_drivers = itertools.count(1)
DEPOT = (22.7553, 121.1504)


async def test_no_request_crashes_the_tracking_service(tracking_server: int) -> None:
    await no_request_crashes(tracking_server, TRACKING_SERVICE)


async def test_one_field_off_in_a_good_request_is_refused_not_a_crash(
    tracking_server: int, tracking: tracking_pb2_grpc.TrackingServiceStub
) -> None:
    await tracking.PutDriver(pb.PutDriverRequest(driver=driver("driver01"), actor="office"))
    await tracking.ClockIn(pb.ClockRequest(driver="driver01"))
    await one_field_off(
        tracking_server,
        TRACKING_SERVICE,
        {
            "PutDriver": lambda: pb.PutDriverRequest(driver=driver(f"fuzz{next(_drivers)}"), actor="office"),
            "RecordPositions": lambda: batch("driver01", [fix(DEPOT, now())]),
            "FindNearestDrivers": lambda: pb.FindNearestDriversRequest(
                latitude=DEPOT[0], longitude=DEPOT[1], radius_m=5000, limit=5
            ),
            "GetTrack": lambda: pb.GetTrackRequest(driver="driver01", date=taipei_today().isoformat()),
            "ListLivePositions": lambda: pb.ListLivePositionsRequest(max_age_seconds=600),
        },
    )


async def test_a_control_character_or_non_finite_number_is_refused_naming_its_field(tracking_server: int) -> None:
    await bad_values_are_named(tracking_server, TRACKING_SERVICE)
