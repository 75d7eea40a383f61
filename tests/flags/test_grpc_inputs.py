"""Whatever a caller inside the cluster sends the flag service, it is refused or answered, never a crash."""

from __future__ import annotations

import itertools

from google.protobuf.struct_pb2 import Struct
from luckygas.flags.v1 import flags_pb2 as pb

from services.flags.app import RunningFlagService
from tests.flags.conftest import FLAG_SERVICE
from tests.flags.factories import put_request
from tests.platform.grpc_inputs import bad_values_are_named, no_request_crashes, one_field_off

_keys = itertools.count(1)


async def test_no_request_crashes_the_flag_service(flag_server: RunningFlagService) -> None:
    await no_request_crashes(flag_server.port, FLAG_SERVICE)


async def test_one_field_off_in_a_good_request_is_refused_not_a_crash(flag_server: RunningFlagService) -> None:
    context = Struct()
    context.update({"targetingKey": "1000001", "zone": "A"})
    await one_field_off(
        flag_server.port,
        FLAG_SERVICE,
        {
            "PutFlag": lambda: put_request(f"fuzz-{next(_keys)}", description="fuzzed", reason="a test"),
            "EvaluateFlag": lambda: pb.EvaluateFlagRequest(flag_key="fuzz-1", context=context),
            "ListAudit": lambda: pb.ListAuditRequest(flag_key="fuzz-1", page_size=10),
            "SetPilot": lambda: pb.SetPilotRequest(
                key=f"fuzz-{next(_keys)}",
                cohort_change=pb.COHORT_CHANGE_ADD,
                customer_codes=["1000001", "1000002"],
                percent=12.5,
                actor=pb.Actor(username="sam", role="sre"),
                reason="a test",
            ),
        },
    )


async def test_a_control_character_or_non_finite_number_is_refused_naming_its_field(
    flag_server: RunningFlagService,
) -> None:
    await bad_values_are_named(flag_server.port, FLAG_SERVICE)
