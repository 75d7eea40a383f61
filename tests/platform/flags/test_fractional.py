"""Fractional splits: the same bucket in every process, and a growing percentage never drops anyone."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from services.platform.flags.engine import FlagDefinition, Reason, evaluate, parse_flag
from services.platform.flags.flagd_operations import fractional_bucket

CUSTOMER_CODES = [f"{1000000 + n * 7:07d}" for n in range(10_000)]
FLAG_KEY = "new-order-flow"


def rollout_flag(percent: int, *, key: str = FLAG_KEY) -> FlagDefinition:
    # "on" first: raising its weight extends its range [0, percent) and leaves everyone already in it there.
    return parse_flag(
        key,
        {
            "state": "ENABLED",
            "variants": {"on": True, "off": False},
            "defaultVariant": "off",
            "targeting": {"fractional": [["on", percent], ["off", 100 - percent]]},
        },
    )


def variants_for(percent: int, codes: list[str]) -> list[str | None]:
    flag = rollout_flag(percent)
    return [evaluate(flag, FLAG_KEY, {"targetingKey": code}).variant for code in codes]


def test_another_process_computes_the_same_buckets_and_variants() -> None:
    script = textwrap.dedent(
        f"""
        import json, sys
        from services.platform.flags.engine import evaluate, parse_flag
        from services.platform.flags.flagd_operations import fractional_bucket
        codes = json.load(sys.stdin)
        flag = parse_flag({FLAG_KEY!r}, {{"state": "ENABLED", "variants": {{"on": True, "off": False}},
            "defaultVariant": "off", "targeting": {{"fractional": [["on", 37], ["off", 63]]}}}})
        json.dump({{
            "buckets": [fractional_bucket({FLAG_KEY!r} + code) for code in codes],
            "variants": [evaluate(flag, {FLAG_KEY!r}, {{"targetingKey": code}}).variant for code in codes],
        }}, sys.stdout)
        """
    )
    completed = subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps(CUSTOMER_CODES),
        capture_output=True,
        text=True,
        check=True,
        # A different hash seed: nothing may depend on Python's per-process string hashing.
        env={"PYTHONHASHSEED": "12345", "PATH": ""},
        cwd=Path(__file__).resolve().parents[3],
    )
    theirs = json.loads(completed.stdout)
    assert theirs["buckets"] == [fractional_bucket(FLAG_KEY + code) for code in CUSTOMER_CODES]
    assert theirs["variants"] == variants_for(37, CUSTOMER_CODES)


def test_a_split_is_close_to_its_percentage() -> None:
    for percent in (10, 50):
        share = variants_for(percent, CUSTOMER_CODES).count("on") / len(CUSTOMER_CODES)
        assert abs(share - percent / 100) < 0.02, (percent, share)


def test_the_edges_of_a_rollout() -> None:
    assert set(variants_for(0, CUSTOMER_CODES[:500])) == {"off"}
    assert set(variants_for(100, CUSTOMER_CODES[:500])) == {"on"}


def test_each_flag_splits_independently() -> None:
    # The flag key is part of the hash: the first 10% of one rollout is not the first 10% of every other.
    first = {code for code in CUSTOMER_CODES if fractional_bucket("flag-a" + code) < 10}
    second = {code for code in CUSTOMER_CODES if fractional_bucket("flag-b" + code) < 10}
    assert len(first & second) < len(first) / 4


@settings(max_examples=60, deadline=None)
@given(
    percentages=st.lists(st.integers(min_value=0, max_value=100), min_size=2, max_size=6).map(sorted),
    codes=st.lists(st.integers(min_value=0, max_value=9_999_999).map(lambda n: f"{n:07d}"), min_size=1, max_size=200),
)
def test_raising_the_percentage_never_moves_anyone_from_on_to_off(percentages: list[int], codes: list[str]) -> None:
    previous = variants_for(percentages[0], codes)
    for percent in percentages[1:]:
        current = variants_for(percent, codes)
        for code, before, after in zip(codes, previous, current, strict=True):
            assert not (before == "on" and after == "off"), (code, percentages)
        previous = current


def test_the_split_reason_is_reported() -> None:
    result = evaluate(rollout_flag(50), FLAG_KEY, {"targetingKey": CUSTOMER_CODES[0]})
    assert result.reason is Reason.SPLIT


def test_the_bucket_cache_is_bounded_and_agrees_with_the_hash() -> None:
    import mmh3

    from services.platform.flags import flagd_operations

    for n in range(flagd_operations.BUCKET_CACHE_SIZE + 10):
        fractional_bucket(f"cache-test{n}")
    assert len(flagd_operations._BUCKETS) <= flagd_operations.BUCKET_CACHE_SIZE
    value = f"{FLAG_KEY}{CUSTOMER_CODES[0]}"
    assert fractional_bucket(value) == fractional_bucket(value) == abs(mmh3.hash(value.encode())) / (2**31 - 1) * 100
