"""Our flag engine beside flagd's own Python in-process evaluator, on the same flags and the same contexts.

``python -m loadtests.compare_flagd`` loads one flagd document into both OpenFeature providers: ours
(``InProcessFlagProvider`` over a ``FlagStore``) and ``FlagdProvider`` from openfeature-provider-flagd in file mode
(its in-process resolver, which evaluates with openfeature-flagd-core: panzi-json-logic plus flagd's custom
operations). It evaluates every flag for every generated context through each provider's ``resolve_*_details``,
compares the answers, and times each evaluation. It prints, per flag and in total: how many answers are identical
(value, variant, reason and error code), how many give the same value with other details, how many give another
value, an example of each difference, and p50/p99 latency per evaluation for both.

A benchmark, not a test: it fails on nothing it measures. The bench dependency group installs the flagd provider
(``uv sync --all-groups``, as ``make install`` does). docs/flags-engine.md records a run and the decision.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import random
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import mmh3
from openfeature import api
from openfeature.contrib.provider.flagd import FlagdProvider
from openfeature.contrib.provider.flagd.config import ResolverType
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import OpenFeatureError
from openfeature.flag_evaluation import FlagResolutionDetails
from openfeature.provider import AbstractProvider

from services.platform.clock import utc_now
from services.platform.flags.documents import load_document, percentage_rule, pilot_flag, time_window_rule
from services.platform.flags.local import FlagChange, FlagStore
from services.platform.flags.provider import InProcessFlagProvider

BOOLEAN = {"state": "ENABLED", "variants": {"on": True, "off": False}, "defaultVariant": "off"}
COHORT = ("1000001", "1000002", "1000003", "1000012", "1000013")
ROLLOUT_COHORT = tuple(f"{1000000 + n}" for n in range(1, 21))
ZONES = ("A", "B", "C", "D", "E", "F")
SEGMENTS = ("ordinary", "night_market", "school", "market", "food_truck", "banquet_caterer")
VEHICLES = ("car", "truck", "motorcycle", "either")
APP_VERSIONS = ("2.3.1", "2.4.0", "2.10.0", "v2.4.1", "2.4", "3", "3.0.0-beta.1", "1.9.9", "latest", "")


def document(now: datetime) -> dict[str, Any]:
    """The flags compared: the pilot's (as documents.py builds them) and one of each kind of rule and value."""

    def boolean(targeting: Any, *, state: str = "ENABLED") -> dict[str, Any]:
        return {**BOOLEAN, "state": state, "targeting": targeting}

    flags: dict[str, Any] = {
        "office-banner": {**BOOLEAN, "defaultVariant": "on"},
        "maintenance-mode": {**BOOLEAN, "state": "DISABLED"},
        "new-platform": pilot_flag(COHORT),
        "new-platform-rollout": pilot_flag(ROLLOUT_COHORT, 10),
        "new-order-flow": boolean(percentage_rule(50)),
        "fine-rollout": boolean(percentage_rule(0.25)),
        "zone-feature": boolean(
            {"if": [{"and": [{"in": [{"var": "zone"}, ["A", "B", "C"]]}, {"$ref": "night-market"}]}, "on", "off"]}
        ),
        "taitung-landline": boolean({"if": [{"starts_with": [{"var": "phone"}, "089"]}, "on", "off"]}),
        "code-ends-in-7": boolean({"if": [{"ends_with": [{"var": "targetingKey"}, "7"]}, "on", "off"]}),
        "driver-app-v2": boolean({"if": [{"sem_ver": [{"var": "app_version"}, ">=", "2.4.0"]}, "on", "off"]}),
        "driver-app-same-minor": boolean({"if": [{"sem_ver": [{"var": "app_version"}, "~", "2.4.0"]}, "on", "off"]}),
        "heavy-user": boolean({"if": [{">": [{"var": "consumption_kg_per_day"}, 10]}, "on", "off"]}),
        "mid-user": boolean({"if": [{"<=": [4, {"var": "consumption_kg_per_day"}, 12]}, "on", "off"]}),
        "member-or-alert": boolean({"if": [{"or": [{"var": "member"}, {"var": "alert_device"}]}, "on", "off"]}),
        "not-blocked": boolean({"if": [{"!": {"var": "blocked"}}, "on", "off"]}),
        "has-zone": boolean({"if": [{"missing": ["zone"]}, "off", "on"]}),
        "zone-default": boolean({"if": [{"==": [{"var": ["zone", "A"]}, "A"]}, "on", "off"]}),
        "spare-cylinders": boolean({"if": [{">=": [{"+": [{"var": "cylinders"}, 1]}, 4]}, "on", "off"]}),
        "night-market-is-variant": {
            "state": "ENABLED",
            "variants": {"true": True, "false": False},
            "defaultVariant": "false",
            # A rule returning a boolean names the variant "true" or "false".
            "targeting": {"==": [{"var": "segment"}, "night_market"]},
        },
        "delivery-window": boolean(
            {"if": [time_window_rule(now - timedelta(days=1), now + timedelta(days=1)), "on", "off"]}
        ),
        "routing-engine": {
            "state": "ENABLED",
            "variants": {"pyvrp": "pyvrp", "ortools": "ortools"},
            "defaultVariant": "pyvrp",
            "targeting": {
                "if": [
                    {"in": [{"var": "zone"}, ["E", "F"]]},
                    "ortools",
                    {"fractional": [["pyvrp", 90], ["ortools", 10]]},
                ]
            },
        },
        "checkout-copy": {
            "state": "ENABLED",
            "variants": {"a": "先付款再送貨", "b": "送貨後付款", "c": "月結"},
            "defaultVariant": "a",
            "targeting": {
                "fractional": [{"cat": [{"var": "zone"}, "-", {"var": "targetingKey"}]}, ["a"], ["b"], ["c"]]
            },
        },
        "max-stops": {
            "state": "ENABLED",
            "variants": {"car": 40, "motorcycle": 15, "truck": 60},
            "defaultVariant": "car",
            "targeting": {
                "if": [
                    {"==": [{"var": "vehicle"}, "motorcycle"]},
                    "motorcycle",
                    {"==": [{"var": "vehicle"}, "truck"]},
                    "truck",
                    None,
                ]
            },
        },
        "price-multiplier": {
            "state": "ENABLED",
            "variants": {"normal": 1.0, "night": 1.15},
            "defaultVariant": "normal",
            "targeting": {"if": [{"$ref": "night-market"}, "night", "normal"]},
        },
        "receipt-layout": {
            "state": "ENABLED",
            "variants": {"short": {"lines": 3, "qr": False}, "long": {"lines": 12, "qr": True}},
            "defaultVariant": "short",
            "targeting": {"if": [{"in": [{"var": "segment"}, ["school", "banquet_caterer"]]}, "long", "short"]},
        },
    }
    return {"flags": flags, "$evaluators": {"night-market": {"==": [{"var": "segment"}, "night_market"]}}}


# What each flag's value is asked as, and the caller's default.
def kind_of(definition: Mapping[str, Any]) -> tuple[str, Any]:
    value = next(iter(definition["variants"].values()))
    if isinstance(value, bool):
        return "boolean", False
    if isinstance(value, str):
        return "string", "default"
    if isinstance(value, int):
        return "integer", -1
    if isinstance(value, float):
        return "float", -1.0
    return "object", {"default": True}


def contexts(count: int, seed: int) -> list[EvaluationContext]:
    """Customers as the services describe them, with the gaps and odd values real data has."""
    chance = random.Random(seed)  # nosec B311 # reproducible test contexts, nothing secret
    return [customer_context(chance) for _ in range(count)]


def customer_context(chance: random.Random) -> EvaluationContext:
    attributes: dict[str, Any] = {}

    def maybe(name: str, value: Callable[[], Any], *, absent: float = 0.05) -> None:
        if chance.random() >= absent:
            attributes[name] = value()

    maybe("zone", lambda: chance.choice(ZONES))
    maybe("segment", lambda: chance.choice(SEGMENTS))
    maybe("phone", lambda: chance.choice(("089-", "09")) + "".join(chance.choice("0123456789") for _ in range(8)))
    maybe("app_version", lambda: chance.choice(APP_VERSIONS), absent=0.1)
    maybe(
        "consumption_kg_per_day",
        lambda: chance.choice(
            (round(chance.uniform(0, 40), 1), chance.randint(0, 40), str(chance.randint(0, 40)), None)
        ),
    )
    maybe("member", lambda: chance.random() < 0.3, absent=0.2)
    maybe("alert_device", lambda: chance.choice((True, False, 0, 1, "yes", "")), absent=0.2)
    maybe("blocked", lambda: chance.random() < 0.05, absent=0.5)
    maybe("cylinders", lambda: chance.choice((0, 1, 2, 3, 5, 8, "3")))
    maybe("vehicle", lambda: chance.choice(VEHICLES))
    roll = chance.random()
    targeting_key = None if roll < 0.03 else "" if roll < 0.04 else f"{chance.randint(1000001, 1009999)}"
    return EvaluationContext(targeting_key=targeting_key, attributes=attributes)


MAX_INT32 = 2**31 - 1
# The module, not the function of the same name its package exports: its operation table is looked up per evaluation.
flagd_targeting = importlib.import_module("openfeature.contrib.tools.flagd.core.targeting.targeting")


def pre_2026_fractional(data: dict[str, Any], *arguments: Any) -> Any:
    """flagd's ``fractional`` as flagd bucketed until its 2026 change (and as our engine still does), written as an
    operation for flagd's Python evaluator: |int32(murmur3)| / MaxInt32 as a percentage, against each variant's
    cumulative share of the weights. flagd now buckets (uint32(murmur3) x total weight) >> 32 instead."""
    if not arguments:
        return None
    if isinstance(arguments[0], str):
        bucket_by, pairs = arguments[0], arguments[1:]
    else:
        targeting_key = data.get("targetingKey")
        if not targeting_key:
            return None
        bucket_by, pairs = data["$flagd"]["flagKey"] + targeting_key, arguments
    weighted = [(pair[0], pair[1] if len(pair) == 2 else 1) for pair in pairs]
    total = sum(weight for _, weight in weighted)
    bucket = abs(mmh3.hash(bucket_by.encode(), 0, signed=True)) / MAX_INT32 * 100
    range_end = 0.0
    for variant, weight in weighted:
        range_end += weight * 100 / total
        if bucket < range_end:
            return variant
    return None


@contextmanager
def pre_2026_bucketing() -> Iterator[None]:
    """flagd's evaluator with ``pre_2026_fractional`` in place of its own, so that what is left differs otherwise."""
    shipped = flagd_targeting.OPERATORS["fractional"]
    flagd_targeting.OPERATORS["fractional"] = pre_2026_fractional
    try:
        yield
    finally:
        flagd_targeting.OPERATORS["fractional"] = shipped


@dataclass(frozen=True)
class Answer:
    value: Any
    variant: str | None
    reason: str
    error_code: str | None

    @property
    def comparable_value(self) -> tuple[str, str]:
        # True == 1 in Python; compare JSON text so a type change counts as a difference.
        return type(self.value).__name__, json.dumps(self.value, sort_keys=True, ensure_ascii=False)


def answer(details: FlagResolutionDetails[Any]) -> Answer:
    reason = str(getattr(details.reason, "value", details.reason))
    error_code = details.error_code.value if details.error_code is not None else None
    # flagd reports a fractional pick as TARGETING_MATCH; ours names it SPLIT (an OpenFeature reason).
    return Answer(details.value, details.variant, "TARGETING_MATCH" if reason == "SPLIT" else reason, error_code)


def resolver(provider: AbstractProvider, kind: str) -> Callable[[str, Any, EvaluationContext], Any]:
    resolvers: dict[str, Callable[[str, Any, EvaluationContext], Any]] = {
        "boolean": provider.resolve_boolean_details,
        "string": provider.resolve_string_details,
        "integer": provider.resolve_integer_details,
        "float": provider.resolve_float_details,
        "object": provider.resolve_object_details,
    }
    return resolvers[kind]


def ask(
    resolve: Callable[[str, Any, EvaluationContext], Any], key: str, default: Any, context: EvaluationContext
) -> Answer:
    """One evaluation as the OpenFeature client would report it: an exception becomes an ERROR with the default."""
    try:
        return answer(resolve(key, default, context))
    except OpenFeatureError as error:
        return Answer(default, None, "ERROR", error.error_code.value)
    except Exception as error:  # noqa: BLE001 - the client turns any provider exception into GENERAL
        return Answer(default, None, "ERROR", f"GENERAL ({type(error).__name__})")


@dataclass
class FlagResult:
    identical: int = 0
    same_value: int = 0
    other_value: int = 0
    examples: dict[str, tuple[EvaluationContext, Answer, Answer]] = field(default_factory=dict)
    differences: Counter[str] = field(default_factory=Counter)


def describe(context: EvaluationContext) -> str:
    return json.dumps({"targetingKey": context.targeting_key, **context.attributes}, ensure_ascii=False)


def compare(
    flags: Mapping[str, Any], providers: tuple[AbstractProvider, AbstractProvider], generated: list[EvaluationContext]
) -> dict[str, FlagResult]:
    results: dict[str, FlagResult] = {}
    for key, definition in flags.items():
        kind, default = kind_of(definition)
        ours, theirs = (resolver(provider, kind) for provider in providers)
        result = results[key] = FlagResult()
        for context in generated:
            mine, flagd = ask(ours, key, default, context), ask(theirs, key, default, context)
            if mine == flagd and mine.comparable_value == flagd.comparable_value:
                result.identical += 1
                continue
            if mine.comparable_value == flagd.comparable_value:
                result.same_value += 1
                what = f"same value; ours {mine.variant}/{mine.reason}/{mine.error_code}"
                what += f", flagd {flagd.variant}/{flagd.reason}/{flagd.error_code}"
            else:
                result.other_value += 1
                what = f"value: ours {mine.value!r} ({mine.reason}), flagd {flagd.value!r} ({flagd.reason})"
            result.differences[what] += 1
            result.examples.setdefault(what, (context, mine, flagd))
    return results


def percentile(ordered: list[int], fraction: float) -> float:
    """Nearest-rank percentile of ascending nanoseconds, in microseconds."""
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return ordered[rank - 1] / 1000


def time_flag(
    resolve: Callable[[str, Any, EvaluationContext], Any], key: str, default: Any, generated: list[EvaluationContext]
) -> list[int]:
    samples = []
    clock = time.perf_counter_ns
    for context in generated:
        started = clock()
        with suppress(Exception):  # flagd's resolver raises for errors; only the time counts here
            resolve(key, default, context)
        samples.append(clock() - started)
    return samples


def measure(
    flags: Mapping[str, Any],
    providers: tuple[AbstractProvider, AbstractProvider],
    generated: list[EvaluationContext],
    rounds: int,
) -> dict[str, tuple[list[int], list[int]]]:
    """Per flag, (ours, flagd's) nanoseconds per evaluation; the two alternate each round so drift hits both."""
    samples: dict[str, tuple[list[int], list[int]]] = {key: ([], []) for key in flags}
    for _ in range(rounds):
        for key, definition in flags.items():
            kind, default = kind_of(definition)
            for index, provider in enumerate(providers):
                samples[key][index].extend(time_flag(resolver(provider, kind), key, default, generated))
    return samples


def our_provider(flagd_document: Mapping[str, Any]) -> InProcessFlagProvider:
    store = FlagStore()
    parsed = load_document(json.loads(json.dumps(flagd_document)))
    store.replace_all([FlagChange(key, 1, flag) for key, flag in parsed.items()], 1)
    return InProcessFlagProvider(store)


def flagd_provider(flagd_document: Mapping[str, Any], directory: Path) -> FlagdProvider:
    path = directory / "flags.json"
    path.write_text(json.dumps(flagd_document, ensure_ascii=False), "utf-8")
    return FlagdProvider(resolver_type=ResolverType.FILE, offline_flag_source_path=str(path))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contexts", type=int, default=5_000, help="generated evaluation contexts (5,000)")
    parser.add_argument("--rounds", type=int, default=3, help="timed passes over every flag and context (3)")
    parser.add_argument("--seed", type=int, default=12, help="random seed of the contexts (12)")
    parser.add_argument("--examples", action="store_true", help="print one context for each kind of difference")
    arguments = parser.parse_args()
    # flagd's evaluator logs an error (a traceback for a bad version) for each context without a targeting key or
    # with a version it cannot read; silenced, so its figures leave out what a service's log handler would cost.
    logging.getLogger("openfeature.contrib").setLevel(logging.CRITICAL)

    flagd_document = document(utc_now())
    flags = flagd_document["flags"]
    generated = contexts(arguments.contexts, arguments.seed)
    with tempfile.TemporaryDirectory(prefix="compare-flagd-") as directory:
        ours, theirs = our_provider(flagd_document), flagd_provider(flagd_document, Path(directory))
        api.set_provider_and_wait(ours, "luckygas")
        api.set_provider_and_wait(theirs, "flagd")  # reads the file before it returns
        try:
            shipped = compare(flags, (ours, theirs), generated)
            with pre_2026_bucketing():
                legacy = compare(flags, (ours, theirs), generated)
            samples = measure(flags, (ours, theirs), generated, arguments.rounds)
        finally:
            api.clear_providers()

    total = len(flags) * len(generated)
    print(f"{len(flags)} flags x {len(generated)} contexts = {total} answers compared, each through both providers")
    print("identical: same value, variant, reason and error code (our SPLIT counted as flagd's TARGETING_MATCH);")
    print("'old buckets': flagd's evaluator with its pre-2026 fractional bucketing, which ours implements;")
    print(f"latency per evaluation in µs, provider.resolve_*_details, {arguments.rounds} rounds x every context")
    print(
        f"{'flag':24s} {'identical':>9s} {'old buckets':>11s} {'same value':>10s} {'other':>6s}"
        f"   {'ours p50 p99':>13s}   {'flagd p50 p99':>13s}"
    )
    totals = Counter[str]()
    all_ours: list[int] = []
    all_flagd: list[int] = []
    for key, result in shipped.items():
        mine, flagd = (sorted(found) for found in samples[key])
        all_ours += mine
        all_flagd += flagd
        old = legacy[key]
        totals.update(identical=result.identical, legacy=old.identical, same=old.same_value, other=old.other_value)
        print(
            f"{key:24s} {result.identical:9d} {old.identical:11d} {old.same_value:10d} {old.other_value:6d}"
            f"   {percentile(mine, 0.5):6.2f} {percentile(mine, 0.99):6.2f}"
            f"   {percentile(flagd, 0.5):6.2f} {percentile(flagd, 0.99):6.2f}"
        )
    all_ours.sort()
    all_flagd.sort()
    print(
        f"{'all':24s} {totals['identical']:9d} {totals['legacy']:11d} {totals['same']:10d} {totals['other']:6d}"
        f"   {percentile(all_ours, 0.5):6.2f} {percentile(all_ours, 0.99):6.2f}"
        f"   {percentile(all_flagd, 0.5):6.2f} {percentile(all_flagd, 0.99):6.2f}"
    )
    print(f"identical answers: {totals['identical']} of {total} ({totals['identical'] / total:.1%});")
    print(f"  with flagd's pre-2026 bucketing: {totals['legacy']} ({totals['legacy'] / total:.1%})")
    for title, results in (("flagd as shipped", shipped), ("flagd with pre-2026 bucketing", legacy)):
        print(f"differences from {title} (count, flag, what):")
        for key, result in results.items():
            for what, count in result.differences.most_common():
                print(f"  {count:6d}  {key}: {what}")
                if arguments.examples:
                    context, _, _ = result.examples[what]
                    print(f"          e.g. {describe(context)}")


if __name__ == "__main__":
    main()
