"""The evaluation engine: parsing flagd definitions, and evaluation results in OpenFeature's vocabulary."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from services.platform import clock
from services.platform.errors import InvalidArgument
from services.platform.flags.engine import (
    ErrorCode,
    FlagDefinition,
    Reason,
    ValueKind,
    evaluate,
    parse_flag,
    parse_flag_json,
    thaw,
)


def boolean_flag(targeting: Any = None, *, state: str = "ENABLED", key: str = "new-order-flow") -> FlagDefinition:
    definition: dict[str, Any] = {"state": state, "variants": {"on": True, "off": False}, "defaultVariant": "off"}
    if targeting is not None:
        definition["targeting"] = targeting
    return parse_flag(key, definition, version=7)


def violations(error: pytest.ExceptionInfo[InvalidArgument]) -> dict[str, str]:
    return {violation.field: violation.reason for violation in error.value.violations}


# --- evaluation results ----------------------------------------------------------------------------------------


def test_a_flag_without_targeting_is_static() -> None:
    result = evaluate(boolean_flag(), "new-order-flow", {"targetingKey": "1000001"}, expected_type=bool, default=True)
    assert (result.value, result.variant, result.reason, result.error_code) == (False, "off", Reason.STATIC, None)
    assert result.flag_version == 7


def test_empty_targeting_counts_as_none() -> None:
    assert evaluate(boolean_flag({}), "new-order-flow", {}).reason is Reason.STATIC


def test_a_rule_naming_a_variant_is_a_targeting_match() -> None:
    flag = boolean_flag({"if": [{"==": [{"var": "zone"}, "A"]}, "on", "off"]})
    assert evaluate(flag, flag.key, {"zone": "A"}).reason is Reason.TARGETING_MATCH
    result = evaluate(flag, flag.key, {"zone": "B"})
    assert (result.value, result.variant, result.reason) == (False, "off", Reason.TARGETING_MATCH)


def test_a_rule_returning_null_gives_the_default_variant() -> None:
    flag = boolean_flag({"if": [{"==": [{"var": "zone"}, "A"]}, "on", None]})
    result = evaluate(flag, flag.key, {"zone": "B"}, default=True)
    assert (result.value, result.variant, result.reason) == (False, "off", Reason.DEFAULT)


def test_a_rule_returning_an_unknown_variant_is_an_error_with_the_callers_default() -> None:
    flag = boolean_flag({"var": "wanted"})
    result = evaluate(flag, flag.key, {"wanted": "maybe"}, default=True)
    assert (result.value, result.variant, result.reason, result.error_code) == (
        True,
        None,
        Reason.ERROR,
        ErrorCode.GENERAL,
    )
    assert "maybe" in (result.error_message or "")


def test_a_boolean_result_selects_the_variant_named_after_it() -> None:
    flag = parse_flag(
        "f",
        {
            "state": "ENABLED",
            "variants": {"true": 2, "false": 1},
            "defaultVariant": "false",
            "targeting": {"if": [True, True, False]},
        },
    )
    assert evaluate(flag, "f", {}, expected_type=int).value == 2


def test_a_disabled_flag_returns_the_callers_default() -> None:
    flag = boolean_flag({"if": [True, "on", "off"]}, state="DISABLED")
    result = evaluate(flag, flag.key, {}, expected_type=bool, default=True)
    assert (result.value, result.variant, result.reason, result.error_code) == (True, None, Reason.DISABLED, None)
    assert result.flag_version == 7


def test_a_missing_flag_is_flag_not_found() -> None:
    result = evaluate(None, "nope", {}, default="x")
    assert (result.flag_key, result.value, result.reason, result.error_code) == (
        "nope",
        "x",
        Reason.ERROR,
        ErrorCode.FLAG_NOT_FOUND,
    )


@pytest.mark.parametrize("expected_type", [str, int, float, dict])
def test_asking_for_another_type_is_a_type_mismatch(expected_type: type) -> None:
    result = evaluate(boolean_flag(), "new-order-flow", {}, expected_type=expected_type, default="d")
    assert (result.value, result.reason, result.error_code) == ("d", Reason.ERROR, ErrorCode.TYPE_MISMATCH)


def number_flag(value: float) -> FlagDefinition:
    return parse_flag("n", {"state": "ENABLED", "variants": {"v": value, "w": 0}, "defaultVariant": "v"})


def test_numbers_are_given_as_the_type_asked_for() -> None:
    assert evaluate(number_flag(3.0), "n", {}, expected_type=int).value == 3
    assert type(evaluate(number_flag(3.0), "n", {}, expected_type=int).value) is int
    assert type(evaluate(number_flag(3), "n", {}, expected_type=float).value) is float
    result = evaluate(number_flag(2.5), "n", {}, expected_type=int, default=1)
    assert (result.value, result.error_code) == (1, ErrorCode.TYPE_MISMATCH)


def test_object_values_are_read_only_and_thaw_to_plain_json() -> None:
    flag = parse_flag(
        "fault.order",
        {"state": "ENABLED", "variants": {"slow": {"latency_ms": [50, 150]}, "off": {}}, "defaultVariant": "slow"},
    )
    value = evaluate(flag, flag.key, {}, expected_type=dict).value
    assert isinstance(value, Mapping)
    with pytest.raises(TypeError):
        value["latency_ms"] = [0, 0]  # type: ignore[index]
    assert thaw(value) == {"latency_ms": [50, 150]}
    assert flag.value_kind is ValueKind.OBJECT


def test_fractional_decisions_are_splits() -> None:
    flag = boolean_flag({"fractional": [["on", 50], ["off", 50]]})
    reasons = {evaluate(flag, flag.key, {"targetingKey": f"{1000000 + n}"}).reason for n in range(50)}
    assert reasons == {Reason.SPLIT}


def test_a_cohort_match_before_a_split_is_a_targeting_match() -> None:
    flag = boolean_flag(
        {"if": [{"in": [{"var": "targetingKey"}, ["1000001"]]}, "on", {"fractional": [["on", 0], ["off", 100]]}]}
    )
    assert evaluate(flag, flag.key, {"targetingKey": "1000001"}).reason is Reason.TARGETING_MATCH
    assert evaluate(flag, flag.key, {"targetingKey": "1000002"}).reason is Reason.SPLIT


def test_a_split_without_targeting_key_is_targeting_key_missing() -> None:
    flag = boolean_flag({"fractional": [["on", 50], ["off", 50]]})
    for context in ({}, {"targetingKey": ""}, {"targetingKey": 1000001}):
        result = evaluate(flag, flag.key, context, default=True)
        assert (result.value, result.reason, result.error_code) == (
            True,
            Reason.ERROR,
            ErrorCode.TARGETING_KEY_MISSING,
        )


def test_a_split_on_an_explicit_bucketing_value_needs_no_targeting_key() -> None:
    flag = boolean_flag({"fractional": [{"var": "route"}, ["on", 50], ["off", 50]]})
    assert evaluate(flag, flag.key, {"route": "north-morning"}).reason is Reason.SPLIT


def test_flagd_properties_are_in_the_context() -> None:
    flag = boolean_flag({"if": [{"==": [{"var": "$flagd.flagKey"}, "new-order-flow"]}, "on", "off"]})
    assert evaluate(flag, flag.key, {}).value is True


def test_a_date_window_reads_the_evaluation_time() -> None:
    now = int(clock.timestamp())
    open_window = boolean_flag({"if": [{"<=": [now - 60, {"var": "$flagd.timestamp"}, now + 60]}, "on", "off"]})
    closed_window = boolean_flag({"if": [{"<=": [now + 60, {"var": "$flagd.timestamp"}, now + 120]}, "on", "off"]})
    assert evaluate(open_window, open_window.key, {}).value is True
    assert evaluate(closed_window, closed_window.key, {}).value is False


def test_the_callers_context_is_not_changed() -> None:
    flag = boolean_flag({"if": [{"var": "$flagd.timestamp"}, "on", "off"]})
    context = {"targetingKey": "1000001"}
    evaluate(flag, flag.key, context)
    assert context == {"targetingKey": "1000001"}


class ExplodingContext(Mapping[str, Any]):
    def __getitem__(self, key: str) -> Any:
        raise RuntimeError("boom")

    def __iter__(self) -> Iterator[str]:
        raise RuntimeError("boom")

    def __len__(self) -> int:
        return 1


def test_evaluation_never_raises() -> None:
    flag = boolean_flag({"if": [{"==": [{"var": "zone"}, "A"]}, "on", "off"]})
    result = evaluate(flag, flag.key, ExplodingContext(), default=True)
    assert (result.value, result.reason, result.error_code) == (True, Reason.ERROR, ErrorCode.GENERAL)
    result = evaluate(flag, flag.key, "not a mapping", default=True)  # type: ignore[arg-type]
    assert result.error_code is ErrorCode.INVALID_CONTEXT


# --- parsing ------------------------------------------------------------------------------------------------


def test_an_unknown_state_is_refused_with_its_field() -> None:
    with pytest.raises(InvalidArgument) as error:
        parse_flag("f", {"state": "ON", "variants": {"a": 1}, "defaultVariant": "a"})
    assert violations(error) == {"state": "must be ENABLED or DISABLED, got 'ON'"}


def test_a_default_variant_outside_the_variants_is_refused() -> None:
    with pytest.raises(InvalidArgument) as error:
        parse_flag("f", {"state": "ENABLED", "variants": {"a": 1, "b": 2}, "defaultVariant": "c"})
    assert "defaultVariant" in violations(error)


def test_variants_of_mixed_types_are_refused() -> None:
    with pytest.raises(InvalidArgument) as error:
        parse_flag("f", {"state": "ENABLED", "variants": {"on": True, "off": "false"}, "defaultVariant": "on"})
    assert "all variants must have one type" in violations(error)["variants"]


@pytest.mark.parametrize("value", [None, [1, 2], float("nan")])
def test_variant_values_are_json_scalars_or_objects(value: Any) -> None:
    with pytest.raises(InvalidArgument) as error:
        parse_flag("f", {"state": "ENABLED", "variants": {"a": value}, "defaultVariant": "a"})
    assert "variants.a" in violations(error)


def test_every_problem_is_reported_at_once_under_the_given_prefix() -> None:
    with pytest.raises(InvalidArgument) as error:
        parse_flag("f", {"state": "on", "variants": {}, "defaultVariant": 1, "colour": "x"}, field="flags.f")
    assert set(violations(error)) == {
        "flags.f.state",
        "flags.f.variants",
        "flags.f.defaultVariant",
        "flags.f.colour",
    }


@pytest.mark.parametrize(
    ("targeting", "field", "reason"),
    [
        ({"iff": [True, "on", "off"]}, "targeting.iff", "unknown operation"),
        ({"if": [{"==": [1]}, "on", "off"]}, "targeting.if[0].==", "takes 2 arguments, got 1"),
        ({"if": [True, "onn", "off"]}, "targeting.if[1]", "'onn' is not one of the variants (on, off)"),
        ({"fractional": [["on", 50], ["maybe", 50]]}, "targeting.fractional[1][0]", "'maybe' is not one of the"),
        ({"fractional": [["on", 5.5], ["off", 94.5]]}, "targeting.fractional[0][1]", "a weight is a whole number"),
        ({"fractional": [["on", 0], ["off", 0]]}, "targeting.fractional", "the weights must add up"),
        ({"fractional": []}, "targeting.fractional", "needs at least one"),
        ({"sem_ver": [{"var": "v"}, "===", "1.0.0"]}, "targeting.sem_ver[1]", "unknown operator"),
        ({"sem_ver": [{"var": "v"}, "=", "one"]}, "targeting.sem_ver[2]", "is not a semantic version"),
        ({"if": [{"$ref": "missing"}, "on", "off"]}, "targeting.if[0].$ref", "unknown shared evaluator 'missing'"),
        ({"in": [1, 2], "or": []}, "targeting", "exactly one key"),
    ],
)
def test_a_malformed_rule_is_refused_naming_where(targeting: Any, field: str, reason: str) -> None:
    with pytest.raises(InvalidArgument) as error:
        boolean_flag(targeting)
    found = violations(error)
    assert field in found, found
    assert reason in found[field]


def test_shared_evaluators_are_expanded_and_remembered() -> None:
    evaluators = {"cityZones": {"in": [{"var": "zone"}, ["A", "B", "C"]]}}
    flag = parse_flag(
        "f",
        {
            "state": "ENABLED",
            "variants": {"on": True, "off": False},
            "defaultVariant": "off",
            "targeting": {"if": [{"$ref": "cityZones"}, "on", "off"]},
        },
        evaluators=evaluators,
    )
    assert evaluate(flag, "f", {"zone": "B"}).value is True
    assert flag.to_json()["targeting"] == {"if": [evaluators["cityZones"], "on", "off"]}
    assert flag.to_json(expand_references=False)["targeting"] == {"if": [{"$ref": "cityZones"}, "on", "off"]}
    assert thaw(flag.evaluators) == evaluators


def test_a_self_referencing_evaluator_is_refused() -> None:
    with pytest.raises(InvalidArgument) as error:
        parse_flag(
            "f",
            {"state": "ENABLED", "variants": {"a": 1}, "defaultVariant": "a", "targeting": {"$ref": "loop"}},
            evaluators={"loop": {"!": {"$ref": "loop"}}},
        )
    assert "refers to itself" in error.value.message


def test_a_definition_round_trips_through_json() -> None:
    definition = {
        "state": "ENABLED",
        "variants": {"on": True, "off": False},
        "defaultVariant": "off",
        "targeting": {"if": [{"in": [{"var": "targetingKey"}, ["1000001"]]}, "on", None]},
        "metadata": {"owner": "office"},
    }
    assert boolean_flag().to_json() == {
        "state": "ENABLED",
        "variants": {"on": True, "off": False},
        "defaultVariant": "off",
    }
    assert parse_flag("f", definition).to_json() == definition


def test_definition_json_text_is_parsed_or_refused_with_its_field() -> None:
    flag = parse_flag_json("f", '{"state": "ENABLED", "variants": {"a": "x"}, "defaultVariant": "a"}', version=3)
    assert (flag.version, flag.value_kind) == (3, ValueKind.STRING)
    with pytest.raises(InvalidArgument) as error:
        parse_flag_json("f", "{not json")
    assert "definition_json" in violations(error)
