"""Remote evaluation from the in-memory copy: EvaluateFlag and EvaluateAll, in OpenFeature's vocabulary."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.flags.catalogue import FlagCatalogue


@dataclass(frozen=True)
class Outcome:
    flag_key: str
    value: Any
    variant: str
    reason: str
    error_code: str = ""
    error_message: str = ""
    flag_version: int = 0


def evaluate(catalogue: FlagCatalogue, key: str, context: dict[str, Any]) -> Outcome:
    """Placeholder until the engine lands."""
    record = catalogue.get(key)
    if record is None:
        return Outcome(key, None, "", "ERROR", "FLAG_NOT_FOUND", f"flag {key} does not exist")
    if not record.enabled:
        return Outcome(key, None, "", "DISABLED", flag_version=record.version)
    variant = record.definition["defaultVariant"]
    return Outcome(key, record.definition["variants"][variant], variant, "STATIC", flag_version=record.version)


def evaluate_all(catalogue: FlagCatalogue, context: dict[str, Any]) -> tuple[int, list[Outcome]]:
    snapshot = catalogue.snapshot()
    return snapshot.revision, [evaluate(catalogue, record.key, context) for record in snapshot.flags]
