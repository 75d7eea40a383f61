"""Import and export in flagd's flag-definition format ({"flags": {...}, "$evaluators": {...}}).

Stored definitions stand alone (every service evaluates ``definition_json`` without the document around it),
so shared evaluators are expanded on import and an export writes each flag's targeting in full: the same
flags, though not the same ``$ref`` spelling as the document that brought them in.
"""

from __future__ import annotations

import json
from typing import Any

from services.flags.schemas import FlagRecord
from services.platform.errors import InvalidArgument
from services.platform.flags.documents import dump_document, load_document
from services.platform.flags.engine import FlagDefinition, parse_flag

MAX_DOCUMENT_BYTES = 4 * 1024 * 1024


def load_flags(document_json: str) -> dict[str, dict[str, Any]]:
    """Each flag of a flagd document, checked by the engine, in canonical (self-contained) form."""
    if not document_json.strip():
        raise InvalidArgument.for_field("document_json", 'is required: a flagd document {"flags": {...}}')
    if len(document_json.encode()) > MAX_DOCUMENT_BYTES:
        raise InvalidArgument.for_field("document_json", f"at most {MAX_DOCUMENT_BYTES // (1024 * 1024)} MiB")
    return {key: flag.to_json() for key, flag in load_document(document_json).items()}


def dump_flags(records: list[FlagRecord]) -> str:
    """A flagd document of ``records``. A stored definition the engine no longer accepts is written as stored
    rather than left out: an export loses nothing."""
    compiled: list[FlagDefinition] = []
    as_stored: dict[str, Any] = {}
    for record in records:
        try:
            compiled.append(parse_flag(record.key, record.definition, version=record.version))
        except InvalidArgument:
            as_stored[record.key] = record.definition
    text = dump_document(compiled)
    if not as_stored:
        return text
    document = json.loads(text)
    document["flags"] = dict(sorted({**document["flags"], **as_stored}.items()))
    return json.dumps(document, indent=2, ensure_ascii=False)
