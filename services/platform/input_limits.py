"""What every input must be, whatever its own rules say, so that no value can reach a 5xx.

The gateway checks REST bodies against these (services/gateway/schemas.py); every gRPC service checks each request
message against them before its handler runs (``PlatformInterceptor``), because a service is reachable from
inside the cluster without the gateway. A service's own rules (a quantity from 1 to 100, a code of 7 digits) come
after, in its validation module.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from services.platform.errors import FieldViolation

# The contracts carry 32-bit integers (protobuf int32) wherever a REST client sends a number.
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
# No quantity, price, coordinate or time budget of this business comes near a billion; past it is a mistake.
FLOAT_LIMIT = 1e9
# C0 control characters and DEL (Postgres text has no room for NUL); tab, line feed and carriage return are text.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Free-form JSON (flag definitions, evaluation contexts) deeper than this is no flag anyone writes.
MAX_NESTING = 32
# Longer than any text the platform keeps (notes are 2,000); a service's own rules are usually tighter.
MAX_TEXT_LENGTH = 5000

CONTROL_CHARACTER_REASON = "must not contain control characters (such as NUL)"
FLOAT_REASON = f"must be a finite number between -{FLOAT_LIMIT:g} and {FLOAT_LIMIT:g}"
NESTING_REASON = f"must not nest deeper than {MAX_NESTING} levels"
TEXT_LENGTH_REASON = f"must be at most {MAX_TEXT_LENGTH} characters long"

_TIMESTAMP_RANGE = (
    int(datetime(1, 1, 1, tzinfo=UTC).timestamp()),
    int(datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp()),
)
_FLOATING = (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT)


def text_problem(value: str) -> str | None:
    """Why this text cannot be taken, or None."""
    if CONTROL_CHARACTERS.search(value):
        return CONTROL_CHARACTER_REASON
    if len(value) > MAX_TEXT_LENGTH:
        return TEXT_LENGTH_REASON
    return None


def float_problem(value: float) -> str | None:
    return None if math.isfinite(value) and abs(value) <= FLOAT_LIMIT else FLOAT_REASON


def message_violations(message: Message) -> list[FieldViolation]:
    """Every text, number and timestamp in a request message (nested messages, lists, maps and free-form JSON
    included) that no service can take, each named by its path in the message, e.g. ``items[0].note``."""
    found: list[FieldViolation] = []
    _walk_message(message, "", 0, found)
    return found


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _walk_message(message: Message, path: str, depth: int, found: list[FieldViolation]) -> None:
    if depth > MAX_NESTING:
        found.append(FieldViolation(path or "request", NESTING_REASON))
        return
    full_name = message.DESCRIPTOR.full_name
    if full_name == "google.protobuf.Struct":
        for key, item in message.fields.items():  # type: ignore[attr-defined]
            _walk_json_key(key, path, found)
            _walk_json_value(item, _join(path, key), depth + 1, found)
        return
    if full_name == "google.protobuf.Value":
        _walk_json_value(message, path, depth, found)
        return
    if full_name == "google.protobuf.Timestamp":
        seconds, nanos = message.seconds, message.nanos  # type: ignore[attr-defined]
        if not (_TIMESTAMP_RANGE[0] <= seconds <= _TIMESTAMP_RANGE[1] and 0 <= nanos < 1_000_000_000):
            found.append(FieldViolation(path or "request", "must be a time between the years 1 and 9999"))
        return
    for field, value in message.ListFields():
        name = _join(path, field.name)
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            for key, item in value.items():
                if isinstance(key, str) and (reason := text_problem(key)):
                    found.append(FieldViolation(f"{name}[{key!r}]", f"the key {reason}"))
                _walk_value(value_field, item, f"{name}[{key}]", depth + 1, found)
        elif field.is_repeated:
            for index, item in enumerate(value):
                _walk_value(field, item, f"{name}[{index}]", depth + 1, found)
        else:
            _walk_value(field, value, name, depth + 1, found)


def _walk_value(field: FieldDescriptor, value: object, path: str, depth: int, found: list[FieldViolation]) -> None:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        _walk_message(value, path, depth, found)  # type: ignore[arg-type]
    elif field.type == FieldDescriptor.TYPE_STRING:
        if reason := text_problem(value):  # type: ignore[arg-type]
            found.append(FieldViolation(path, reason))
    elif field.type in _FLOATING and (reason := float_problem(value)):  # type: ignore[arg-type]
        found.append(FieldViolation(path, reason))


def _walk_json_key(key: str, path: str, found: list[FieldViolation]) -> None:
    if reason := text_problem(key):
        found.append(FieldViolation(_join(path, repr(key)), f"the key {reason}"))


def _walk_json_value(value: Message, path: str, depth: int, found: list[FieldViolation]) -> None:
    if depth > MAX_NESTING:
        found.append(FieldViolation(path or "request", NESTING_REASON))
        return
    kind = value.WhichOneof("kind")
    if kind == "struct_value":
        _walk_message(value.struct_value, path, depth, found)  # type: ignore[attr-defined]
    elif kind == "list_value":
        for index, item in enumerate(value.list_value.values):  # type: ignore[attr-defined]
            _walk_json_value(item, f"{path}[{index}]", depth + 1, found)
    else:
        reason = (
            float_problem(value.number_value)  # type: ignore[attr-defined]
            if kind == "number_value"
            else text_problem(value.string_value)  # type: ignore[attr-defined]
            if kind == "string_value"
            else None
        )
        if reason:
            found.append(FieldViolation(path, reason))
