"""Login, refresh-token rotation with reuse detection, logout, account lockout, password change, disabled users."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

from services.gateway.errors import AccountLocked, Unauthenticated
from services.gateway.models import RefreshToken, User
from services.gateway.repository import RefreshTokenRepository, UserRepository
from services.gateway.revocations import Revocations
from services.gateway.tokens import (
    AccessClaims,
    TokenError,
    TokenSigner,
    hash_password_off_loop,
    needs_rehash,
    verify_password_off_loop,
)
from services.platform.clock import utc_now
from services.platform.database import Database
from services.platform.errors import DomainError, InvalidArgument, NotFound


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    role: str


@dataclass(frozen=True)
class UserStatus:
    username: str
    role: str
    disabled: bool


# Outcomes that must be committed (a counted failure, a revoked family) are returned, not raised, by the
# steps of one transaction; AuthService raises them once that transaction has committed.
LoginOutcome = TokenPair | DomainError
Outcome = TypeVar("Outcome")


def _settled(outcome: Outcome | DomainError) -> Outcome:
    if isinstance(outcome, DomainError):
        raise outcome
    return outcome


class AuthService:
    """The gateway's account use cases: each method is one transaction, then the deny-list if it ends sessions."""

    def __init__(
        self,
        database: Database,
        signer: TokenSigner,
        revocations: Revocations,
        *,
        max_failed_logins: int,
        lockout_seconds: int,
    ) -> None:
        self.database = database
        self.signer = signer
        self.revocations = revocations
        self.max_failed_logins = max_failed_logins
        self.lockout_seconds = lockout_seconds

    @asynccontextmanager
    async def _accounts(self) -> AsyncIterator[_Accounts]:
        async with self.database.session() as session:
            yield _Accounts(
                UserRepository(session),
                RefreshTokenRepository(session),
                self.signer,
                self.max_failed_logins,
                self.lockout_seconds,
            )

    async def login(self, username: str, password: str) -> TokenPair:
        async with self._accounts() as accounts:
            outcome = await accounts.login(username, password)
        return _settled(outcome)

    async def refresh(self, refresh_token: str) -> TokenPair:
        async with self._accounts() as accounts:
            outcome = await accounts.refresh(refresh_token)
        return _settled(outcome)

    async def logout(self, refresh_token: str, claims: AccessClaims) -> None:
        """End one session: the refresh token's login, and the access token that asks."""
        async with self._accounts() as accounts:
            await accounts.logout(refresh_token)
        await self.revocations.revoke_token(claims)

    async def logout_everywhere(self, user_id: uuid.UUID) -> None:
        async with self._accounts() as accounts:
            await accounts.logout_everywhere(user_id)
        await self.revocations.revoke_user(user_id)

    async def change_password(self, user_id: uuid.UUID, current: str, new: str) -> None:
        """Every session of the user ends when the password changes; a repeated change changes nothing."""
        async with self._accounts() as accounts:
            outcome = await accounts.change_password(user_id, current, new)
        if _settled(outcome):
            await self.revocations.revoke_user(user_id)

    async def set_disabled(self, username: str, disabled: bool) -> UserStatus:
        """Disable a user (every session ends at once) or enable them again; repeating either changes nothing."""
        async with self._accounts() as accounts:
            user = await accounts.set_disabled(username, disabled)
            status = UserStatus(username=user.username, role=user.role, disabled=user.disabled_at is not None)
            user_id = user.id
        if disabled:
            await self.revocations.revoke_user(user_id)
        return status


class _Accounts:
    """The steps of AuthService's use cases inside one transaction: the repositories share its session."""

    def __init__(
        self,
        users: UserRepository,
        refresh_tokens: RefreshTokenRepository,
        signer: TokenSigner,
        max_failed_logins: int,
        lockout_seconds: int,
    ) -> None:
        self.users = users
        self.refresh_tokens = refresh_tokens
        self.signer = signer
        self.max_failed_logins = max_failed_logins
        self.lockout_seconds = lockout_seconds

    async def login(self, username: str, password: str) -> LoginOutcome:
        now = utc_now()
        user = await self.users.by_username(username, for_update=True)
        if user is not None and user.locked_until is not None and user.locked_until > now:
            return AccountLocked(int((user.locked_until - now).total_seconds()) + 1)
        # Verify even for an unknown user so response time does not reveal which usernames exist.
        password_ok = await verify_password_off_loop(user.password_hash if user else None, password)
        if user is None or not password_ok:
            if user is not None:
                user.failed_logins += 1
                if user.failed_logins >= self.max_failed_logins:
                    user.locked_until = now + timedelta(seconds=self.lockout_seconds)
                    user.failed_logins = 0
                    return AccountLocked(self.lockout_seconds)
            return Unauthenticated("wrong username or password")
        user.failed_logins = 0
        user.locked_until = None
        if user.disabled_at is not None:
            return Unauthenticated("this account is disabled; ask the office")
        if needs_rehash(user.password_hash):
            user.password_hash = await hash_password_off_loop(password)
        return await self._issue(user, family_id=uuid.uuid4())

    async def refresh(self, token: str) -> LoginOutcome:
        try:
            claims = self.signer.read_refresh(token)
        except TokenError:
            return Unauthenticated("the refresh token is invalid or expired")
        now = utc_now()
        stored = await self.refresh_tokens.by_id_for_update(claims.token_id)
        if stored is None or stored.revoked_at is not None:
            return Unauthenticated("the refresh token was revoked")
        if stored.used_at is not None:
            # A spent token came back: someone holds a copy. End every session of this login.
            await self.refresh_tokens.revoke_family(stored.family_id, now)
            return Unauthenticated("the refresh token was already used; this login's sessions are revoked")
        user = await self.users.by_id(stored.user_id)
        if user is None:
            return Unauthenticated("the user no longer exists")
        if user.disabled_at is not None:
            return Unauthenticated("this account is disabled; ask the office")
        stored.used_at = now
        return await self._issue(user, family_id=stored.family_id)

    async def logout(self, token: str) -> None:
        """Revoke the refresh token's whole family; unknown or invalid tokens are ignored (logout is idempotent)."""
        try:
            claims = self.signer.read_refresh(token)
        except TokenError:
            return
        await self.refresh_tokens.revoke_family(claims.family_id, utc_now())

    async def logout_everywhere(self, user_id: uuid.UUID) -> None:
        """Revoke every refresh token of the user (their access tokens are denied by the caller)."""
        await self.refresh_tokens.revoke_user(user_id, utc_now())

    async def change_password(self, user_id: uuid.UUID, current: str, new: str) -> DomainError | bool:
        """Set a new password and revoke every refresh token of the user (the caller denies the access tokens);
        True when the password changed.

        Repeating a change that went through (the new password is already the one stored) changes nothing and is
        False, so a client may retry it. A wrong current password counts towards the lockout, like a failed login."""
        now = utc_now()
        user = await self.users.by_id(user_id, for_update=True)
        if user is None or user.disabled_at is not None:
            return Unauthenticated("this account is disabled or gone")
        if user.locked_until is not None and user.locked_until > now:
            return AccountLocked(int((user.locked_until - now).total_seconds()) + 1)
        if not await verify_password_off_loop(user.password_hash, current):
            if await verify_password_off_loop(user.password_hash, new):
                return False
            user.failed_logins += 1
            if user.failed_logins >= self.max_failed_logins:
                user.locked_until = now + timedelta(seconds=self.lockout_seconds)
                user.failed_logins = 0
                return AccountLocked(self.lockout_seconds)
            return InvalidArgument.for_field("current_password", "is not this account's password")
        if new == current:
            return InvalidArgument.for_field("new_password", "must differ from the current password")
        user.password_hash = await hash_password_off_loop(new)
        user.failed_logins = 0
        await self.refresh_tokens.revoke_user(user.id, now)
        return True

    async def set_disabled(self, username: str, disabled: bool) -> User:
        """Disable (revoking every refresh token) or enable a user; repeating either changes nothing."""
        user = await self.users.by_username(username, for_update=True)
        if user is None:
            raise NotFound(f"no user {username!r}")
        if disabled and user.disabled_at is None:
            user.disabled_at = utc_now()
            await self.refresh_tokens.revoke_user(user.id, user.disabled_at)
        elif not disabled:
            user.disabled_at = None
        return user

    async def _issue(self, user: User, family_id: uuid.UUID) -> TokenPair:
        access = self.signer.access_token(AccessClaims(user.id, user.username, user.role, user.customer_code))
        refresh, claims = self.signer.refresh_token(user.id, family_id)
        await self.refresh_tokens.add(
            RefreshToken(id=claims.token_id, family_id=family_id, user_id=user.id, expires_at=claims.expires_at)
        )
        return TokenPair(access, refresh, self.signer.access_seconds, user.role)
