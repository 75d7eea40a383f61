"""The domain error hierarchy: business code raises these, one interceptor maps them to gRPC status."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FieldViolation:
    """One reason one input field was refused."""

    field: str
    reason: str


@dataclass
class DomainError(Exception):
    """Base of every error our business code raises on purpose."""

    message: str
    violations: list[FieldViolation] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class NotFound(DomainError):
    """The thing asked for does not exist."""


class AlreadyExists(DomainError):
    """A business key is already taken."""


class InvalidArgument(DomainError):
    """The input is malformed; ``violations`` names each field and why."""

    @classmethod
    def for_field(cls, field_name: str, reason: str) -> InvalidArgument:
        return cls(f"{field_name}: {reason}", [FieldViolation(field_name, reason)])

    @classmethod
    def from_violations(cls, violations: list[FieldViolation]) -> InvalidArgument:
        summary = "; ".join(f"{v.field}: {v.reason}" for v in violations)
        return cls(summary, list(violations))


class FailedPrecondition(DomainError):
    """The input is well formed but the current state forbids the operation (e.g. a stale version)."""


class PermissionDenied(DomainError):
    """The caller may not do this."""


class Unavailable(DomainError):
    """A dependency is down; the caller may retry."""


class VersionConflict(FailedPrecondition):
    """An optimistic-concurrency check failed: the caller's version is stale (gRPC ABORTED)."""
