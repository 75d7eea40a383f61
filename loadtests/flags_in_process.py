"""In-process evaluation latency (p50/p99) for a static flag, a targeting rule, a split and the pilot's rule.

``python -m loadtests.flags_in_process`` prints figures; it never fails on timing (a benchmark, not a test).
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from services.platform.flags.documents import pilot_flag
from services.platform.flags.engine import FlagDefinition, evaluate, parse_flag

BOOLEAN = {"state": "ENABLED", "variants": {"on": True, "off": False}, "defaultVariant": "off"}
# name -> (flag key, definition); realistic keys, since the key is part of what a split hashes.
CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "static": ("office-banner", BOOLEAN),
    "targeting": (
        "zone-feature",
        {
            **BOOLEAN,
            "targeting": {
                "if": [
                    {"and": [{"in": [{"var": "zone"}, ["A", "B", "C"]]}, {"==": [{"var": "segment"}, "night_market"]}]},
                    "on",
                    "off",
                ]
            },
        },
    ),
    "split (10 %)": ("new-order-flow", {**BOOLEAN, "targeting": {"fractional": [["on", 10], ["off", 90]]}}),
    "pilot (20 + 10 %)": ("new-platform", pilot_flag([f"{1000000 + n}" for n in range(20)], 10)),
}


def measure(flag: FlagDefinition, contexts: list[dict[str, Any]], rounds: int) -> tuple[float, float]:
    samples: list[int] = []
    clock = time.perf_counter_ns
    for _ in range(rounds):
        for context in contexts:
            started = clock()
            evaluate(flag, flag.key, context, expected_type=bool, default=False)
            samples.append(clock() - started)
    samples.sort()
    return samples[len(samples) // 2] / 1000, samples[int(len(samples) * 0.99)] / 1000


def report(name: str, figures: tuple[float, float]) -> None:
    print(f"  {name:32s} p50 {figures[0]:6.2f}   p99 {figures[1]:6.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()
    contexts = [
        {"targetingKey": f"{1000000 + n:07d}", "zone": "ABCD"[n % 4], "segment": "night_market"}
        for n in range(arguments.customers)
    ]
    print(f"in-process evaluation, {arguments.customers} customers x {arguments.rounds} rounds (microseconds)")
    for name, (key, definition) in CASES.items():
        flag = parse_flag(key, definition)
        if flag.rule is not None and "fractional" in json.dumps(definition):
            # First sight of each customer: the hash is computed (cold), then served from the bucket cache.
            report(f"{name}, first sight", measure(flag, contexts, 1))
        report(name, measure(flag, contexts, arguments.rounds))


if __name__ == "__main__":
    main()
