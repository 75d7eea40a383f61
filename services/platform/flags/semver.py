"""Semantic versions as flagd's ``sem_ver`` compares them (Go's x/mod/semver: ``v`` prefix and short forms
``1`` and ``1.2`` accepted; pre-releases sort before their release; build metadata ignored)."""

from __future__ import annotations

import re
from typing import Any

_SEMVER = re.compile(
    r"^v?(0|[1-9]\d*)(?:\.(0|[1-9]\d*)(?:\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?"
    r"(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?)?)?$"
)
SEMVER_OPERATORS = ("=", "!=", "<", "<=", ">", ">=", "^", "~")

SemVer = tuple[int, int, int, tuple[tuple[int, int | str], ...] | None]


def parse_semver(text: Any) -> SemVer | None:
    """``1``, ``1.2``, ``v1.2.3-rc.1+build`` (Go's x/mod/semver, which flagd uses, accepts the short forms)."""
    if not isinstance(text, str):
        return None
    match = _SEMVER.match(text)
    if match is None:
        return None
    major, minor, patch, pre = match.groups()
    prerelease = (
        tuple((0, int(part)) if part.isdigit() else (1, part) for part in pre.split(".")) if pre is not None else None
    )
    return int(major), int(minor or 0), int(patch or 0), prerelease


def _semver_order(version: SemVer) -> tuple[Any, ...]:
    major, minor, patch, prerelease = version
    # A release sorts after its pre-releases; identifiers compare numbers below words, then by value.
    return (major, minor, patch, 1, ()) if prerelease is None else (major, minor, patch, 0, prerelease)


def compare_semver(actual: SemVer, operator: str, target: SemVer) -> bool:
    if operator == "^":
        return actual[0] == target[0]
    if operator == "~":
        return actual[:2] == target[:2]
    left, right = _semver_order(actual), _semver_order(target)
    if operator == "=":
        return left == right
    if operator == "!=":
        return left != right
    if operator == "<":
        return left < right
    if operator == "<=":
        return left <= right
    if operator == ">":
        return left > right
    return left >= right
