"""flagd flag-definition documents in and out, and the targeting rules the pilot uses, built rather than hand-written.

A document is ``{"$schema": ..., "flags": {key: definition}, "$evaluators": {name: rule}, "metadata": {...}}``.
Shared evaluators are expanded into each flag on import (every flag stands alone afterwards) and remembered,
so an export can write them back as ``$ref`` when the flags still agree on them.

Pilot rollout convention: every rule built here lists the "on" variant *first* in ``fractional``. flagd lays
variants out in order over [0, 100], so "on" owns [0, p): raising p only appends to it, and a customer who
was in at 10 % is still in at 50 % and 100 % (``tests/platform/flags/test_fractional.py`` checks it).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.platform.errors import FieldViolation, InvalidArgument
from services.platform.flags.engine import FlagDefinition, parse_flag, thaw

SCHEMA_URL = "https://flagd.dev/schema/v0/flags.json"
DOCUMENT_FIELDS = frozenset({"$schema", "flags", "$evaluators", "metadata"})
TARGETING_KEY = {"var": "targetingKey"}
TIMESTAMP = {"var": "$flagd.timestamp"}


def load_document(text: str | bytes | Mapping[str, Any], *, field: str = "document_json") -> dict[str, FlagDefinition]:
    """Every flag of a flagd document, checked; InvalidArgument lists every problem in every flag."""
    if isinstance(text, Mapping):
        document: Any = text
    else:
        try:
            document = json.loads(text)
        except ValueError as error:
            raise InvalidArgument.for_field(field, f"is not JSON: {error}") from error
    if not isinstance(document, Mapping):
        raise InvalidArgument.for_field(field, 'must be a JSON object: {"flags": {...}}')
    violations: list[FieldViolation] = [
        FieldViolation(f"{field}.{unknown}", f"unknown field; a document has {', '.join(sorted(DOCUMENT_FIELDS))}")
        for unknown in sorted(set(document) - DOCUMENT_FIELDS)
    ]
    flags = document.get("flags")
    if not isinstance(flags, Mapping):
        violations.append(FieldViolation(f"{field}.flags", "is required: an object of flag key to definition"))
        flags = {}
    evaluators = document.get("$evaluators", {})
    if not isinstance(evaluators, Mapping) or not all(isinstance(rule, Mapping) for rule in evaluators.values()):
        violations.append(FieldViolation(f"{field}.$evaluators", "must be an object of name to JsonLogic rule"))
        evaluators = {}
    parsed: dict[str, FlagDefinition] = {}
    for key, definition in flags.items():
        try:
            parsed[key] = parse_flag(key, definition, evaluators=evaluators, field=f"{field}.flags.{key}")
        except InvalidArgument as error:
            violations.extend(error.violations or [FieldViolation(f"{field}.flags.{key}", error.message)])
    if violations:
        raise InvalidArgument.from_violations(violations)
    return parsed


def dump_document(flags: Mapping[str, FlagDefinition] | Iterable[FlagDefinition], *, indent: int | None = 2) -> str:
    """A flagd document of ``flags`` (sorted by key) that ``load_document`` reads back to the same flags.

    A flag keeps its ``$ref``s when every flag that uses an evaluator name agrees on its body; otherwise that
    flag is written expanded.
    """
    definitions = sorted(flags.values() if isinstance(flags, Mapping) else flags, key=lambda flag: flag.key)
    bodies: dict[str, list[Any]] = {}
    for flag in definitions:
        for name, body in flag.evaluators.items():
            bodies.setdefault(name, []).append(thaw(body))
    agreed = {name: found[0] for name, found in bodies.items() if all(body == found[0] for body in found)}
    document: dict[str, Any] = {"$schema": SCHEMA_URL, "flags": {}}
    kept: dict[str, Any] = {}
    for flag in definitions:
        keep = bool(flag.evaluators) and all(name in agreed for name in flag.evaluators)
        document["flags"][flag.key] = flag.to_json(expand_references=not keep)
        if keep:
            kept.update({name: agreed[name] for name in flag.evaluators})
    if kept:
        document["$evaluators"] = dict(sorted(kept.items()))
    return json.dumps(document, indent=indent, ensure_ascii=False)


# --- pilot builders ---------------------------------------------------------------------------------------------


def _customer_codes(customer_codes: Iterable[str]) -> list[str]:
    if isinstance(customer_codes, str):
        raise InvalidArgument.for_field("customer_codes", "must be a list of customer codes, not one string")
    codes = sorted(set(customer_codes))
    for code in codes:
        if not isinstance(code, str) or not code.strip():
            raise InvalidArgument.for_field("customer_codes", f"a customer code is a non-empty string, got {code!r}")
    return codes


def _weights(percent: float) -> tuple[int, int]:
    """Whole-number weights for ``percent`` (flagd weights are integers): out of 100, or 10,000 for 0.01 %."""
    if isinstance(percent, bool) or not isinstance(percent, int | float) or not 0 <= percent <= 100:
        raise InvalidArgument.for_field("percent", f"must be a number from 0 to 100, got {percent!r}")
    if float(percent).is_integer():
        return int(percent), 100
    scaled = round(percent * 100)
    if not math.isclose(scaled, percent * 100, abs_tol=1e-6):
        raise InvalidArgument.for_field("percent", "at most two decimals (0.01 % steps)")
    return scaled, 10_000


def cohort_rule(customer_codes: Iterable[str]) -> dict[str, Any]:
    """True for the listed customers (matched on ``targetingKey``, the customer code)."""
    return {"in": [TARGETING_KEY, _customer_codes(customer_codes)]}


def percentage_rule(percent: float, *, on: str = "on", off: str = "off") -> dict[str, Any]:
    """``percent`` % of customers get ``on``, by a stable hash of flag key + customer code; "on" comes first."""
    on_weight, total = _weights(percent)
    return {"fractional": [[on, on_weight], [off, total - on_weight]]}


def time_window_rule(start: datetime | None = None, end: datetime | None = None) -> dict[str, Any]:
    """True between ``start`` and ``end`` (inclusive, either may be open), on the evaluation clock."""
    if start is None and end is None:
        raise InvalidArgument.for_field("window", "needs a start, an end or both")
    for name, moment in (("start", start), ("end", end)):
        if moment is not None and moment.tzinfo is None:
            raise InvalidArgument.for_field(name, "must carry a time zone")
    if start is not None and end is not None:
        if end < start:
            raise InvalidArgument.for_field("end", "must not be before start")
        return {"<=": [int(start.timestamp()), TIMESTAMP, int(end.timestamp())]}
    if start is not None:
        return {">=": [TIMESTAMP, int(start.timestamp())]}
    assert end is not None
    return {"<=": [TIMESTAMP, int(end.timestamp())]}


def pilot_targeting(
    customer_codes: Iterable[str] = (), percent: float = 0, *, on: str = "on", off: str = "off"
) -> dict[str, Any] | None:
    """The pilot's rule: the cohort is always on; everyone else by ``percent``. None when nobody is on.

    Without a percentage, customers outside the cohort get the flag's default variant (reason DEFAULT), so
    calls with no customer at all are not errors; with one, they need a targetingKey (TARGETING_KEY_MISSING).
    """
    codes = _customer_codes(customer_codes)
    _weights(percent)
    if not codes and percent == 0:
        return None
    if not codes:
        return percentage_rule(percent, on=on, off=off)
    otherwise: Any = percentage_rule(percent, on=on, off=off) if percent > 0 else None
    return {"if": [cohort_rule(codes), on, otherwise]}


def pilot_flag(
    customer_codes: Iterable[str] = (),
    percent: float = 0,
    *,
    enabled: bool = True,
    metadata: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A complete boolean flag definition: variants on/off, default off, the pilot's targeting."""
    definition: dict[str, Any] = {
        "state": "ENABLED" if enabled else "DISABLED",
        "variants": {"on": True, "off": False},
        "defaultVariant": "off",
    }
    targeting = pilot_targeting(customer_codes, percent)
    if targeting is not None:
        definition["targeting"] = targeting
    if metadata:
        definition["metadata"] = dict(metadata)
    return definition


@dataclass(frozen=True)
class PilotState:
    """Where a pilot flag stands: its cohort and its percentage for everyone else."""

    customer_codes: tuple[str, ...]
    percent: float


def _read_percentage(rule: Any, on: str) -> float | None:
    if not isinstance(rule, Mapping) or set(rule) != {"fractional"}:
        return None
    distributions = rule["fractional"]
    if (
        not isinstance(distributions, Sequence)
        or len(distributions) != 2
        or not all(isinstance(pair, Sequence) and len(pair) == 2 for pair in distributions)
    ):
        return None
    (first, on_weight), (_second, off_weight) = distributions
    if first != on or not all(isinstance(weight, int | float) for weight in (on_weight, off_weight)):
        return None
    total = on_weight + off_weight
    return float(on_weight * 100 / total) if total else 0.0


def read_pilot(flag: FlagDefinition | Mapping[str, Any], *, on: str = "on") -> PilotState | None:
    """The cohort and percentage of a flag whose targeting ``pilot_targeting`` built; None for any other shape.

    Lets the flag service grow a cohort or raise a percentage from the current definition (SetPilot).
    """
    definition = flag.to_json() if isinstance(flag, FlagDefinition) else flag
    rule = definition.get("targeting")
    if rule is None or rule == {}:
        return PilotState((), 0)
    percent = _read_percentage(rule, on)
    if percent is not None:
        return PilotState((), percent)
    if not isinstance(rule, Mapping) or set(rule) != {"if"} or len(rule["if"]) != 3:
        return None
    condition, then, otherwise = rule["if"]
    if then != on or not isinstance(condition, Mapping) or set(condition) != {"in"}:
        return None
    needle, codes = condition["in"] if len(condition["in"]) == 2 else (None, None)
    if needle != TARGETING_KEY or not isinstance(codes, list) or not all(isinstance(code, str) for code in codes):
        return None
    if otherwise is None:
        return PilotState(tuple(codes), 0)
    percent = _read_percentage(otherwise, on)
    return PilotState(tuple(codes), percent) if percent is not None else None
