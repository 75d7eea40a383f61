"""Services read flags through the standard OpenFeature client backed by the in-process store."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from openfeature import api
from openfeature.client import OpenFeatureClient
from openfeature.evaluation_context import EvaluationContext
from openfeature.event import EventDetails, ProviderEvent
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import Reason

from services.platform.flags.engine import parse_flag
from services.platform.flags.local import FlagChange, FlagStore
from services.platform.flags.provider import InProcessFlagProvider

DOMAIN = "flags-provider-test"


def definition(variants: dict[str, Any], default: str, **extra: Any) -> dict[str, Any]:
    return {"state": "ENABLED", "variants": variants, "defaultVariant": default, **extra}


FLAGS = {
    "new-order-flow": definition(
        {"on": True, "off": False},
        "off",
        targeting={"if": [{"in": [{"var": "targetingKey"}, ["1000042"]]}, "on", None]},
    ),
    "banner": definition(
        {"zh": "幸福氣", "en": "Lucky Gas"}, "zh", targeting={"if": [{"==": [{"var": "lang"}, "en"]}, "en", "zh"]}
    ),
    "max-stops": definition({"normal": 33, "busy": 40}, "normal"),
    "detour-factor": definition({"city": 1.3, "coast": 2}, "coast"),
    "fault.order": definition({"slow": {"latency_ms": [50, 150], "methods": ["GetOrder"]}}, "slow"),
    "killed": {**definition({"on": True, "off": False}, "on"), "state": "DISABLED"},
}


@pytest.fixture
def store() -> FlagStore:
    store = FlagStore()
    store.replace_all([FlagChange(key, 1, parse_flag(key, body, version=1)) for key, body in FLAGS.items()], revision=1)
    return store


@pytest.fixture
def client(store: FlagStore) -> Iterator[OpenFeatureClient]:
    api.set_provider(InProcessFlagProvider(store), domain=DOMAIN)
    yield api.get_client(domain=DOMAIN)
    api.clear_providers()


def test_typed_values_through_the_standard_client(client: OpenFeatureClient) -> None:
    assert client.get_boolean_value("new-order-flow", False, EvaluationContext("1000042")) is True
    assert client.get_boolean_value("new-order-flow", True, EvaluationContext("1000043")) is False
    assert client.get_string_value("banner", "", EvaluationContext(attributes={"lang": "en"})) == "Lucky Gas"
    assert client.get_integer_value("max-stops", 0) == 33
    assert client.get_float_value("detour-factor", 1.0) == 2.0
    fault = client.get_object_value("fault.order", {})
    assert fault == {"latency_ms": [50, 150], "methods": ["GetOrder"]}
    assert isinstance(fault, dict)


def test_resolution_details_carry_reason_variant_and_version(client: OpenFeatureClient) -> None:
    details = client.get_boolean_details("new-order-flow", False, EvaluationContext("1000042"))
    assert (details.value, details.variant, details.reason) == (True, "on", Reason.TARGETING_MATCH)
    assert details.flag_metadata["flagVersion"] == 1
    details = client.get_boolean_details("new-order-flow", True, EvaluationContext("1000043"))
    assert (details.value, details.reason) == (False, Reason.DEFAULT)


def test_a_killed_flag_gives_the_code_default(client: OpenFeatureClient) -> None:
    details = client.get_boolean_details("killed", False)
    assert (details.value, details.reason, details.error_code) == (False, Reason.DISABLED, None)


def test_errors_map_to_openfeatures_codes(client: OpenFeatureClient) -> None:
    missing = client.get_boolean_details("no-such-flag", True)
    assert (missing.value, missing.reason, missing.error_code) == (True, Reason.ERROR, ErrorCode.FLAG_NOT_FOUND)
    mismatch = client.get_string_details("new-order-flow", "x")
    assert (mismatch.value, mismatch.error_code) == ("x", ErrorCode.TYPE_MISMATCH)


def test_flag_changes_are_announced(store: FlagStore, client: OpenFeatureClient) -> None:
    heard: list[EventDetails] = []
    client.add_handler(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED, heard.append)
    store.apply_changes([FlagChange("max-stops", 2, parse_flag("max-stops", definition({"n": 20}, "n"), version=2))], 2)
    assert client.get_integer_value("max-stops", 0) == 20
    assert [event.flags_changed for event in heard] == [["max-stops"]]
