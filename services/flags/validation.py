"""What a change must carry: a well-formed key, an actor, the role fault flags need, a definition the engine accepts."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from services.flags.schemas import Actor, CohortChange, PilotChange
from services.platform.errors import FieldViolation, InvalidArgument, PermissionDenied
from services.platform.flags.engine import parse_flag

MAX_DEFINITION_BYTES = 256 * 1024
KEY_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{0,99}")
# Fault-injection flags change how services fail: only these roles may touch them.
FAULT_PREFIX = "fault."
FAULT_ROLES = frozenset({"sre", "admin"})
MAX_DESCRIPTION = 500
MAX_REASON = 500
MAX_ACTOR = 100
MAX_ROLE = 30
MAX_COHORT = 50
MAX_CUSTOMER_CODE = 20


def check_key(key: str, field: str = "key") -> None:
    if not KEY_PATTERN.fullmatch(key):
        raise InvalidArgument.for_field(
            field, "must be 1-100 characters of a-z, 0-9, '.', '_', '-', starting with a letter or digit"
        )


def check_actor(actor: Actor) -> None:
    violations = []
    if not actor.username.strip():
        violations.append(FieldViolation("actor.username", "is required: who makes the change"))
    elif len(actor.username) > MAX_ACTOR:
        violations.append(FieldViolation("actor.username", f"at most {MAX_ACTOR} characters"))
    if not actor.role.strip():
        violations.append(FieldViolation("actor.role", "is required"))
    elif len(actor.role) > MAX_ROLE:
        violations.append(FieldViolation("actor.role", f"at most {MAX_ROLE} characters"))
    if violations:
        raise InvalidArgument.from_violations(violations)


def check_text(value: str, field: str, limit: int) -> None:
    if len(value) > limit:
        raise InvalidArgument.for_field(field, f"at most {limit} characters")


def check_permission(key: str, actor: Actor) -> None:
    if key.startswith(FAULT_PREFIX) and actor.role not in FAULT_ROLES:
        raise PermissionDenied(
            f"{key} is a fault-injection flag: only the {' and '.join(sorted(FAULT_ROLES))} roles may change it"
        )


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


def check_pilot_change(change: PilotChange, expected_version: int) -> None:
    """Every bad field of a pilot change at once; the cohort's size after adding is checked against the flag."""
    violations = []
    if change.cohort is None:
        violations.append(FieldViolation("cohort_change", "must be unspecified (keep the cohort), replace or add"))
    elif change.cohort == CohortChange.KEEP:
        if change.customer_codes:
            violations.append(FieldViolation("customer_codes", "given, but the cohort is kept: replace or add them"))
        if change.percent is None:
            violations.append(FieldViolation("percent", "is required when the cohort is kept: nothing would change"))
    for index, code in enumerate(change.customer_codes):
        if not code.strip():
            violations.append(FieldViolation(f"customer_codes[{index}]", "must not be blank"))
        elif len(code) > MAX_CUSTOMER_CODE:
            violations.append(FieldViolation(f"customer_codes[{index}]", f"at most {MAX_CUSTOMER_CODE} characters"))
    if len(set(change.customer_codes)) > MAX_COHORT:
        violations.append(FieldViolation("customer_codes", f"a cohort has at most {MAX_COHORT} customers"))
    if change.percent is not None:
        if not 0 <= change.percent <= 100:
            violations.append(FieldViolation("percent", "must be from 0 to 100"))
        elif not math.isclose(round(change.percent * 100), change.percent * 100, abs_tol=1e-6):
            violations.append(FieldViolation("percent", "at most two decimals (0.01 % steps)"))
    if expected_version < 0:
        violations.append(FieldViolation("expected_version", "must not be negative (0: whatever version is current)"))
    if violations:
        raise InvalidArgument.from_violations(violations)
