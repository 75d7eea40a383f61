"""Password hashing (argon2) and signed tokens (JWT, HS256 only: ``alg: none`` and others are refused)."""

from __future__ import annotations

import asyncio
import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from services.platform import clock
from services.platform.clock import utc_now

ALGORITHM = "HS256"
ISSUER = "luckygas-gateway"
# Tokens are issued and checked by gateway replicas whose clocks may differ by a little.
ISSUED_AT_LEEWAY_SECONDS = 5

# argon2id with OWASP's first recommended setting (Password Storage Cheat Sheet): 19 MiB, 2 passes, 1 lane. The
# library's default (RFC 9106's low-memory profile: 64 MiB, 3 passes, 4 lanes) cost ~8x the CPU per login here, and
# 1,000 logins in a minute's ramp-up took the gateway's whole core. A stored hash made with other parameters is
# still verified (they are in the hash) and is replaced on the next successful login (``needs_rehash``).
ARGON2_TIME_COST = 2
ARGON2_MEMORY_KIB = 19 * 1024
ARGON2_LANES = 1
_hasher = PasswordHasher(time_cost=ARGON2_TIME_COST, memory_cost=ARGON2_MEMORY_KIB, parallelism=ARGON2_LANES)
# Verifying against this keeps an unknown username as slow as a wrong password, so timing reveals nothing.
_DUMMY_HASH = _hasher.hash("luckygas-not-a-password")
# Hashing runs off the event loop (argon2-cffi releases the GIL), one hash per core at most: other requests keep
# being answered during a burst of logins, and the memory hashing takes stays bounded (19 MiB a hash).
_hashing = ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="argon2")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the stored hash was made with other parameters than today's (it is still verifiable)."""
    try:
        return _hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


async def hash_password_off_loop(password: str) -> str:
    return await asyncio.get_running_loop().run_in_executor(_hashing, hash_password, password)


async def verify_password_off_loop(password_hash: str | None, password: str) -> bool:
    return await asyncio.get_running_loop().run_in_executor(_hashing, verify_password, password_hash, password)


class TokenError(Exception):
    """The token is missing, malformed, expired, of the wrong kind, or not signed by us; the message says which,
    in words a client can act on."""

    def __init__(self, message: str, *, expired: bool = False) -> None:
        super().__init__(message)
        self.expired = expired


@dataclass(frozen=True)
class AccessClaims:
    user_id: uuid.UUID
    username: str
    role: str
    customer_code: str | None
    # Read from a token (empty when the claims are about to be signed): its id, and when it was issued and expires,
    # in seconds since the epoch. The deny-list (revocations.py) needs them.
    token_id: str = ""
    issued_at: float = 0.0
    expires_at: float = 0.0


@dataclass(frozen=True)
class RefreshClaims:
    token_id: uuid.UUID
    family_id: uuid.UUID
    user_id: uuid.UUID
    expires_at: datetime


class TokenSigner:
    def __init__(self, secret: str, access_seconds: int, refresh_seconds: int) -> None:
        self._secret = secret
        self.access_seconds = access_seconds
        self.refresh_seconds = refresh_seconds

    def access_token(self, claims: AccessClaims) -> str:
        issued = round(utc_now().timestamp(), 3)
        payload = {
            "iss": ISSUER,
            "typ": "access",
            "sub": str(claims.user_id),
            "usr": claims.username,
            "role": claims.role,
            "cc": claims.customer_code,
            # To the millisecond (NumericDate may have a fraction): "log out everywhere" denies tokens issued up to
            # its moment, and a login right after it must not fall in the same whole second.
            "iat": issued,
            "exp": issued + self.access_seconds,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(payload, self._secret, algorithm=ALGORITHM)

    def refresh_token(self, user_id: uuid.UUID, family_id: uuid.UUID) -> tuple[str, RefreshClaims]:
        now = utc_now()
        claims = RefreshClaims(uuid.uuid4(), family_id, user_id, now + timedelta(seconds=self.refresh_seconds))
        payload = {
            "iss": ISSUER,
            "typ": "refresh",
            "sub": str(user_id),
            "fam": str(family_id),
            "jti": str(claims.token_id),
            "iat": now,
            "exp": claims.expires_at,
        }
        return jwt.encode(payload, self._secret, algorithm=ALGORITHM), claims

    def _decode(self, token: str, kind: str) -> dict[str, Any]:
        try:
            payload: dict[str, Any] = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                # Times are checked below against the platform's clock, which PyJWT does not know of.
                options={"require": ["exp", "iat", "sub", "typ", "jti"], "verify_exp": False, "verify_iat": False},
            )
        except jwt.InvalidSignatureError as error:
            raise TokenError("its signature does not match: it was not issued by this platform") from error
        except jwt.MissingRequiredClaimError as error:
            raise TokenError(f"it lacks the {error.claim!r} claim every token of this platform carries") from error
        except jwt.InvalidIssuerError as error:
            raise TokenError("it was issued by another system") from error
        except jwt.PyJWTError as error:  # not a JWT at all, or one we cannot read: PyJWT's words are no help here
            raise TokenError("it is not a token this platform issued (it cannot be read as a JWT)") from error
        now = clock.timestamp()
        try:
            expires, issued = float(payload["exp"]), float(payload["iat"])
        except (TypeError, ValueError, OverflowError) as error:
            raise TokenError("exp and iat must be numbers") from error
        if expires <= now:
            raise TokenError("it has expired", expired=True)
        if issued > now + ISSUED_AT_LEEWAY_SECONDS:
            raise TokenError("it is not valid yet (issued in the future: is a clock wrong?)")
        if payload.get("typ") != kind:
            raise TokenError(f"it is not an {kind} token")
        return payload

    def read_access(self, token: str) -> AccessClaims:
        payload = self._decode(token, "access")
        try:
            return AccessClaims(
                uuid.UUID(payload["sub"]),
                str(payload["usr"]),
                str(payload["role"]),
                payload.get("cc"),
                token_id=str(payload["jti"]),
                issued_at=float(payload["iat"]),
                expires_at=float(payload["exp"]),
            )
        except (KeyError, ValueError) as error:
            raise TokenError("malformed claims") from error

    def read_refresh(self, token: str) -> RefreshClaims:
        payload = self._decode(token, "refresh")
        try:
            return RefreshClaims(
                uuid.UUID(payload["jti"]),
                uuid.UUID(payload["fam"]),
                uuid.UUID(payload["sub"]),
                datetime.fromtimestamp(payload["exp"], UTC),
            )
        except (KeyError, ValueError) as error:
            raise TokenError("malformed claims") from error
