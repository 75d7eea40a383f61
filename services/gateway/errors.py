"""Errors only the gateway raises: authentication and rate limits (the rest come from the platform)."""

from __future__ import annotations

from services.platform.errors import DomainError


class Unauthenticated(DomainError):
    """No valid credentials: a missing, bad or expired token, or a wrong password."""


class AccountLocked(DomainError):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed logins; the account is locked for {retry_after} more seconds")
        self.retry_after = retry_after


class TooManyRequests(DomainError):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many login attempts from this address; retry in {retry_after} seconds")
        self.retry_after = retry_after


class PreconditionRequired(DomainError):
    """A change that must name the version it was based on came without one (no If-Match): 428."""
