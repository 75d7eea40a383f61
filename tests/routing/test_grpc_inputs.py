"""Whatever a caller inside the cluster sends the routing service, it is refused or answered, never a crash."""

from __future__ import annotations

import itertools

from luckygas.routing.v1 import routing_pb2 as pb
from luckygas.routing.v1 import routing_pb2_grpc

from tests.order.factories import day
from tests.platform.grpc_inputs import bad_values_are_named, no_request_crashes, one_field_off
from tests.routing.conftest import ROUTING_SERVICE
from tests.routing.factories import shift, vehicle

_plates = itertools.count(1)


async def test_no_request_crashes_the_routing_service(routing_server: int) -> None:
    await no_request_crashes(routing_server, ROUTING_SERVICE)


async def test_one_field_off_in_a_good_request_is_refused_not_a_crash(
    routing_server: int, routing: routing_pb2_grpc.RoutingServiceStub
) -> None:
    await routing.PutVehicle(pb.PutVehicleRequest(vehicle=vehicle("LG-T01"), actor="dispatcher"))
    await one_field_off(
        routing_server,
        ROUTING_SERVICE,
        {
            "PutVehicle": lambda: pb.PutVehicleRequest(vehicle=vehicle(f"LG-F{next(_plates):02d}"), actor="dispatcher"),
            "PutShift": lambda: pb.PutShiftRequest(shift=shift("LG-T01", "driver01", day(1)), actor="dispatcher"),
            "GetPlan": lambda: pb.GetPlanRequest(date=day(1)),
            "GetDriverRoute": lambda: pb.GetDriverRouteRequest(driver="driver01", date=day(1)),
        },
    )


async def test_a_control_character_or_non_finite_number_is_refused_naming_its_field(routing_server: int) -> None:
    await bad_values_are_named(routing_server, ROUTING_SERVICE)
