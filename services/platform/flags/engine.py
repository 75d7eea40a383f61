"""The flag evaluation engine: flagd flag definitions parsed and compiled once, evaluated in-process many times.

``parse_flag`` checks a definition (flagd's format) and compiles its targeting; ``evaluate`` answers in
OpenFeature's vocabulary and never raises: a missing flag, a wrong type or a broken rule is an ERROR result
carrying the caller's default.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any, cast

from services.platform import clock
from services.platform.errors import FieldViolation, InvalidArgument
from services.platform.flags.flagd_operations import SplitVariant, TargetingKeyMissing
from services.platform.flags.javascript import to_string
from services.platform.flags.jsonlogic import Rule, RuleError
from services.platform.flags.targeting import compile_rule

_log = logging.getLogger(__name__)

ENABLED = "ENABLED"
DISABLED = "DISABLED"
STATES = (ENABLED, DISABLED)
DEFINITION_FIELDS = frozenset({"state", "variants", "defaultVariant", "targeting", "metadata"})


class Reason(StrEnum):
    """OpenFeature's resolution reasons (the subset an in-process evaluator gives)."""

    STATIC = "STATIC"
    TARGETING_MATCH = "TARGETING_MATCH"
    SPLIT = "SPLIT"
    DISABLED = "DISABLED"
    DEFAULT = "DEFAULT"
    ERROR = "ERROR"


class ErrorCode(StrEnum):
    """OpenFeature's error codes."""

    FLAG_NOT_FOUND = "FLAG_NOT_FOUND"
    TYPE_MISMATCH = "TYPE_MISMATCH"
    PARSE_ERROR = "PARSE_ERROR"
    TARGETING_KEY_MISSING = "TARGETING_KEY_MISSING"
    INVALID_CONTEXT = "INVALID_CONTEXT"
    GENERAL = "GENERAL"


class ValueKind(StrEnum):
    """The one type all of a flag's variants share."""

    BOOLEAN = "boolean"
    STRING = "string"
    NUMBER = "number"
    OBJECT = "object"


@dataclass(frozen=True, slots=True)
class Evaluation:
    """One flag evaluated for one context. ``value`` is the caller's default when reason is DISABLED or ERROR."""

    flag_key: str
    value: Any
    variant: str | None
    reason: Reason
    error_code: ErrorCode | None = None
    error_message: str | None = None
    flag_version: int = 0


@dataclass(frozen=True, eq=False)
class FlagDefinition:
    """A checked, compiled flag. Object values are read-only (``MappingProxyType``/tuples): they are shared by
    every evaluation in the process; ``to_json`` gives plain JSON back."""

    key: str
    state: str
    variants: Mapping[str, Any]
    default_variant: str
    value_kind: ValueKind
    targeting: Any = None
    """The rule with shared evaluators expanded; None when the flag has none (``{}`` counts as none)."""
    version: int = 0
    metadata: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    source_targeting: Any = None
    """The rule as written, ``$ref`` included, for export."""
    evaluators: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    """The shared evaluators (``$evaluators``) this flag's rule refers to."""
    rule: Rule | None = field(default=None, repr=False)
    uses_flagd_properties: bool = field(default=False, repr=False)
    _results: Mapping[tuple[str, Reason], Evaluation] = field(default_factory=dict, repr=False)

    @property
    def enabled(self) -> bool:
        return self.state == ENABLED

    def to_json(self, *, expand_references: bool = True) -> dict[str, Any]:
        """The definition in flagd's format: self-contained (shared evaluators expanded) unless asked otherwise."""
        definition: dict[str, Any] = {
            "state": self.state,
            "variants": {name: thaw(value) for name, value in self.variants.items()},
            "defaultVariant": self.default_variant,
        }
        targeting = self.targeting if expand_references else self.source_targeting
        if targeting is not None:
            definition["targeting"] = thaw(targeting)
        if self.metadata:
            definition["metadata"] = thaw(self.metadata)
        return definition


def freeze(value: Any) -> Any:
    """A read-only copy of a JSON value: objects become ``MappingProxyType``, arrays tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({key: freeze(item) for key, item in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(item) for item in value)
    return value


def thaw(value: Any) -> Any:
    """Plain JSON (dicts and lists) from a frozen value, e.g. for protobuf ``Struct`` or ``json.dumps``."""
    if isinstance(value, Mapping):
        return {key: thaw(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [thaw(item) for item in value]
    return value


def _kind_of(value: Any) -> ValueKind | None:
    if isinstance(value, bool):
        return ValueKind.BOOLEAN
    if isinstance(value, str):
        return ValueKind.STRING
    if isinstance(value, int | float):
        return ValueKind.NUMBER if not isinstance(value, float) or math.isfinite(value) else None
    if isinstance(value, Mapping):
        return ValueKind.OBJECT
    return None


def expand_references(rule: Any, evaluators: Mapping[str, Any], path: str) -> tuple[Any, set[str]]:
    """Replace every ``{"$ref": name}`` with the shared evaluator ``name`` (recursively); the names used."""
    used: set[str] = set()

    def expand(node: Any, where: str, chain: tuple[str, ...]) -> Any:
        if isinstance(node, Mapping):
            if "$ref" in node:
                name = node["$ref"]
                if len(node) != 1:
                    raise RuleError(where, "a $ref stands alone in its object")
                if not isinstance(name, str) or name not in evaluators:
                    raise RuleError(f"{where}.$ref", f"unknown shared evaluator {name!r}")
                if name in chain:
                    raise RuleError(f"{where}.$ref", f"shared evaluator {name!r} refers to itself")
                used.add(name)
                return expand(evaluators[name], f"$evaluators.{name}", (*chain, name))
            return {key: expand(item, f"{where}.{key}", chain) for key, item in node.items()}
        if isinstance(node, list):
            return [expand(item, f"{where}[{index}]", chain) for index, item in enumerate(node)]
        return node

    return expand(rule, path, ()), used


def _has_references(node: Any) -> bool:
    if isinstance(node, Mapping):
        return "$ref" in node or any(_has_references(item) for item in node.values())
    if isinstance(node, list):
        return any(_has_references(item) for item in node)
    return False


def parse_flag(
    key: str,
    definition: Mapping[str, Any],
    *,
    version: int = 0,
    evaluators: Mapping[str, Any] | None = None,
    field: str = "",
) -> FlagDefinition:
    """Check and compile one flag definition; InvalidArgument lists every problem as (field path, reason).

    ``field`` prefixes the paths (e.g. ``definition_json`` or ``flags.my-flag``); ``evaluators`` are the
    document's ``$evaluators`` that ``{"$ref": name}`` may name.
    """

    def at(name: str) -> str:
        return f"{field}.{name}" if field else name

    violations: list[FieldViolation] = []
    if not isinstance(key, str) or not key.strip():
        violations.append(FieldViolation(at("key") if field else "key", "a flag key is a non-empty string"))
    if not isinstance(definition, Mapping):
        raise InvalidArgument.for_field(field or "definition", "must be a JSON object (a flagd flag definition)")
    for unknown in sorted(set(definition) - DEFINITION_FIELDS):
        known = ", ".join(sorted(DEFINITION_FIELDS))
        violations.append(FieldViolation(at(unknown), f"unknown field; a flag has {known}"))

    state = definition.get("state")
    if state not in STATES:
        violations.append(FieldViolation(at("state"), f"must be ENABLED or DISABLED, got {state!r}"))

    variants = definition.get("variants")
    kinds: dict[ValueKind, str] = {}
    if not isinstance(variants, Mapping) or not variants:
        violations.append(FieldViolation(at("variants"), "must be a non-empty object of variant name to value"))
        variants = {}
    for name, value in variants.items():
        kind = _kind_of(value)
        if not isinstance(name, str) or not name:
            violations.append(FieldViolation(at("variants"), f"a variant name is a non-empty string, got {name!r}"))
        elif kind is None:
            violations.append(
                FieldViolation(at(f"variants.{name}"), "must be a boolean, string, number or JSON object")
            )
        else:
            kinds.setdefault(kind, name)
    if len(kinds) > 1:
        mixed = ", ".join(f"{kind.value} ({name})" for kind, name in kinds.items())
        violations.append(FieldViolation(at("variants"), f"all variants must have one type, got {mixed}"))

    names = ", ".join(map(str, variants))
    default_variant = definition.get("defaultVariant")
    if not isinstance(default_variant, str) or default_variant not in variants:
        reason = f"must name one of the variants ({names}), got {default_variant!r}"
        violations.append(FieldViolation(at("defaultVariant"), reason))

    metadata = definition.get("metadata", {})
    if not isinstance(metadata, Mapping) or any(
        _kind_of(value) in (None, ValueKind.OBJECT) for value in metadata.values()
    ):
        violations.append(FieldViolation(at("metadata"), "must be an object of booleans, strings and numbers"))
        metadata = {}

    source_targeting = definition.get("targeting")
    targeting: Any = None
    compiled = None
    used: set[str] = set()
    if source_targeting is not None and source_targeting != {}:
        try:
            targeting, used = expand_references(source_targeting, evaluators or {}, at("targeting"))
            compiled = compile_rule(targeting, flag_key=key if isinstance(key, str) else "", path=at("targeting"))
        except RuleError as error:
            violations.append(FieldViolation(error.path, error.reason))
        else:
            for name, where in compiled.output_variants.items():
                if name not in variants:
                    violations.append(FieldViolation(where, f"{name!r} is not one of the variants ({names})"))
    else:
        source_targeting = None

    if violations:
        raise InvalidArgument.from_violations(violations)
    state, default_variant = cast(str, state), cast(str, default_variant)

    frozen_variants: Mapping[str, Any] = MappingProxyType({name: freeze(value) for name, value in variants.items()})
    (kind,) = kinds
    results: dict[tuple[str, Reason], Evaluation] = {}
    for name, value in frozen_variants.items():
        for reason in (Reason.TARGETING_MATCH, Reason.SPLIT):
            results[(name, reason)] = Evaluation(key, value, name, reason, flag_version=version)
    default_value = frozen_variants[default_variant]
    for reason in (Reason.STATIC, Reason.DEFAULT):
        results[(default_variant, reason)] = Evaluation(
            key, default_value, default_variant, reason, flag_version=version
        )
    return FlagDefinition(
        key=key,
        state=state,
        variants=frozen_variants,
        default_variant=default_variant,
        value_kind=kind,
        targeting=freeze(targeting),
        version=version,
        metadata=MappingProxyType(dict(metadata)),
        source_targeting=freeze(source_targeting),
        evaluators=MappingProxyType({name: freeze((evaluators or {})[name]) for name in sorted(used)}),
        rule=compiled.rule if compiled else None,
        uses_flagd_properties=compiled.uses_flagd_properties if compiled else False,
        _results=MappingProxyType(results),
    )


def parse_flag_json(key: str, text: str | bytes, *, version: int = 0, field: str = "definition_json") -> FlagDefinition:
    """``parse_flag`` for a definition stored as JSON text (``Flag.definition_json``)."""
    try:
        definition = json.loads(text)
    except ValueError as error:
        raise InvalidArgument.for_field(field, f"is not JSON: {error}") from error
    return parse_flag(key, definition, version=version, field=field)


_EXPECTED_KINDS: dict[Any, ValueKind] = {
    bool: ValueKind.BOOLEAN,
    str: ValueKind.STRING,
    int: ValueKind.NUMBER,
    float: ValueKind.NUMBER,
    dict: ValueKind.OBJECT,
    Mapping: ValueKind.OBJECT,
}


def _error(key: str, default: Any, code: ErrorCode, message: str, version: int = 0) -> Evaluation:
    return Evaluation(key, default, None, Reason.ERROR, code, message, version)


def _typed(result: Evaluation, expected_type: type | None, default: Any) -> Evaluation:
    """Numbers as the caller asked: int only when the value is whole (flagd's integer resolution)."""
    if expected_type is int:
        value = result.value
        if isinstance(value, float):
            if not value.is_integer():
                return _error(
                    result.flag_key, default, ErrorCode.TYPE_MISMATCH, f"{value} is not an integer", result.flag_version
                )
            return Evaluation(
                result.flag_key, int(value), result.variant, result.reason, None, None, result.flag_version
            )
    elif expected_type is float and isinstance(result.value, int):
        return Evaluation(
            result.flag_key, float(result.value), result.variant, result.reason, None, None, result.flag_version
        )
    return result


def evaluate(
    flag: FlagDefinition | None,
    key: str,
    context: Mapping[str, Any] | None,
    *,
    expected_type: type | None = None,
    default: Any = None,
) -> Evaluation:
    """Evaluate ``flag`` (looked up as ``key``) for ``context``. Never raises.

    ``expected_type`` (bool, str, int, float, dict) turns a flag of another type into TYPE_MISMATCH; ``default``
    is the caller's code default, returned when the flag is DISABLED or on any ERROR.
    """
    try:
        if flag is None:
            return _error(key, default, ErrorCode.FLAG_NOT_FOUND, f"flag {key!r} does not exist")
        if expected_type is not None and _EXPECTED_KINDS.get(expected_type) is not flag.value_kind:
            expected = getattr(expected_type, "__name__", str(expected_type))
            return _error(
                key,
                default,
                ErrorCode.TYPE_MISMATCH,
                f"flag {key!r} has {flag.value_kind.value} values, asked for {expected}",
                flag.version,
            )
        if flag.state != ENABLED:
            return Evaluation(key, default, None, Reason.DISABLED, None, None, flag.version)
        rule = flag.rule
        if rule is None:
            return _typed(flag._results[(flag.default_variant, Reason.STATIC)], expected_type, default)
        if context is None:
            context = {}
        elif not isinstance(context, Mapping):
            return _error(key, default, ErrorCode.INVALID_CONTEXT, "the context must be a mapping", flag.version)
        if flag.uses_flagd_properties:
            context = {**context, "$flagd": {"flagKey": flag.key, "timestamp": int(clock.timestamp())}}
        chosen = rule(context)
        if chosen is None:
            return _typed(flag._results[(flag.default_variant, Reason.DEFAULT)], expected_type, default)
        # flagd reads a rule's result as a variant name: true selects the variant named "true".
        name = chosen if isinstance(chosen, str) else to_string(chosen)
        result = flag._results.get((name, Reason.SPLIT if type(chosen) is SplitVariant else Reason.TARGETING_MATCH))
        if result is None:
            return _error(
                key, default, ErrorCode.GENERAL, f"targeting returned {name!r}, which is not a variant", flag.version
            )
        return _typed(result, expected_type, default)
    except TargetingKeyMissing as error:
        return _error(key, default, ErrorCode.TARGETING_KEY_MISSING, str(error), flag.version if flag else 0)
    except Exception as error:  # noqa: BLE001 - evaluation never raises into the caller
        _log.warning("flag %s: evaluation failed", key, exc_info=True)
        return _error(key, default, ErrorCode.GENERAL, f"evaluation failed: {error!r}", flag.version if flag else 0)


__all__ = [
    "DISABLED",
    "ENABLED",
    "ErrorCode",
    "Evaluation",
    "FlagDefinition",
    "Reason",
    "ValueKind",
    "evaluate",
    "expand_references",
    "freeze",
    "parse_flag",
    "parse_flag_json",
    "thaw",
]
