"""flagd documents in and out, and the pilot's rule builders."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from services.platform.clock import utc_now
from services.platform.errors import InvalidArgument
from services.platform.flags.documents import (
    PilotState,
    cohort_rule,
    dump_document,
    load_document,
    percentage_rule,
    pilot_flag,
    pilot_targeting,
    read_pilot,
    time_window_rule,
)
from services.platform.flags.engine import Reason, evaluate, parse_flag

DOCUMENT: dict[str, Any] = {
    "$schema": "https://flagd.dev/schema/v0/flags.json",
    "flags": {
        "new-order-flow": {
            "state": "ENABLED",
            "variants": {"on": True, "off": False},
            "defaultVariant": "off",
            "targeting": {"if": [{"$ref": "cityZones"}, "on", None]},
        },
        "route-colour": {
            "state": "DISABLED",
            "variants": {"red": "#FF0000", "blue": "#0000FF"},
            "defaultVariant": "red",
            "targeting": {"if": [{"$ref": "cityZones"}, "blue", "red"]},
            "metadata": {"owner": "dispatch"},
        },
        "fault.order": {"state": "ENABLED", "variants": {"off": {}}, "defaultVariant": "off"},
    },
    "$evaluators": {"cityZones": {"in": [{"var": "zone"}, ["A", "B", "C", "D"]]}},
}


def test_a_document_round_trips_with_its_shared_evaluators() -> None:
    flags = load_document(json.dumps(DOCUMENT))
    assert sorted(flags) == ["fault.order", "new-order-flow", "route-colour"]
    assert evaluate(flags["new-order-flow"], "new-order-flow", {"zone": "B"}).value is True
    exported = json.loads(dump_document(flags))
    assert exported == DOCUMENT
    again = load_document(dump_document(flags))
    assert {key: flag.to_json() for key, flag in again.items()} == {key: flag.to_json() for key, flag in flags.items()}


def test_flags_that_disagree_on_an_evaluator_are_exported_expanded() -> None:
    other = parse_flag(
        "other",
        {
            "state": "ENABLED",
            "variants": {"a": 1},
            "defaultVariant": "a",
            "targeting": {"if": [{"$ref": "cityZones"}, "a", None]},
        },
        evaluators={"cityZones": {"in": [{"var": "zone"}, ["E"]]}},
    )
    flags = {**load_document(DOCUMENT), "other": other}
    exported = json.loads(dump_document(flags))
    assert "$evaluators" not in exported
    assert exported["flags"]["other"]["targeting"] == {"if": [{"in": [{"var": "zone"}, ["E"]]}, "a", None]}
    assert load_document(exported)["other"].to_json() == other.to_json()


def test_every_broken_flag_of_a_document_is_reported() -> None:
    broken = {
        "flags": {
            "a": {"state": "ENABLED", "variants": {"x": 1}, "defaultVariant": "y"},
            "b": {"state": "ENABLED", "variants": {"x": 1}, "defaultVariant": "x", "targeting": {"$ref": "nope"}},
            "c": {"state": "ENABLED", "variants": {"x": 1}, "defaultVariant": "x"},
        },
        "extra": 1,
    }
    with pytest.raises(InvalidArgument) as error:
        load_document(json.dumps(broken))
    fields = {violation.field for violation in error.value.violations}
    assert fields == {
        "document_json.extra",
        "document_json.flags.a.defaultVariant",
        "document_json.flags.b.targeting.$ref",
    }


@pytest.mark.parametrize("text", ["not json", "[]", '{"flags": []}'])
def test_a_document_that_is_not_one_is_refused(text: str) -> None:
    with pytest.raises(InvalidArgument):
        load_document(text)


def test_a_cohort_rule_matches_exactly_its_customers() -> None:
    flag = parse_flag(
        "f",
        {
            "state": "ENABLED",
            "variants": {"on": True, "off": False},
            "defaultVariant": "off",
            "targeting": {"if": [cohort_rule(["1000003", "1000001", "1000001"]), "on", None]},
        },
    )
    assert cohort_rule(["1000003", "1000001", "1000001"]) == {"in": [{"var": "targetingKey"}, ["1000001", "1000003"]]}
    assert evaluate(flag, "f", {"targetingKey": "1000001"}).value is True
    assert evaluate(flag, "f", {"targetingKey": "1000002"}).reason is Reason.DEFAULT
    with pytest.raises(InvalidArgument):
        cohort_rule("1000001")


def test_percentage_rules_put_on_first_in_whole_weights() -> None:
    assert percentage_rule(10) == {"fractional": [["on", 10], ["off", 90]]}
    assert percentage_rule(0.5) == {"fractional": [["on", 50], ["off", 9950]]}
    for invalid in (-1, 101, 0.001, True):
        with pytest.raises(InvalidArgument):
            percentage_rule(invalid)


def test_a_time_window_is_open_only_inside_it() -> None:
    now = utc_now()
    inside = time_window_rule(now - timedelta(minutes=1), now + timedelta(minutes=1))
    later = time_window_rule(start=now + timedelta(hours=1))
    for rule, expected in ((inside, True), (later, False)):
        flag = parse_flag(
            "w",
            {
                "state": "ENABLED",
                "variants": {"on": True, "off": False},
                "defaultVariant": "off",
                "targeting": {"if": [rule, "on", "off"]},
            },
        )
        assert evaluate(flag, "w", {}).value is expected
    with pytest.raises(InvalidArgument):
        time_window_rule(datetime(2025, 5, 21))  # a naive time: refused


CODES = [f"{1000000 + n:07d}" for n in range(4000)]


def share_on(definition: dict[str, Any]) -> tuple[set[str], float]:
    flag = parse_flag("pilot-new-platform", definition)
    on = {code for code in CODES if evaluate(flag, flag.key, {"targetingKey": code}, expected_type=bool).value}
    return on, len(on) / len(CODES)


def test_the_pilot_walkthrough_only_ever_adds_customers() -> None:
    cohorts = [CODES[:5], CODES[:10], CODES[:20]]
    previous: set[str] = set()
    for cohort in cohorts:
        on, _ = share_on(pilot_flag(cohort))
        assert on == set(cohort)
        assert previous <= on
        previous = on
    for percent in (10, 50, 100):
        on, share = share_on(pilot_flag(cohorts[-1], percent))
        assert set(cohorts[-1]) <= on
        assert previous <= on
        assert abs(share - percent / 100) < 0.03
        previous = on
    assert previous == set(CODES)


def test_a_pilot_flag_can_be_read_back() -> None:
    assert read_pilot(pilot_flag()) == PilotState((), 0)
    assert read_pilot(pilot_flag(["1000002", "1000001"])) == PilotState(("1000001", "1000002"), 0)
    assert read_pilot(pilot_flag(["1000001"], 50)) == PilotState(("1000001",), 50)
    assert read_pilot(parse_flag("p", pilot_flag([], 12.5))) == PilotState((), 12.5)
    assert read_pilot({"targeting": {"==": [1, 1]}}) is None


def test_nobody_on_means_no_targeting() -> None:
    assert pilot_targeting() is None
    assert "targeting" not in pilot_flag()
