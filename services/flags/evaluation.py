"""Remote evaluation from the in-memory copy (EvaluateFlag, EvaluateAll), for clients that cannot run the engine."""

from __future__ import annotations

from typing import Any

from services.flags.catalogue import FlagCatalogue
from services.platform.flags.engine import ErrorCode, Evaluation, Reason, evaluate


def evaluate_flag(catalogue: FlagCatalogue, key: str, context: dict[str, Any]) -> Evaluation:
    """Never raises: an unknown or deleted flag is FLAG_NOT_FOUND, a stored definition the engine no longer
    accepts is PARSE_ERROR. The value is unset when DISABLED or ERROR: the caller uses its code default."""
    compiled = catalogue.compiled(key)
    if isinstance(compiled, str):
        record = catalogue.get(key)
        version = record.version if record else 0
        return Evaluation(key, None, None, Reason.ERROR, ErrorCode.PARSE_ERROR, compiled, version)
    return evaluate(compiled, key, context)


def evaluate_all(catalogue: FlagCatalogue, context: dict[str, Any]) -> tuple[int, list[Evaluation]]:
    """Every live flag for one context, by key, and the revision they were evaluated at."""
    revision, keys = catalogue.revision, catalogue.keys()
    return revision, [evaluate_flag(catalogue, key, context) for key in keys]
