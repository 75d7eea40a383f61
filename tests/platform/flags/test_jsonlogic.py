"""The JsonLogic dialect: json-logic-js semantics for the common operations, flagd's for its own."""

from __future__ import annotations

from typing import Any

import pytest

from services.platform.flags.jsonlogic import RuleError
from services.platform.flags.semver import parse_semver
from services.platform.flags.targeting import compile_rule


def apply(rule: Any, data: Any = None) -> Any:
    return compile_rule(rule, flag_key="flag").rule(data if data is not None else {})


CUSTOMER = {
    "targetingKey": "1000042",
    "zone": "A",
    "segment": "night_market",
    "customer": {"credit": {"limit": 5000}, "codes": ["1000042", "1000043"]},
    "orders": [3, 0, 7],
    "empty": "",
}


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"var": "zone"}, "A"),
        ({"var": "customer.credit.limit"}, 5000),
        ({"var": "customer.codes.1"}, "1000043"),
        ({"var": ["customer.phone", "none"]}, "none"),
        ({"var": "nothing"}, None),
        ({"var": ""}, CUSTOMER),
        ({"var": [{"cat": ["zo", "ne"]}]}, "A"),
        ({"missing": ["zone", "phone", "empty"]}, ["phone", "empty"]),
        ({"missing_some": [1, ["zone", "phone"]]}, []),
        ({"missing_some": [2, ["zone", "phone"]]}, ["phone"]),
        ({"if": [{"var": "empty"}, "yes", "no"]}, "no"),
        ({"if": [False, 1, False, 2, 3]}, 3),
        ({"if": [False, 1, True, 2, 3]}, 2),
        ({"if": [False, 1]}, None),
        ({"?:": [True, 1, 2]}, 1),
        ({"==": [1, "1"]}, True),
        ({"==": [0, ""]}, True),
        ({"==": [None, 0]}, False),
        ({"==": [True, 1]}, True),
        ({"===": [1, "1"]}, False),
        ({"===": [1, 1.0]}, True),
        ({"===": [True, 1]}, False),
        ({"!=": [1, "1"]}, False),
        ({"!==": [1, "1"]}, True),
        ({"!": [[]]}, True),
        ({"!": ""}, True),
        ({"!!": ["0"]}, True),
        ({"!!": [[]]}, False),
        ({"and": [True, "a", 0, "b"]}, 0),
        ({"and": [True, "a"]}, "a"),
        ({"or": [False, "", "x"]}, "x"),
        ({"or": [False, 0]}, 0),
        ({"<": [1, 2]}, True),
        ({"<": ["10", 9]}, False),
        ({"<": ["abc", "abd"]}, True),
        ({"<": [1, 5, 10]}, True),
        ({"<": [1, 1, 10]}, False),
        ({"<=": [1, 1, 10]}, True),
        ({">": [3, 2]}, True),
        ({">=": [2, 2]}, True),
        ({">": ["x", 1]}, False),
        ({"in": ["Spring", "Springfield"]}, True),
        ({"in": ["Mike", ["Bob", "Mike"]]}, True),
        ({"in": [{"var": "targetingKey"}, ["1000041", "1000042"]]}, True),
        ({"in": [1, ["1", 2]]}, False),
        ({"in": [2, ["1", 2]]}, True),
        ({"in": ["x", None]}, False),
        ({"cat": ["I love", " pie", 1, 2.0, None, True]}, "I love pie12true"),
        ({"substr": ["jsonlogic", 4]}, "logic"),
        ({"substr": ["jsonlogic", -5]}, "logic"),
        ({"substr": ["jsonlogic", 1, 3]}, "son"),
        ({"substr": ["jsonlogic", 4, -2]}, "log"),
        ({"merge": [[1, 2], 3, [4, [5]]]}, [1, 2, 3, 4, [5]]),
        ({"+": [1, "2", 3.5]}, 6.5),
        ({"+": ["3"]}, 3.0),
        ({"-": [10, 4]}, 6),
        ({"-": [2]}, -2),
        ({"*": [2, 3, 4]}, 24),
        ({"/": [7, 2]}, 3.5),
        ({"/": [1, 0]}, None),
        ({"%": [7, 3]}, 1),
        ({"%": [-7, 3]}, -1),
        ({"min": [3, 1, 2]}, 1),
        ({"max": [3, 1, 2]}, 3),
        ({"some": [{"var": "orders"}, {">": [{"var": ""}, 5]}]}, True),
        ({"all": [{"var": "orders"}, {">": [{"var": ""}, 5]}]}, False),
        ({"all": [[], True]}, False),
        ({"none": [{"var": "orders"}, {">": [{"var": ""}, 10]}]}, True),
        ({"map": [{"var": "orders"}, {"*": [{"var": ""}, 2]}]}, [6, 0, 14]),
        ({"filter": [{"var": "orders"}, {"var": ""}]}, [3, 7]),
        ({"reduce": [{"var": "orders"}, {"+": [{"var": "current"}, {"var": "accumulator"}]}, 0]}, 10),
        ({"starts_with": [{"var": "targetingKey"}, "1000"]}, True),
        ({"ends_with": [{"var": "targetingKey"}, "42"]}, True),
        ({"starts_with": [1000042, "1000"]}, False),
        ({"sem_ver": ["1.2.3", ">=", "1.0.0"]}, True),
        ({"sem_ver": ["v2.0.0", "=", "2.0.0"]}, True),
        ({"sem_ver": ["2.0.0-alpha", "<", "2.0.0"]}, True),
        ({"sem_ver": ["2.0.0-alpha.2", ">", "2.0.0-alpha.10"]}, False),
        ({"sem_ver": ["2.0.0-alpha.beta", ">", "2.0.0-alpha.1"]}, True),
        ({"sem_ver": ["1.0.0+build", "=", "1.0.0"]}, True),
        ({"sem_ver": ["3.0.1", "~", "3.0.0"]}, True),
        ({"sem_ver": ["3.1.0", "~", "3.0.0"]}, False),
        ({"sem_ver": ["3.1.0", "^", "3.0.0"]}, True),
        ({"sem_ver": ["1.5", "^", "1"]}, True),
        ({"sem_ver": ["2.0.0.0", "=", "2.0.0"]}, False),
        ({"sem_ver": [None, "=", "2.0.0"]}, False),
        ("literal", "literal"),
        ([1, {"var": "zone"}], [1, "A"]),
    ],
)
def test_operations(rule: Any, expected: Any) -> None:
    assert apply(rule, CUSTOMER) == expected


def test_a_single_argument_needs_no_array() -> None:
    assert apply({"var": "zone"}, CUSTOMER) == apply({"var": ["zone"]}, CUSTOMER)
    assert apply({"!": {"var": "zone"}}, CUSTOMER) is False


def test_semantic_versions_parse_like_go_semver() -> None:
    assert parse_semver("1") == (1, 0, 0, None)
    assert parse_semver("v1.2") == (1, 2, 0, None)
    assert parse_semver("1.2.3-rc.1+build.5") == (1, 2, 3, ((1, "rc"), (0, 1)))
    for invalid in ("01.2.3", "1.2.3.4", "1.2-rc", "", "x", 1):
        assert parse_semver(invalid) is None


def test_reading_flagd_properties_is_reported() -> None:
    assert compile_rule({"var": "$flagd.timestamp"}, flag_key="f").uses_flagd_properties
    assert not compile_rule({"var": "zone"}, flag_key="f").uses_flagd_properties


@pytest.mark.parametrize(
    ("rule", "path"),
    [
        ({"nope": []}, "targeting.nope"),
        ({"and": [{"or": [{"==": [1, 2, 3]}]}]}, "targeting.and[0].or[0].=="),
        ({"var": ["a", "b", "c"]}, "targeting.var"),
        ({"some": [[1]]}, "targeting.some"),
    ],
)
def test_compile_errors_name_the_path(rule: Any, path: str) -> None:
    with pytest.raises(RuleError) as error:
        compile_rule(rule, flag_key="f")
    assert error.value.path == path


# flagd's shared conformance suite (flagd-testbed, custom-ops.json): every in-process provider must bucket
# these the same way, so these are the cross-implementation check of our murmur3 and range arithmetic.
@pytest.mark.parametrize(
    ("seed", "name", "expected"),
    [
        ({"var": "$flagd.flagKey"}, "jack", "spades"),
        ({"var": "$flagd.flagKey"}, "queen", "clubs"),
        ({"var": "$flagd.flagKey"}, "ten", "diamonds"),
        ({"var": "$flagd.flagKey"}, "nine", "hearts"),
        ({"var": "$flagd.flagKey"}, 3, "diamonds"),
        ("shared-seed", "jack", "hearts"),
        ("shared-seed", "queen", "spades"),
        ("shared-seed", "ten", "hearts"),
        ("shared-seed", "nine", "diamonds"),
    ],
)
def test_fractional_matches_flagds_conformance_suite(seed: Any, name: Any, expected: str) -> None:
    rule = {
        "fractional": [
            {"cat": [seed, {"var": "user.name"}]},
            ["clubs", 25],
            ["diamonds", 25],
            ["hearts", 25],
            ["spades", 25],
        ]
    }
    data = {"user": {"name": name}, "$flagd": {"flagKey": "fractional-flag"}}
    assert compile_rule(rule, flag_key="fractional-flag").rule(data) == expected


def test_fractional_may_split_booleans_and_computed_variants() -> None:
    assert apply({"fractional": [[False, 0], [True, 100]]}, {"targetingKey": "k"}) is True
    computed = {"fractional": [{"var": "targetingKey"}, [{"var": "colour"}, 100], ["blue", 0]]}
    assert apply(computed, {"targetingKey": "k", "colour": "red"}) == "red"


def test_fractional_with_a_missing_bucketing_value_falls_back_to_the_targeting_key() -> None:
    rule = {"fractional": [{"var": "missing"}, ["a", 50], ["b", 50]]}
    assert apply(rule, {"targetingKey": "k"}) == apply({"fractional": [["a", 50], ["b", 50]]}, {"targetingKey": "k"})
