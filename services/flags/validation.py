"""Flag definitions in, checked: JSON text to a flagd flag definition the evaluation engine accepts."""

from __future__ import annotations

import json
from typing import Any

from services.platform.errors import InvalidArgument
from services.platform.flags.engine import parse_flag

MAX_DEFINITION_BYTES = 256 * 1024


def parse_definition_json(text: str, field: str = "definition_json") -> dict[str, Any]:
    if not text.strip():
        raise InvalidArgument.for_field(field, "is required: a flag definition in flagd's JSON format")
    if len(text.encode()) > MAX_DEFINITION_BYTES:
        raise InvalidArgument.for_field(field, f"at most {MAX_DEFINITION_BYTES // 1024} KiB")
    try:
        value = json.loads(text)
    except ValueError as error:
        raise InvalidArgument.for_field(field, f"is not JSON: {error}") from error
    if not isinstance(value, dict):
        raise InvalidArgument.for_field(field, "must be a JSON object (one flagd flag definition)")
    return value


def check_definition(key: str, definition: dict[str, Any], field: str = "definition_json") -> dict[str, Any]:
    """The definition in the engine's canonical form, if the engine accepts it; InvalidArgument naming each
    field and reason if not. Stored definitions are canonical, so "did it change?" is a dict comparison."""
    return parse_flag(key, definition, field=field).to_json()
