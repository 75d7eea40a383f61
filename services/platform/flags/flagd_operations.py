"""flagd's custom JsonLogic operations: ``fractional`` (deterministic split), ``starts_with``, ``ends_with`` and
``sem_ver``, with flagd's semantics (https://flagd.dev/reference/custom-operations/)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import mmh3

from services.platform.flags.jsonlogic import Compiler, Expr, Handler, Rule, RuleError
from services.platform.flags.semver import SEMVER_OPERATORS, compare_semver, parse_semver

MAX_INT32 = 2**31 - 1


class TargetingKeyMissing(LookupError):
    """``fractional`` without a bucketing expression needs a string ``targetingKey`` in the context."""


class SplitVariant(str):
    """A variant name chosen by ``fractional``: the evaluation reason is SPLIT while it reaches the result as is."""

    __slots__ = ()


FLAGD_OPERATIONS: dict[str, Handler] = {}


def _flagd(*names: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        for name in names:
            FLAGD_OPERATIONS[name] = handler
        return handler

    return register


def _string_test(test: Callable[[str, str], bool]) -> Handler:
    """flagd's ``starts_with``/``ends_with``: false unless both sides are strings."""

    def handler(compiler: Compiler, arguments: Any, path: str) -> Expr:
        value, affix = (item.rule for item in compiler.arguments(arguments, path, minimum=2, maximum=2))

        def string_test(data: Any) -> bool:
            text, part = value(data), affix(data)
            return isinstance(text, str) and isinstance(part, str) and test(text, part)

        return Expr(string_test)

    return handler


FLAGD_OPERATIONS["starts_with"] = _string_test(str.startswith)
FLAGD_OPERATIONS["ends_with"] = _string_test(str.endswith)


@_flagd("sem_ver")
def _sem_ver(compiler: Compiler, arguments: Any, path: str) -> Expr:
    """flagd's ``sem_ver``: false when either side is not a semantic version (as flagd's Go evaluator does)."""
    actual, operator, target = compiler.arguments(arguments, path, minimum=3, maximum=3)
    if operator.constant and operator.value not in SEMVER_OPERATORS:
        raise RuleError(f"{path}[1]", f"unknown operator {operator.value!r}; one of {' '.join(SEMVER_OPERATORS)}")
    if target.constant and parse_semver(target.value) is None:
        raise RuleError(f"{path}[2]", f"{target.value!r} is not a semantic version")
    actual_rule, operator_rule, target_rule = actual.rule, operator.rule, target.rule
    fixed_target = parse_semver(target.value) if target.constant else None

    def sem_ver(data: Any) -> bool:
        version = parse_semver(actual_rule(data))
        comparison = operator_rule(data)
        other = fixed_target if fixed_target is not None else parse_semver(target_rule(data))
        if version is None or other is None or comparison not in SEMVER_OPERATORS:
            return False
        return compare_semver(version, comparison, other)

    return Expr(sem_ver)


# Buckets are a pure function of flag key + customer code, and the same customers come back all day: a bounded
# cache turns hashing and arithmetic (~0.35 µs with mmh3) into a dictionary lookup (~0.15 µs). Cleared whole when full.
_BUCKETS: dict[str, float] = {}
BUCKET_CACHE_SIZE = 32_768


def fractional_bucket(bucketing_value: str) -> float:
    """Where a bucketing value falls in [0, 100]: flagd's |int32(murmur3 x86_32 of its UTF-8)| / MaxInt32 × 100."""
    bucket = _BUCKETS.get(bucketing_value)
    if bucket is None:
        bucket = abs(mmh3.hash(bucketing_value.encode(), 0, signed=True)) / MAX_INT32 * 100
        if len(_BUCKETS) >= BUCKET_CACHE_SIZE:
            _BUCKETS.clear()
        _BUCKETS[bucketing_value] = bucket
    return bucket


@_flagd("fractional")
def _fractional(compiler: Compiler, arguments: Any, path: str) -> Expr:
    """flagd's deterministic split.

    ``{"fractional": [bucketBy?, [variant, weight], ...]}``: bucketBy defaults to flag key + targetingKey. The
    hash's bucket in [0, 100] is compared with cumulative ranges, each variant's range being its weight over the
    total weight. Variants are laid out in the order given, so a rollout that grows the *first* variant's weight
    only extends its range: nobody already in it ever leaves (see ``documents.percentage_rule``).
    """
    items = arguments if isinstance(arguments, list) else [arguments]
    bucket_by: Expr | None = None
    if items and not isinstance(items[0], list):
        bucket_by = compiler.compile(items[0], f"{path}[0]")
        distributions, offset = items[1:], 1
    else:
        distributions, offset = items, 0
    if not distributions:
        raise RuleError(path, "needs at least one [variant, weight] pair")
    variants: list[Expr] = []
    weights: list[int] = []
    for index, distribution in enumerate(distributions, start=offset):
        where = f"{path}[{index}]"
        if not isinstance(distribution, list) or not 1 <= len(distribution) <= 2:
            raise RuleError(where, "must be [variant, weight]")
        # A variant is usually a name; flagd also allows booleans, numbers and a rule computing the name.
        variants.append(compiler.compile(distribution[0], f"{where}[0]"))
        weight = distribution[1] if len(distribution) == 2 else 1
        if (
            isinstance(weight, bool)
            or not isinstance(weight, int | float)
            or weight < 0
            or weight != int(weight)
            or weight > MAX_INT32
        ):
            raise RuleError(f"{where}[1]", "a weight is a whole number from 0 to 2147483647")
        weights.append(int(weight))
    total = sum(weights)
    if total <= 0 or total > MAX_INT32:
        raise RuleError(path, "the weights must add up to more than 0 and at most 2147483647")
    # The same float arithmetic as flagd's evaluators, in the same order, so edges agree to the last bit.
    ranges: list[tuple[float, Any, Rule | None]] = []
    range_end = 0.0
    for variant, weight in zip(variants, weights, strict=True):
        range_end += weight * 100 / total
        if variant.constant:
            chosen = SplitVariant(variant.value) if isinstance(variant.value, str) else variant.value
            ranges.append((range_end, chosen, None))
        else:
            ranges.append((range_end, None, variant.rule))
    flag_key = compiler.flag_key
    bucket_rule = bucket_by.rule if bucket_by is not None else None

    def fractional(data: Any) -> Any:
        key: Any = None
        if bucket_rule is not None:
            key = bucket_rule(data)
            if key is not None and not isinstance(key, str):
                return None
        if key is None:
            try:
                targeting_key = data["targetingKey"]
            except (KeyError, TypeError):
                targeting_key = None
            if not isinstance(targeting_key, str) or not targeting_key:
                raise TargetingKeyMissing("fractional needs a targetingKey (or a bucketing expression)")
            key = flag_key + targeting_key
        bucket = fractional_bucket(key)
        for end, variant, computed in ranges:
            if bucket < end:
                if computed is None:
                    return variant
                value = computed(data)
                return SplitVariant(value) if isinstance(value, str) else value
        return None  # only |int32 min| lands past 100: flagd answers no variant too

    return Expr(fractional)
