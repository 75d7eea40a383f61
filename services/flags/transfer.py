"""Import and export in flagd's flag-definition format ({"flags": {...}, "$evaluators": {...}})."""

from __future__ import annotations

import json
from typing import Any

from services.flags.schemas import FlagRecord, to_json
from services.platform.errors import InvalidArgument


def load_flags(document_json: str) -> dict[str, dict[str, Any]]:
    """Placeholder until the engine's documents module lands."""
    try:
        document = json.loads(document_json)
    except ValueError as error:
        raise InvalidArgument.for_field("document_json", f"is not JSON: {error}") from error
    if not isinstance(document, dict) or not isinstance(document.get("flags"), dict):
        raise InvalidArgument.for_field("document_json", "must be an object with a 'flags' object")
    return dict(document["flags"])


def dump_flags(records: list[FlagRecord]) -> str:
    return to_json({"flags": {record.key: record.definition for record in records}})
