"""SetPilot: a pilot's cohort and percentage changed in the flag service, in one transaction, with versions."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest
from luckygas.flags.v1 import flags_pb2 as pb
from luckygas.flags.v1 import flags_pb2_grpc

from services.platform.flags.documents import pilot_flag
from tests.flags.factories import ADMIN, DISPATCHER, SRE, boolean_flag, definition_of, put_request
from tests.flags.test_flags import refused, violations

Stub = flags_pb2_grpc.FlagServiceStub
KEY = "new-invoice"


def set_pilot(**fields: Any) -> pb.SetPilotRequest:
    return pb.SetPilotRequest(**{"key": KEY, "actor": SRE, **fields})


def replace(*codes: str, **fields: Any) -> pb.SetPilotRequest:
    return set_pilot(cohort_change=pb.COHORT_CHANGE_REPLACE, customer_codes=codes, **fields)


def add(*codes: str, **fields: Any) -> pb.SetPilotRequest:
    return set_pilot(cohort_change=pb.COHORT_CHANGE_ADD, customer_codes=codes, **fields)


async def audit_actions(flags: Stub) -> list[str]:
    return [entry.action for entry in (await flags.ListAudit(pb.ListAuditRequest(flag_key=KEY))).entries][::-1]


async def test_a_cohort_on_a_new_key_creates_the_pilot_flag(flags: Stub) -> None:
    pilot = await flags.SetPilot(replace("1000002", "1000001", "1000002", reason="two shops"))

    assert (list(pilot.customer_codes), pilot.percent) == (["1000001", "1000002"], 0)
    assert (pilot.flag.key, pilot.flag.version, pilot.flag.updated_by) == (KEY, 1, "sam")
    assert definition_of(pilot.flag) == pilot_flag(["1000001", "1000002"])
    assert await flags.GetFlag(pb.GetFlagRequest(key=KEY)) == pilot.flag
    entries = (await flags.ListAudit(pb.ListAuditRequest(flag_key=KEY))).entries
    assert [(entry.action, entry.actor, entry.reason) for entry in entries] == [("create", "sam", "two shops")]


async def test_growing_keeps_the_cohort_and_the_percentage(flags: Stub) -> None:
    await flags.SetPilot(replace("1000001", percent=25))

    grown = await flags.SetPilot(add("1000003", "1000001"))

    assert (list(grown.customer_codes), grown.percent, grown.flag.version) == (["1000001", "1000003"], 25, 2)
    assert definition_of(grown.flag) == pilot_flag(["1000001", "1000003"], 25)


async def test_a_percentage_keeps_the_cohort_and_a_cohort_keeps_the_percentage(flags: Stub) -> None:
    await flags.SetPilot(set_pilot(percent=12.5))
    cohort = await flags.SetPilot(replace("1000009"))

    percentage = await flags.SetPilot(set_pilot(percent=30))

    assert (list(cohort.customer_codes), cohort.percent) == (["1000009"], 12.5)
    assert (list(percentage.customer_codes), percentage.percent) == (["1000009"], 30)
    assert definition_of(percentage.flag) == pilot_flag(["1000009"], 30)
    assert await audit_actions(flags) == ["create", "change", "change"]


async def test_a_change_keeps_the_flags_description_state_and_metadata(flags: Stub) -> None:
    definition = {**pilot_flag(["1000001"], 10, enabled=False), "metadata": {"team": "billing"}}
    await flags.PutFlag(put_request(KEY, definition, description="新發票"))

    pilot = await flags.SetPilot(set_pilot(percent=50))

    assert pilot.flag.description == "新發票"
    assert definition_of(pilot.flag) == {**pilot_flag(["1000001"], 50, enabled=False), "metadata": {"team": "billing"}}


async def test_asking_for_what_is_already_there_writes_nothing(flags: Stub) -> None:
    first = await flags.SetPilot(replace("1000001", "1000002", percent=10))

    again = [
        await flags.SetPilot(replace("1000002", "1000001", percent=10)),
        await flags.SetPilot(add("1000001")),
        await flags.SetPilot(set_pilot(percent=10)),
    ]

    assert {pilot.flag.version for pilot in again} == {first.flag.version}
    assert all(pilot == first for pilot in again)
    assert await audit_actions(flags) == ["create"]


async def test_the_current_expected_version_changes_the_flag(flags: Stub) -> None:
    created = await flags.SetPilot(replace("1000001"))

    changed = await flags.SetPilot(set_pilot(percent=5, expected_version=created.flag.version))

    assert (changed.flag.version, changed.percent) == (2, 5)


async def test_a_stale_expected_version_is_aborted_and_changes_nothing(flags: Stub) -> None:
    created = await flags.SetPilot(replace("1000001"))
    await flags.SetPilot(set_pilot(percent=20))

    error = await refused(flags.SetPilot(add("1000002", expected_version=created.flag.version)))

    assert error.code() == grpc.StatusCode.ABORTED
    assert "expected_version" in violations(error)
    current = await flags.GetFlag(pb.GetFlagRequest(key=KEY))
    assert (current.version, definition_of(current)) == (2, pilot_flag(["1000001"], 20))


async def test_an_expected_version_of_a_flag_that_does_not_exist_is_not_found(flags: Stub) -> None:
    error = await refused(flags.SetPilot(replace("1000001", expected_version=3)))

    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert (await refused(flags.GetFlag(pb.GetFlagRequest(key=KEY)))).code() == grpc.StatusCode.NOT_FOUND


async def test_concurrent_changes_are_applied_one_after_the_other_none_lost(flags: Stub) -> None:
    await flags.SetPilot(replace("1000000"))
    codes = [f"10000{number:02d}" for number in range(1, 11)]

    await asyncio.gather(*(flags.SetPilot(add(code)) for code in codes))

    current = await flags.GetFlag(pb.GetFlagRequest(key=KEY))
    assert definition_of(current) == pilot_flag(["1000000", *codes])
    assert current.version == 1 + len(codes)


@pytest.mark.parametrize(
    "targeting",
    [
        {"if": [{"==": [{"var": "zone"}, "A"]}, "on", "off"]},
        {"if": [{"in": [{"var": "targetingKey"}, [1000001, 1000002]]}, "on", "off"]},
    ],
    ids=["a zone rule", "numbers for customer codes"],
)
async def test_a_flag_whose_targeting_is_not_a_pilots_is_failed_precondition(
    flags: Stub, targeting: dict[str, Any]
) -> None:
    created = await flags.PutFlag(put_request(KEY, boolean_flag(targeting=targeting)))

    error = await refused(flags.SetPilot(set_pilot(percent=10)))

    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "not a pilot" in (error.details() or "")
    assert await flags.GetFlag(pb.GetFlagRequest(key=KEY)) == created


MANY = [f"{1000000 + number}" for number in range(51)]


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({"percent": 100.5}, "percent"),
        ({"percent": -1}, "percent"),
        ({"percent": 12.345}, "percent"),
        ({"customer_codes": ["1000001"], "percent": 5}, "customer_codes"),
        ({}, "percent"),
        ({"cohort_change": pb.COHORT_CHANGE_REPLACE, "customer_codes": ["1000001", " "]}, "customer_codes[1]"),
        ({"cohort_change": pb.COHORT_CHANGE_ADD, "customer_codes": ["1" * 21]}, "customer_codes[0]"),
        ({"cohort_change": pb.COHORT_CHANGE_REPLACE, "customer_codes": MANY}, "customer_codes"),
        ({"cohort_change": 9, "customer_codes": ["1000001"]}, "cohort_change"),
        ({"percent": 5, "expected_version": -1}, "expected_version"),
        ({"percent": 5, "key": "Bad Key"}, "key"),
        ({"percent": 5, "actor": pb.Actor(role="sre")}, "actor.username"),
    ],
)
async def test_bad_input_is_invalid_argument_naming_the_field_and_writes_nothing(
    flags: Stub, request_fields: dict[str, Any], field: str
) -> None:
    error = await refused(flags.SetPilot(set_pilot(**request_fields)))

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
    assert field in violations(error), violations(error)
    assert (await refused(flags.GetFlag(pb.GetFlagRequest(key=KEY)))).code() == grpc.StatusCode.NOT_FOUND


async def test_growing_a_cohort_past_fifty_is_invalid_and_changes_nothing(flags: Stub) -> None:
    created = await flags.SetPilot(replace(*MANY[:50]))

    error = await refused(flags.SetPilot(add(MANY[50])))

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "customer_codes" in violations(error)
    assert await flags.GetFlag(pb.GetFlagRequest(key=KEY)) == created.flag


async def test_a_fault_flags_pilot_needs_the_sre_or_admin_role(flags: Stub) -> None:
    error = await refused(flags.SetPilot(set_pilot(key="fault.customer", percent=5, actor=DISPATCHER)))
    allowed = await flags.SetPilot(set_pilot(key="fault.customer", percent=5, actor=ADMIN))

    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert allowed.flag.version == 1
