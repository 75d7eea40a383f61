"""Remote evaluation: one flag or all of them for a context, with OpenFeature's reasons and error codes."""

from __future__ import annotations

from typing import Any

from google.protobuf.json_format import MessageToDict
from luckygas.flags.v1 import flags_pb2 as pb
from luckygas.flags.v1 import flags_pb2_grpc
from sqlalchemy import text

from services.flags.app import RunningFlagService
from services.platform.database import Database
from tests.flags.factories import ADMIN, boolean_flag, cohort_flag, put_request

Stub = flags_pb2_grpc.FlagServiceStub


def request(key: str, **context: Any) -> pb.EvaluateFlagRequest:
    message = pb.EvaluateFlagRequest(flag_key=key)
    message.context.update(context)
    return message


async def test_a_flag_without_targeting_is_static(flags: Stub) -> None:
    await flags.PutFlag(
        put_request("banner", {"state": "ENABLED", "variants": {"a": "晴天", "b": "雨天"}, "defaultVariant": "a"})
    )

    result = await flags.EvaluateFlag(request("banner"))

    assert (result.value.string_value, result.variant, result.reason, result.error_code) == ("晴天", "a", "STATIC", "")
    assert result.flag_version == 1


async def test_a_cohort_member_is_a_targeting_match_and_others_get_the_default(flags: Stub) -> None:
    await flags.PutFlag(put_request("new-platform", cohort_flag(["1000001", "1000002"])))

    member = await flags.EvaluateFlag(request("new-platform", targetingKey="1000002"))
    other = await flags.EvaluateFlag(request("new-platform", targetingKey="1000099"))

    assert (member.value.bool_value, member.variant, member.reason) == (True, "on", "TARGETING_MATCH")
    # The rule names "off" for everyone else: that too is a targeting match.
    assert (other.value.bool_value, other.variant, other.reason) == (False, "off", "TARGETING_MATCH")


async def test_a_percentage_split_is_reported_as_split_and_is_stable(flags: Stub) -> None:
    split = boolean_flag(targeting={"fractional": [["on", 50], ["off", 50]]})
    await flags.PutFlag(put_request("rollout", split))

    results = [await flags.EvaluateFlag(request("rollout", targetingKey=f"{code}")) for code in range(1000001, 1000041)]
    again = [await flags.EvaluateFlag(request("rollout", targetingKey=f"{code}")) for code in range(1000001, 1000041)]

    assert {result.reason for result in results} == {"SPLIT"}
    assert {result.variant for result in results} == {"on", "off"}
    assert [r.variant for r in results] == [r.variant for r in again]


async def test_a_split_without_a_targeting_key_is_an_error(flags: Stub) -> None:
    await flags.PutFlag(put_request("rollout", boolean_flag(targeting={"fractional": [["on", 50], ["off", 50]]})))

    result = await flags.EvaluateFlag(request("rollout"))

    assert (result.reason, result.error_code) == ("ERROR", "TARGETING_KEY_MISSING")
    assert not result.HasField("value")


async def test_a_killed_flag_is_disabled_with_no_value(flags: Stub) -> None:
    await flags.PutFlag(put_request("new-platform", boolean_flag(default="on")))
    await flags.KillFlag(pb.KillFlagRequest(key="new-platform", actor=ADMIN))

    result = await flags.EvaluateFlag(request("new-platform", targetingKey="1000001"))

    assert (result.reason, result.error_code, result.flag_version) == ("DISABLED", "", 2)
    assert not result.HasField("value")  # the caller's code default applies


async def test_unknown_and_deleted_flags_are_not_found(flags: Stub) -> None:
    await flags.PutFlag(put_request("gone"))
    await flags.DeleteFlag(pb.DeleteFlagRequest(key="gone", actor=ADMIN))

    for key in ("gone", "never-was"):
        result = await flags.EvaluateFlag(request(key))
        assert (result.flag_key, result.reason, result.error_code) == (key, "ERROR", "FLAG_NOT_FOUND")


async def test_object_and_number_variants_come_back_as_json_values(flags: Stub) -> None:
    latency = {"latency_ms": [50, 200], "error_rate": 0.05, "methods": ["CreateOrder"]}
    await flags.PutFlag(
        put_request(
            "fault.order",
            {"state": "ENABLED", "variants": {"slow": latency}, "defaultVariant": "slow"},
            actor=pb.Actor(username="sam", role="sre"),
        )
    )
    await flags.PutFlag(put_request("max-stops", {"state": "ENABLED", "variants": {"n": 33}, "defaultVariant": "n"}))

    fault = await flags.EvaluateFlag(request("fault.order"))
    stops = await flags.EvaluateFlag(request("max-stops"))

    assert MessageToDict(fault.value) == latency
    assert stops.value.number_value == 33


async def test_evaluate_all_answers_every_live_flag_for_one_context(flags: Stub) -> None:
    await flags.PutFlag(put_request("b-cohort", cohort_flag(["1000001"])))
    await flags.PutFlag(put_request("a-static", boolean_flag(default="on")))
    await flags.PutFlag(put_request("c-killed", boolean_flag(state="DISABLED")))
    await flags.PutFlag(put_request("d-deleted"))
    await flags.DeleteFlag(pb.DeleteFlagRequest(key="d-deleted", actor=ADMIN))
    message = pb.EvaluateAllRequest()
    message.context.update({"targetingKey": "1000001", "zone": "A"})

    response = await flags.EvaluateAll(message)

    assert [(r.flag_key, r.variant, r.reason) for r in response.results] == [
        ("a-static", "on", "STATIC"),
        ("b-cohort", "on", "TARGETING_MATCH"),
        ("c-killed", "", "DISABLED"),
    ]
    audit = await flags.ListAudit(pb.ListAuditRequest(page_size=1))
    assert response.revision == audit.entries[0].sequence


async def test_targeting_on_context_attributes(flags: Stub) -> None:
    by_zone = boolean_flag(targeting={"if": [{"in": [{"var": "zone"}, ["A", "B"]]}, "on", None]})
    await flags.PutFlag(put_request("city-only", by_zone))

    city = await flags.EvaluateFlag(request("city-only", zone="A"))
    outer = await flags.EvaluateFlag(request("city-only", zone="L"))

    assert (city.variant, city.reason) == ("on", "TARGETING_MATCH")
    assert (outer.variant, outer.reason) == ("off", "DEFAULT")


async def test_a_stored_definition_the_engine_no_longer_accepts_is_a_parse_error(
    flags: Stub, flag_server: RunningFlagService, flags_database: Database
) -> None:
    await flags.PutFlag(put_request("legacy"))
    # As if written under an older, laxer engine: the row is changed behind the service's back.
    async with flags_database.session() as session:
        await session.execute(
            text("UPDATE flags.flags SET definition = '{\"state\": \"ON\"}', version = 2 WHERE key = 'legacy'")
        )
        await session.execute(
            text(
                "INSERT INTO flags.audit (flag_key, flag_version, action, actor, actor_role, reason)"
                " VALUES ('legacy', 2, 'change', 'dba', 'admin', 'test')"
            )
        )
    await flag_server.sync.resync()

    result = await flags.EvaluateFlag(request("legacy"))

    assert (result.reason, result.error_code, result.flag_version) == ("ERROR", "PARSE_ERROR", 2)
    assert "state" in result.error_message
