"""What the flag service's layers pass each other: plain records, no ORM or protobuf types."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


def to_json(value: Any) -> str:
    """Compact JSON, non-ASCII kept (Chinese descriptions and variants stay readable)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class Actor:
    """Who asks for a change: the gateway passes the signed-in user and their role."""

    username: str
    role: str


@dataclass(frozen=True)
class FlagRecord:
    key: str
    definition: dict[str, Any]
    description: str
    version: int
    deleted: bool
    updated_at: datetime
    updated_by: str

    @property
    def definition_json(self) -> str:
        return to_json(self.definition)

    @property
    def enabled(self) -> bool:
        return bool(self.definition.get("state", "ENABLED") != "DISABLED")


@dataclass(frozen=True)
class FlagVersion:
    key: str
    version: int
    definition: dict[str, Any]
    description: str
    deleted: bool


@dataclass(frozen=True)
class AuditRecord:
    sequence: int
    flag_key: str
    flag_version: int
    action: str
    actor: str
    actor_role: str
    reason: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    at: datetime


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditRecord]
    next_page_token: str


@dataclass(frozen=True)
class ChangeSet:
    """Flags at ``revision`` (the highest audit sequence they include); ``full`` when it is every flag."""

    revision: int
    flags: list[FlagRecord] = field(default_factory=list)
    full: bool = False


class CohortChange(StrEnum):
    """What a pilot change does with the customer codes it carries."""

    KEEP = "keep"
    REPLACE = "replace"
    ADD = "add"


@dataclass(frozen=True)
class PilotChange:
    """A change to a pilot: its cohort (kept, replaced or added to) and its percentage (None keeps it)."""

    cohort: CohortChange | None  # None: a value the caller's contract does not define
    customer_codes: tuple[str, ...] = ()
    percent: float | None = None


@dataclass(frozen=True)
class PilotRecord:
    """A pilot as it stands after a change, and the flag that holds it."""

    customer_codes: tuple[str, ...]
    percent: float
    flag: FlagRecord
