"""A flag's targeting rule compiled: JsonLogic's standard operations plus flagd's, and what the engine needs to
know about the rule (whether it reads ``$flagd.*``, which literal variant names it can return)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from services.platform.flags.flagd_operations import FLAGD_OPERATIONS
from services.platform.flags.jsonlogic import STANDARD_OPERATIONS, Compiler, Handler, Rule

OPERATIONS: dict[str, Handler] = {**STANDARD_OPERATIONS, **FLAGD_OPERATIONS}


@dataclass
class CompiledRule:
    """A compiled rule and what it needs from the evaluator."""

    rule: Rule
    uses_flagd_properties: bool = False
    """Reads ``$flagd.*``: the evaluator injects ``$flagd.flagKey`` and ``$flagd.timestamp`` into the context."""
    output_variants: dict[str, str] = field(default_factory=dict)
    """Literal variant names the rule can return, and where, for the caller to check against the flag's variants."""


def _outputs(rule: Any, path: str, found: dict[str, str]) -> None:
    """Literal variant names a rule can return: literal results, ``if`` branches and ``fractional`` variants."""
    if isinstance(rule, str):
        found.setdefault(rule, path)
    elif isinstance(rule, dict) and len(rule) == 1:
        ((operator, arguments),) = rule.items()
        items = arguments if isinstance(arguments, list) else [arguments]
        if operator in ("if", "?:"):
            for index in [*range(1, len(items), 2), *([len(items) - 1] if len(items) % 2 else [])]:
                _outputs(items[index], f"{path}.{operator}[{index}]", found)
        elif operator == "fractional":
            offset = 0 if items and isinstance(items[0], list) else 1
            for index, distribution in enumerate(items[offset:], start=offset):
                if isinstance(distribution, list) and distribution and isinstance(distribution[0], str):
                    found.setdefault(distribution[0], f"{path}.fractional[{index}][0]")


def compile_rule(rule: Any, *, flag_key: str, path: str = "targeting") -> CompiledRule:
    """Compile a JsonLogic rule; RuleError names the first problem's path."""
    compiler = Compiler(flag_key, OPERATIONS)
    expr = compiler.compile(rule, path)
    outputs: dict[str, str] = {}
    _outputs(rule, path, outputs)
    return CompiledRule(
        rule=expr.rule,
        uses_flagd_properties=compiler.uses_flagd_properties,
        output_variants=outputs,
    )
