"""JavaScript's value semantics for JSON values, as json-logic-js applies them: truthiness, Number(), String(),
``==``/``===`` and ordering. flagd's rules were written against these, so they must mean the same here."""

from __future__ import annotations

import math
from typing import Any


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


def less(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a < b
    return bool(to_number(a) < to_number(b))


def less_or_equal(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a <= b
    return bool(to_number(a) <= to_number(b))
