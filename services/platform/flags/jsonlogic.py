"""JsonLogic compiled once into a tree of closures, so a targeting rule runs without re-reading its JSON.

The compiler and the standard operations flag targeting uses (json-logic-js semantics: JavaScript truthiness and
coercions); flagd's own operations are in ``flagd_operations`` and ``targeting.compile_rule`` puts both together.
Compile errors name the path inside the rule.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from services.platform.flags.javascript import (
    less,
    less_or_equal,
    loose_equals,
    strict_equals,
    to_number,
    to_string,
    truthy,
)

Rule = Callable[[Any], Any]
"""A compiled rule: data (the evaluation context) in, JSON value out."""


class RuleError(ValueError):
    """A rule that cannot be compiled; ``path`` says where inside the rule."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Expr:
    """A compiled node: its closure, and its value when it is a constant."""

    rule: Rule
    constant: bool = False
    value: Any = None


def const(value: Any) -> Expr:
    """A value known at compile time (lets operations precompute, e.g. a set for a literal list)."""
    return Expr(lambda _data: value, True, value)


class Compiler:
    """Compiles one rule for one flag with a table of operations (name to handler)."""

    def __init__(self, flag_key: str, operations: Mapping[str, Handler]) -> None:
        self.flag_key = flag_key
        self.operations = operations
        self.uses_flagd_properties = False

    # Entry point: one node of the rule at ``path``.
    def compile(self, node: Any, path: str) -> Expr:
        if isinstance(node, dict):
            if len(node) != 1:
                raise RuleError(path, f"an operation is an object with exactly one key, got {len(node)}")
            ((operator, arguments),) = node.items()
            if operator == "$ref":
                raise RuleError(f"{path}.$ref", f"unknown shared evaluator {arguments!r}")
            handler = self.operations.get(operator)
            if handler is None:
                raise RuleError(f"{path}.{operator}", "unknown operation")
            return handler(self, arguments, f"{path}.{operator}")
        if isinstance(node, list):
            items = [self.compile(item, f"{path}[{index}]") for index, item in enumerate(node)]
            if all(item.constant for item in items):
                return const([item.value for item in items])
            rules = [item.rule for item in items]
            return Expr(lambda data: [rule(data) for rule in rules])
        if node is None or isinstance(node, str | int | float | bool):
            return const(node)
        raise RuleError(path, f"not a JSON value: {type(node).__name__}")

    def arguments(self, arguments: Any, path: str, *, minimum: int = 0, maximum: int | None = None) -> list[Expr]:
        """JsonLogic allows a single argument without the array: ``{"!": x}`` is ``{"!": [x]}``."""
        items = arguments if isinstance(arguments, list) else [arguments]
        if len(items) < minimum or (maximum is not None and len(items) > maximum):
            expected = f"{minimum}" if maximum == minimum else f"{minimum} to {maximum if maximum is not None else 'n'}"
            raise RuleError(path, f"takes {expected} arguments, got {len(items)}")
        return [self.compile(item, f"{path}[{index}]") for index, item in enumerate(items)]


Handler = Callable[[Compiler, Any, str], Expr]
STANDARD_OPERATIONS: dict[str, Handler] = {}


def operation(*names: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        for name in names:
            STANDARD_OPERATIONS[name] = handler
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


@operation("var")
def _var(compiler: Compiler, arguments: Any, path: str) -> Expr:
    items = arguments if isinstance(arguments, list) else [arguments]
    if len(items) > 2:
        raise RuleError(path, f"takes a path and an optional default, got {len(items)} arguments")
    key = compiler.compile(items[0], f"{path}[0]") if items else const("")
    default = compiler.compile(items[1], f"{path}[1]") if len(items) > 1 else const(None)
    default_rule = default.rule
    if not key.constant:
        compiler.uses_flagd_properties = True  # a computed path may name $flagd

        def dynamic(data: Any) -> Any:
            found = _lookup(data, _path_parts(key.rule(data)))
            return default_rule(data) if found is None else found

        return Expr(dynamic)
    if key.value is not None and not isinstance(key.value, str | int | float):
        raise RuleError(f"{path}[0]", "a path is a string or a number")
    parts = _path_parts(key.value)
    if parts and parts[0] == "$flagd":
        compiler.uses_flagd_properties = True
    if not parts:
        return Expr(lambda data: default_rule(data) if data is None else data)
    if len(parts) == 1 and isinstance(parts[0], str):
        name = parts[0]

        def single(data: Any) -> Any:
            try:
                found = data[name]
            except (KeyError, TypeError, IndexError):
                found = None
            return default_rule(data) if found is None else found

        return Expr(single)

    def nested(data: Any) -> Any:
        found = _lookup(data, parts)
        return default_rule(data) if found is None else found

    return Expr(nested)


@operation("missing")
def _missing(compiler: Compiler, arguments: Any, path: str) -> Expr:
    items = compiler.arguments(arguments, path)

    def missing(data: Any) -> list[Any]:
        keys = [item.rule(data) for item in items]
        if keys and isinstance(keys[0], list):
            keys = keys[0]
        return [key for key in keys if _lookup(data, _path_parts(key)) in (None, "")]

    return Expr(missing)


@operation("missing_some")
def _missing_some(compiler: Compiler, arguments: Any, path: str) -> Expr:
    need, keys = compiler.arguments(arguments, path, minimum=2, maximum=2)

    def missing_some(data: Any) -> list[Any]:
        wanted = keys.rule(data)
        wanted = wanted if isinstance(wanted, list) else [wanted]
        absent = [key for key in wanted if _lookup(data, _path_parts(key)) in (None, "")]
        return [] if len(wanted) - len(absent) >= to_number(need.rule(data)) else absent

    return Expr(missing_some)


@operation("if", "?:")
def _if(compiler: Compiler, arguments: Any, path: str) -> Expr:
    items = [item.rule for item in compiler.arguments(arguments, path)]
    if not items:
        return const(None)
    pairs = [(items[index], items[index + 1]) for index in range(0, len(items) - 1, 2)]
    otherwise = items[-1] if len(items) % 2 else None
    if len(pairs) == 1:
        ((condition, then),) = pairs

        def if_then_else(data: Any) -> Any:
            if truthy(condition(data)):
                return then(data)
            return otherwise(data) if otherwise is not None else None

        return Expr(if_then_else)

    def chain(data: Any) -> Any:
        for condition, then in pairs:
            if truthy(condition(data)):
                return then(data)
        return otherwise(data) if otherwise is not None else None

    return Expr(chain)


def _binary(compare: Callable[[Any, Any], bool]) -> Handler:
    def handler(compiler: Compiler, arguments: Any, path: str) -> Expr:
        left, right = (item.rule for item in compiler.arguments(arguments, path, minimum=2, maximum=2))
        return Expr(lambda data: compare(left(data), right(data)))

    return handler


STANDARD_OPERATIONS["=="] = _binary(loose_equals)
STANDARD_OPERATIONS["==="] = _binary(strict_equals)
STANDARD_OPERATIONS["!="] = _binary(lambda a, b: not loose_equals(a, b))
STANDARD_OPERATIONS["!=="] = _binary(lambda a, b: not strict_equals(a, b))


def _ordering(compare: Callable[[Any, Any], bool]) -> Handler:
    """``<`` and friends; three arguments is the "between" form: ``a < b < c``."""

    def handler(compiler: Compiler, arguments: Any, path: str) -> Expr:
        rules = [item.rule for item in compiler.arguments(arguments, path, minimum=2, maximum=3)]
        if len(rules) == 2:
            left, right = rules
            return Expr(lambda data: compare(left(data), right(data)))
        low, middle, high = rules

        def between(data: Any) -> bool:
            value = middle(data)
            return compare(low(data), value) and compare(value, high(data))

        return Expr(between)

    return handler


STANDARD_OPERATIONS["<"] = _ordering(less)
STANDARD_OPERATIONS["<="] = _ordering(less_or_equal)
STANDARD_OPERATIONS[">"] = _ordering(lambda a, b: less(b, a))
STANDARD_OPERATIONS[">="] = _ordering(lambda a, b: less_or_equal(b, a))


@operation("!")
def _not(compiler: Compiler, arguments: Any, path: str) -> Expr:
    (operand,) = (item.rule for item in compiler.arguments(arguments, path, minimum=1, maximum=1))
    return Expr(lambda data: not truthy(operand(data)))


@operation("!!")
def _double_not(compiler: Compiler, arguments: Any, path: str) -> Expr:
    (operand,) = (item.rule for item in compiler.arguments(arguments, path, minimum=1, maximum=1))
    return Expr(lambda data: truthy(operand(data)))


@operation("and")
def _and(compiler: Compiler, arguments: Any, path: str) -> Expr:
    rules = [item.rule for item in compiler.arguments(arguments, path, minimum=1)]

    def conjunction(data: Any) -> Any:
        value = None
        for rule in rules:
            value = rule(data)
            if not truthy(value):
                return value
        return value

    return Expr(conjunction)


@operation("or")
def _or(compiler: Compiler, arguments: Any, path: str) -> Expr:
    rules = [item.rule for item in compiler.arguments(arguments, path, minimum=1)]

    def disjunction(data: Any) -> Any:
        value = None
        for rule in rules:
            value = rule(data)
            if truthy(value):
                return value
        return value

    return Expr(disjunction)


def _contained(needle: Any, haystack: Any) -> bool:
    if isinstance(haystack, str):
        return to_string(needle) in haystack
    if isinstance(haystack, list | tuple):
        return any(strict_equals(needle, item) for item in haystack)
    return False


@operation("in")
def _in(compiler: Compiler, arguments: Any, path: str) -> Expr:
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

        return Expr(in_list)
    haystack_rule = haystack.rule
    return Expr(lambda data: _contained(needle_rule(data), haystack_rule(data)))


@operation("cat")
def _cat(compiler: Compiler, arguments: Any, path: str) -> Expr:
    rules = [item.rule for item in compiler.arguments(arguments, path)]
    return Expr(lambda data: "".join("" if (v := rule(data)) is None else to_string(v) for rule in rules))


@operation("substr")
def _substr(compiler: Compiler, arguments: Any, path: str) -> Expr:
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

    return Expr(substring)


@operation("merge")
def _merge(compiler: Compiler, arguments: Any, path: str) -> Expr:
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

    return Expr(merge)


def _finite(value: float | int) -> float | int | None:
    return value if isinstance(value, int) or math.isfinite(value) else None


@operation("+")
def _plus(compiler: Compiler, arguments: Any, path: str) -> Expr:
    rules = [item.rule for item in compiler.arguments(arguments, path)]
    return Expr(lambda data: _finite(sum(to_number(rule(data)) for rule in rules)))


@operation("*")
def _times(compiler: Compiler, arguments: Any, path: str) -> Expr:
    rules = [item.rule for item in compiler.arguments(arguments, path, minimum=1)]
    return Expr(lambda data: _finite(math.prod(to_number(rule(data)) for rule in rules)))


@operation("-")
def _minus(compiler: Compiler, arguments: Any, path: str) -> Expr:
    rules = [item.rule for item in compiler.arguments(arguments, path, minimum=1, maximum=2)]
    if len(rules) == 1:
        (operand,) = rules
        return Expr(lambda data: _finite(-to_number(operand(data))))
    left, right = rules
    return Expr(lambda data: _finite(to_number(left(data)) - to_number(right(data))))


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


STANDARD_OPERATIONS["/"] = _binary(_divide)  # type: ignore[arg-type]
STANDARD_OPERATIONS["%"] = _binary(_remainder)  # type: ignore[arg-type]


def _extreme(pick: Callable[..., Any]) -> Handler:
    def handler(compiler: Compiler, arguments: Any, path: str) -> Expr:
        rules = [item.rule for item in compiler.arguments(arguments, path)]

        def extreme(data: Any) -> Any:
            values = [to_number(rule(data)) for rule in rules]
            if not values or any(value != value for value in values):
                return None
            return pick(values)

        return Expr(extreme)

    return handler


STANDARD_OPERATIONS["min"] = _extreme(min)
STANDARD_OPERATIONS["max"] = _extreme(max)


def _iteration(name: str) -> Handler:
    """``some``/``all``/``none``/``map``/``filter``: the inner rule sees each item as its data."""

    def handler(compiler: Compiler, arguments: Any, path: str) -> Expr:
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

        return Expr(iterate)

    return handler


for _name in ("some", "all", "none", "map", "filter"):
    STANDARD_OPERATIONS[_name] = _iteration(_name)


@operation("reduce")
def _reduce(compiler: Compiler, arguments: Any, path: str) -> Expr:
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

    return Expr(reduce)
