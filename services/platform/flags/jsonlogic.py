"""flagd's JsonLogic dialect compiled once into a tree of closures, so a targeting rule is evaluated without
re-reading its JSON: the JsonLogic operations flag targeting uses plus flagd's ``fractional``, ``starts_with``,
``ends_with`` and ``sem_ver``.

Semantics follow json-logic-js (JavaScript truthiness and coercions) and flagd's custom operations; see
``docs`` of each operation below where they differ. Compile errors name the path inside the rule.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from services.platform.flags.murmur3 import murmur3_32

Rule = Callable[[Any], Any]
"""A compiled rule: data (the evaluation context) in, JSON value out."""

MAX_INT32 = 2**31 - 1


class RuleError(ValueError):
    """A rule that cannot be compiled; ``path`` says where inside the rule."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class TargetingKeyMissing(LookupError):
    """``fractional`` without a bucketing expression needs a string ``targetingKey`` in the context."""


class SplitVariant(str):
    """A variant name chosen by ``fractional``: the evaluation reason is SPLIT while it reaches the result as is."""

    __slots__ = ()


@dataclass
class CompiledRule:
    """A compiled rule and what it needs from the evaluator."""

    rule: Rule
    uses_flagd_properties: bool = False
    """Reads ``$flagd.*``: the evaluator injects ``$flagd.flagKey`` and ``$flagd.timestamp`` into the context."""
    output_variants: dict[str, str] = field(default_factory=dict)
    """Literal variant names the rule can return, and where, for the caller to check against the flag's variants."""


# --- JavaScript semantics --------------------------------------------------------------------------------------


def truthy(value: Any) -> bool:
    """JsonLogic truthiness: JavaScript's, except that an empty array is false."""
    if isinstance(value, dict):
        return True
    if isinstance(value, float) and value != value:  # NaN
        return False
    return bool(value)


def to_number(value: Any) -> float | int:
    """JavaScript's Number(): null is 0, booleans 0/1, strings parsed (NaN when not a number)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return value
    if value is None:
        return 0
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return 0
        try:
            return float(text)
        except ValueError:
            return math.nan
    return math.nan


def to_string(value: Any) -> str:
    """JavaScript's String() for JSON values."""
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value:
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        if value.is_integer() and abs(value) < 1e21:
            return str(int(value))
        return repr(value)
    if isinstance(value, list | tuple):
        return ",".join("" if item is None else to_string(item) for item in value)
    return "[object Object]"


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    return "object"


def strict_equals(a: Any, b: Any) -> bool:
    kind = _kind(a)
    return kind == _kind(b) and (a == b if kind != "null" else True)


def loose_equals(a: Any, b: Any) -> bool:
    """JavaScript's ``==`` for JSON values (objects and arrays compare by content, not identity)."""
    if a is None or b is None:
        return a is None and b is None
    kind_a, kind_b = _kind(a), _kind(b)
    if kind_a == kind_b:
        return bool(a == b)
    if kind_a in ("number", "string", "boolean") and kind_b in ("number", "string", "boolean"):
        return to_number(a) == to_number(b)
    if kind_a == "array" and kind_b != "object":
        return loose_equals(to_string(a), b)
    if kind_b == "array" and kind_a != "object":
        return loose_equals(a, to_string(b))
    return False


def _less(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a < b
    return bool(to_number(a) < to_number(b))


def _less_or_equal(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a <= b
    return bool(to_number(a) <= to_number(b))


# --- semantic versions (flagd's sem_ver) -------------------------------------------------------------------------

_SEMVER = re.compile(
    r"^v?(0|[1-9]\d*)(?:\.(0|[1-9]\d*)(?:\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?"
    r"(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?)?)?$"
)
SEMVER_OPERATORS = ("=", "!=", "<", "<=", ">", ">=", "^", "~")

SemVer = tuple[int, int, int, tuple[tuple[int, int | str], ...] | None]


def parse_semver(text: Any) -> SemVer | None:
    """``1``, ``1.2``, ``v1.2.3-rc.1+build`` (Go's x/mod/semver, which flagd uses, accepts the short forms)."""
    if not isinstance(text, str):
        return None
    match = _SEMVER.match(text)
    if match is None:
        return None
    major, minor, patch, pre = match.groups()
    prerelease = (
        tuple((0, int(part)) if part.isdigit() else (1, part) for part in pre.split(".")) if pre is not None else None
    )
    return int(major), int(minor or 0), int(patch or 0), prerelease


def _semver_order(version: SemVer) -> tuple[Any, ...]:
    major, minor, patch, prerelease = version
    # A release sorts after its pre-releases; identifiers compare numbers below words, then by value.
    return (major, minor, patch, 1, ()) if prerelease is None else (major, minor, patch, 0, prerelease)


def compare_semver(actual: SemVer, operator: str, target: SemVer) -> bool:
    if operator == "^":
        return actual[0] == target[0]
    if operator == "~":
        return actual[:2] == target[:2]
    left, right = _semver_order(actual), _semver_order(target)
    if operator == "=":
        return left == right
    if operator == "!=":
        return left != right
    if operator == "<":
        return left < right
    if operator == "<=":
        return left <= right
    if operator == ">":
        return left > right
    return left >= right


# --- the compiler -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Expr:
    rule: Rule
    constant: bool = False
    value: Any = None


def _const(value: Any) -> _Expr:
    return _Expr(lambda _data: value, True, value)


class _Compiler:
    def __init__(self, flag_key: str) -> None:
        self.flag_key = flag_key
        self.uses_flagd_properties = False

    # Entry point: one node of the rule at ``path``.
    def compile(self, node: Any, path: str) -> _Expr:
        if isinstance(node, dict):
            if len(node) != 1:
                raise RuleError(path, f"an operation is an object with exactly one key, got {len(node)}")
            ((operator, arguments),) = node.items()
            if operator == "$ref":
                raise RuleError(f"{path}.$ref", f"unknown shared evaluator {arguments!r}")
            handler = _OPERATIONS.get(operator)
            if handler is None:
                raise RuleError(f"{path}.{operator}", "unknown operation")
            return handler(self, arguments, f"{path}.{operator}")
        if isinstance(node, list):
            items = [self.compile(item, f"{path}[{index}]") for index, item in enumerate(node)]
            if all(item.constant for item in items):
                return _const([item.value for item in items])
            rules = [item.rule for item in items]
            return _Expr(lambda data: [rule(data) for rule in rules])
        if node is None or isinstance(node, str | int | float | bool):
            return _const(node)
        raise RuleError(path, f"not a JSON value: {type(node).__name__}")

    def arguments(self, arguments: Any, path: str, *, minimum: int = 0, maximum: int | None = None) -> list[_Expr]:
        """JsonLogic allows a single argument without the array: ``{"!": x}`` is ``{"!": [x]}``."""
        items = arguments if isinstance(arguments, list) else [arguments]
        if len(items) < minimum or (maximum is not None and len(items) > maximum):
            expected = f"{minimum}" if maximum == minimum else f"{minimum} to {maximum if maximum is not None else 'n'}"
            raise RuleError(path, f"takes {expected} arguments, got {len(items)}")
        return [self.compile(item, f"{path}[{index}]") for index, item in enumerate(items)]


Handler = Callable[[_Compiler, Any, str], _Expr]
_OPERATIONS: dict[str, Handler] = {}


def _operation(*names: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        for name in names:
            _OPERATIONS[name] = handler
        return handler

    return register


def _lookup(data: Any, parts: Sequence[str | int]) -> Any:
    for part in parts:
        if isinstance(data, Mapping):
            data = data.get(part) if isinstance(part, str) else data.get(str(part))
        elif isinstance(data, list | tuple):
            try:
                data = data[int(part)]
            except (ValueError, IndexError):
                return None
        else:
            return None
        if data is None:
            return None
    return data


def _path_parts(path: Any) -> list[str | int]:
    if isinstance(path, int | float) and not isinstance(path, bool):
        return [int(path)]
    text = to_string(path)
    if text == "":
        return []
    return [int(part) if part.isdigit() else part for part in text.split(".")]


@_operation("var")
def _var(compiler: _Compiler, arguments: Any, path: str) -> _Expr:
    items = arguments if isinstance(arguments, list) else [arguments]
    if len(items) > 2:
        raise RuleError(path, f"takes a path and an optional default, got {len(items)} arguments")
    key = compiler.compile(items[0], f"{path}[0]") if items else _const("")
    default = compiler.compile(items[1], f"{path}[1]") if len(items) > 1 else _const(None)
    default_rule = default.rule
    if not key.constant:
        compiler.uses_flagd_properties = True  # a computed path may name $flagd

        def dynamic(data: Any) -> Any:
            found = _lookup(data, _path_parts(key.rule(data)))
            return default_rule(data) if found is None else found

        return _Expr(dynamic)
    if key.value is not None and not isinstance(key.value, str | int | float):
        raise RuleError(f"{path}[0]", "a path is a string or a number")
    parts = _path_parts(key.value)
    if parts and parts[0] == "$flagd":
        compiler.uses_flagd_properties = True
    if not parts:
        return _Expr(lambda data: default_rule(data) if data is None else data)
    if len(parts) == 1 and isinstance(parts[0], str):
        name = parts[0]

        def single(data: Any) -> Any:
            try:
                found = data[name]
            except (KeyError, TypeError, IndexError):
                found = None
            return default_rule(data) if found is None else found

        return _Expr(single)

    def nested(data: Any) -> Any:
        found = _lookup(data, parts)
        return default_rule(data) if found is None else found

    return _Expr(nested)


@_operation("missing")
def _missing(compiler: _Compiler, arguments: Any, path: str) -> _Expr:
    items = compiler.arguments(arguments, path)

    def missing(data: Any) -> list[Any]:
        keys = [item.rule(data) for item in items]
        if keys and isinstance(keys[0], list):
            keys = keys[0]
        return [key for key in keys if _lookup(data, _path_parts(key)) in (None, "")]

    return _Expr(missing)


@_operation("missing_some")
def _missing_some(compiler: _Compiler, arguments: Any, path: str) -> _Expr:
    need, keys = compiler.arguments(arguments, path, minimum=2, maximum=2)

    def missing_some(data: Any) -> list[Any]:
        wanted = keys.rule(data)
        wanted = wanted if isinstance(wanted, list) else [wanted]
        absent = [key for key in wanted if _lookup(data, _path_parts(key)) in (None, "")]
        return [] if len(wanted) - len(absent) >= to_number(need.rule(data)) else absent

    return _Expr(missing_some)


@_operation("if", "?:")
def _if(compiler: _Compiler, arguments: Any, path: str) -> _Expr:
    items = [item.rule for item in compiler.arguments(arguments, path)]
    if not items:
        return _const(None)
    pairs = [(items[index], items[index + 1]) for index in range(0, len(items) - 1, 2)]
    otherwise = items[-1] if len(items) % 2 else None
    if len(pairs) == 1:
        ((condition, then),) = pairs

        def if_then_else(data: Any) -> Any:
            if truthy(condition(data)):
                return then(data)
            return otherwise(data) if otherwise is not None else None

        return _Expr(if_then_else)

    def chain(data: Any) -> Any:
        for condition, then in pairs:
            if truthy(condition(data)):
                return then(data)
        return otherwise(data) if otherwise is not None else None

    return _Expr(chain)


def _binary(compare: Callable[[Any, Any], bool]) -> Handler:
    def handler(compiler: _Compiler, arguments: Any, path: str) -> _Expr:
        left, right = (item.rule for item in compiler.arguments(arguments, path, minimum=2, maximum=2))
        return _Expr(lambda data: compare(left(data), right(data)))

    return handler


_OPERATIONS["=="] = _binary(loose_equals)
_OPERATIONS["==="] = _binary(strict_equals)
_OPERATIONS["!="] = _binary(lambda a, b: not loose_equals(a, b))
_OPERATIONS["!=="] = _binary(lambda a, b: not strict_equals(a, b))


def _ordering(compare: Callable[[Any, Any], bool]) -> Handler:
    """``<`` and friends; three arguments is the "between" form: ``a < b < c``."""

    def handler(compiler: _Compiler, arguments: Any, path: str) -> _Expr:
        rules = [item.rule for item in compiler.arguments(arguments, path, minimum=2, maximum=3)]
        if len(rules) == 2:
            left, right = rules
            return _Expr(lambda data: compare(left(data), right(data)))
        low, middle, high = rules

        def between(data: Any) -> bool:
            value = middle(data)
            return compare(low(data), value) and compare(value, high(data))

        return _Expr(between)

    return handler


_OPERATIONS["<"] = _ordering(_less)
_OPERATIONS["<="] = _ordering(_less_or_equal)
_OPERATIONS[">"] = _ordering(lambda a, b: _less(b, a))
_OPERATIONS[">="] = _ordering(lambda a, b: _less_or_equal(b, a))


@_operation("!")
def _not(compiler: _Compiler, arguments: Any, path: str) -> _Expr:
    (operand,) = (item.rule for item in compiler.arguments(arguments, path, minimum=1, maximum=1))
    return _Expr(lambda data: not truthy(operand(data)))


@_operation("!!")
def _double_not(compiler: _Compiler, arguments: Any, path: str) -> _Expr:
    (operand,) = (item.rule for item in compiler.arguments(arguments, path, minimum=1, maximum=1))
    return _Expr(lambda data: truthy(operand(data)))


@_operation("and")
def _and(compiler: _Compiler, arguments: Any, path: str) -> _Expr:
    rules = [item.rule for item in compiler.arguments(arguments, path, minimum=1)]

    def conjunction(data: Any) -> Any:
        value = None
        for rule in rules:
            value = rule(data)
            if not truthy(value):
                return value
        return value

    return _Expr(conjunction)


@_operation("or")
def _or(compiler: _Compiler, arguments: Any, path: str) -> _Expr:
    rules = [item.rule for item in compiler.arguments(arguments, path, minimum=1)]

    def disjunction(data: Any) -> Any:
        value = None
        for rule in rules:
            value = rule(data)
            if truthy(value):
                return value
        return value

    return _Expr(disjunction)


def _contained(needle: Any, haystack: Any) -> bool:
    if isinstance(haystack, str):
        return to_string(needle) in haystack
    if isinstance(haystack, list | tuple):
        return any(strict_equals(needle, item) for item in haystack)
    return False


@_operation("in")
def _in(compiler: _Compiler, arguments: Any, path: str) -> _Expr:
    needle, haystack = compiler.arguments(arguments, path, minimum=2, maximum=2)
    needle_rule = needle.rule
    if haystack.constant and isinstance(haystack.value, list):
        # Pilot cohorts are long literal lists of customer codes: a set makes membership O(1).
        items = haystack.value
        strings = frozenset(item for item in items if isinstance(item, str))
        others = [item for item in items if not isinstance(item, str)]

        def in_list(data: Any) -> bool:
            value = needle_rule(data)
            if isinstance(value, str):
                return value in strings
            return any(strict_equals(value, item) for item in others)

        return _Expr(in_list)
    haystack_rule = haystack.rule
    return _Expr(lambda data: _contained(needle_rule(data), haystack_rule(data)))


@_operation("cat")
def _cat(compiler: _Compiler, arguments: Any, path: str) -> _Expr:
    rules = [item.rule for item in compiler.arguments(arguments, path)]
    return _Expr(lambda data: "".join("" if (v := rule(data)) is None else to_string(v) for rule in rules))


@_operation("substr")
def _substr(compiler: _Compiler, arguments: Any, path: str) -> _Expr:
    rules = [item.rule for item in compiler.arguments(arguments, path, minimum=2, maximum=3)]

    def substring(data: Any) -> str:
        text = to_string(rules[0](data))
        start = int(to_number(rules[1](data)) or 0)
        begin = max(len(text) + start, 0) if start < 0 else start
        rest = text[begin:]
        if len(rules) == 2:
            return rest
        length = int(to_number(rules[2](data)) or 0)
        return rest[: max(len(rest) + length, 0)] if length < 0 else rest[:length]

    return _Expr(substring)


@_operation("merge")
def _merge(compiler: _Compiler, arguments: Any, path: str) -> _Expr:
    rules = [item.rule for item in compiler.arguments(arguments, path)]

    def merge(data: Any) -> list[Any]:
        merged: list[Any] = []
        for rule in rules:
            value = rule(data)
            if isinstance(value, list | tuple):
                merged.extend(value)
            else:
                merged.append(value)
        return merged

    return _Expr(merge)


def _finite(value: float | int) -> float | int | None:
    return value if isinstance(value, int) or math.isfinite(value) else None


@_operation("+")
def _plus(compiler: _Compiler, arguments: Any, path: str) -> _Expr:
    rules = [item.rule for item in compiler.arguments(arguments, path)]
    return _Expr(lambda data: _finite(sum(to_number(rule(data)) for rule in rules)))


@_operation("*")
def _times(compiler: _Compiler, arguments: Any, path: str) -> _Expr:
    rules = [item.rule for item in compiler.arguments(arguments, path, minimum=1)]
    return _Expr(lambda data: _finite(math.prod(to_number(rule(data)) for rule in rules)))


@_operation("-")
def _minus(compiler: _Compiler, arguments: Any, path: str) -> _Expr:
    rules = [item.rule for item in compiler.arguments(arguments, path, minimum=1, maximum=2)]
    if len(rules) == 1:
        (operand,) = rules
        return _Expr(lambda data: _finite(-to_number(operand(data))))
    left, right = rules
    return _Expr(lambda data: _finite(to_number(left(data)) - to_number(right(data))))


def _divide(a: Any, b: Any) -> float | int | None:
    divisor = to_number(b)
    if divisor == 0 or divisor != divisor:
        return None  # JavaScript gives Infinity or NaN, which JSON cannot carry
    return _finite(to_number(a) / divisor)


def _remainder(a: Any, b: Any) -> float | int | None:
    divisor, dividend = to_number(b), to_number(a)
    if divisor == 0 or divisor != divisor or dividend != dividend:
        return None
    if isinstance(dividend, int) and isinstance(divisor, int):
        return int(math.fmod(dividend, divisor))
    return _finite(math.fmod(dividend, divisor))  # JavaScript's %: the sign of the dividend


_OPERATIONS["/"] = _binary(_divide)  # type: ignore[arg-type]
_OPERATIONS["%"] = _binary(_remainder)  # type: ignore[arg-type]


def _extreme(pick: Callable[..., Any]) -> Handler:
    def handler(compiler: _Compiler, arguments: Any, path: str) -> _Expr:
        rules = [item.rule for item in compiler.arguments(arguments, path)]

        def extreme(data: Any) -> Any:
            values = [to_number(rule(data)) for rule in rules]
            if not values or any(value != value for value in values):
                return None
            return pick(values)

        return _Expr(extreme)

    return handler


_OPERATIONS["min"] = _extreme(min)
_OPERATIONS["max"] = _extreme(max)


def _iteration(name: str) -> Handler:
    """``some``/``all``/``none``/``map``/``filter``: the inner rule sees each item as its data."""

    def handler(compiler: _Compiler, arguments: Any, path: str) -> _Expr:
        items = arguments if isinstance(arguments, list) else [arguments]
        if len(items) != 2:
            raise RuleError(path, f"takes an array and a rule, got {len(items)} arguments")
        source = compiler.compile(items[0], f"{path}[0]").rule
        inner = compiler.compile(items[1], f"{path}[1]").rule

        def iterate(data: Any) -> Any:
            values = source(data)
            values = values if isinstance(values, list | tuple) else []
            if name == "some":
                return any(truthy(inner(value)) for value in values)
            if name == "all":
                return bool(values) and all(truthy(inner(value)) for value in values)
            if name == "none":
                return not any(truthy(inner(value)) for value in values)
            if name == "map":
                return [inner(value) for value in values]
            return [value for value in values if truthy(inner(value))]

        return _Expr(iterate)

    return handler


for _name in ("some", "all", "none", "map", "filter"):
    _OPERATIONS[_name] = _iteration(_name)


@_operation("reduce")
def _reduce(compiler: _Compiler, arguments: Any, path: str) -> _Expr:
    items = arguments if isinstance(arguments, list) else [arguments]
    if len(items) not in (2, 3):
        raise RuleError(path, f"takes an array, a rule and an initial value, got {len(items)} arguments")
    source = compiler.compile(items[0], f"{path}[0]").rule
    inner = compiler.compile(items[1], f"{path}[1]").rule
    initial = compiler.compile(items[2], f"{path}[2]").rule if len(items) == 3 else (lambda _data: None)

    def reduce(data: Any) -> Any:
        values = source(data)
        accumulator = initial(data)
        for value in values if isinstance(values, list | tuple) else []:
            accumulator = inner({"current": value, "accumulator": accumulator})
        return accumulator

    return _Expr(reduce)


def _string_test(test: Callable[[str, str], bool]) -> Handler:
    """flagd's ``starts_with``/``ends_with``: false unless both sides are strings."""

    def handler(compiler: _Compiler, arguments: Any, path: str) -> _Expr:
        value, affix = (item.rule for item in compiler.arguments(arguments, path, minimum=2, maximum=2))

        def string_test(data: Any) -> bool:
            text, part = value(data), affix(data)
            return isinstance(text, str) and isinstance(part, str) and test(text, part)

        return _Expr(string_test)

    return handler


_OPERATIONS["starts_with"] = _string_test(str.startswith)
_OPERATIONS["ends_with"] = _string_test(str.endswith)


@_operation("sem_ver")
def _sem_ver(compiler: _Compiler, arguments: Any, path: str) -> _Expr:
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

    return _Expr(sem_ver)


# Buckets are a pure function of flag key + customer code, and the same customers come back all day: a bounded
# cache turns the pure-Python hash (~2 µs) into a dictionary lookup. Cleared whole when full (cheap, rare).
_BUCKETS: dict[str, float] = {}
BUCKET_CACHE_SIZE = 32_768


def fractional_bucket(bucketing_value: str) -> float:
    """Where a bucketing value falls in [0, 100]: flagd's |int32(murmur3)| / MaxInt32 × 100."""
    bucket = _BUCKETS.get(bucketing_value)
    if bucket is None:
        hashed = murmur3_32(bucketing_value.encode())
        signed = hashed - 0x100000000 if hashed & 0x80000000 else hashed
        bucket = abs(signed) / MAX_INT32 * 100
        if len(_BUCKETS) >= BUCKET_CACHE_SIZE:
            _BUCKETS.clear()
        _BUCKETS[bucketing_value] = bucket
    return bucket


@_operation("fractional")
def _fractional(compiler: _Compiler, arguments: Any, path: str) -> _Expr:
    """flagd's deterministic split.

    ``{"fractional": [bucketBy?, [variant, weight], ...]}``: bucketBy defaults to flag key + targetingKey. The
    hash's bucket in [0, 100] is compared with cumulative ranges, each variant's range being its weight over the
    total weight. Variants are laid out in the order given, so a rollout that grows the *first* variant's weight
    only extends its range: nobody already in it ever leaves (see ``documents.percentage_rule``).
    """
    items = arguments if isinstance(arguments, list) else [arguments]
    bucket_by: _Expr | None = None
    if items and not isinstance(items[0], list):
        bucket_by = compiler.compile(items[0], f"{path}[0]")
        distributions, offset = items[1:], 1
    else:
        distributions, offset = items, 0
    if not distributions:
        raise RuleError(path, "needs at least one [variant, weight] pair")
    variants: list[_Expr] = []
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

    return _Expr(fractional)


def _outputs(rule: Any, path: str, found: dict[str, str]) -> None:
    """Literal variant names a rule can return: literal results, ``if`` branches and ``fractional`` variants."""
    if isinstance(rule, str):
        found.setdefault(rule, path)
    elif isinstance(rule, dict) and len(rule) == 1:
        ((operator, arguments),) = rule.items()
        items = arguments if isinstance(arguments, list) else [arguments]
        if operator in ("if", "?:"):
            for index in [*range(1, len(items), 2), *([len(items) - 1] if len(items) % 2 else [])]:
                _outputs(items[index], f"{path}.{operator}[{index}]", found)
        elif operator == "fractional":
            offset = 0 if items and isinstance(items[0], list) else 1
            for index, distribution in enumerate(items[offset:], start=offset):
                if isinstance(distribution, list) and distribution and isinstance(distribution[0], str):
                    found.setdefault(distribution[0], f"{path}.fractional[{index}][0]")


def compile_rule(rule: Any, *, flag_key: str, path: str = "targeting") -> CompiledRule:
    """Compile a JsonLogic rule; RuleError names the first problem's path."""
    compiler = _Compiler(flag_key)
    expr = compiler.compile(rule, path)
    outputs: dict[str, str] = {}
    _outputs(rule, path, outputs)
    return CompiledRule(
        rule=expr.rule,
        uses_flagd_properties=compiler.uses_flagd_properties,
        output_variants=outputs,
    )
