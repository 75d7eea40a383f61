"""Access tokens ended before they expire: a deny-list in Redis, shared by every gateway process.

A logout denies its access token's id (``jti``) until the token would have expired anyway; "log out everywhere"
denies every token of the user issued up to that moment. Both keys expire with the last token they can match, so the
list stays as small as the logins of the last few minutes. Every authenticated request and every open live-feed
socket asks here: one MGET.

When Redis cannot answer, the check lets the token through (counted and logged), as the login rate limiter does:
the token still expires within minutes, and the API must not stop with Redis (docs/architecture.md, Auth). A
revocation itself that cannot be written is a 503: the client is told to try again, not that it worked.
"""

from __future__ import annotations

import logging
import math
import uuid

import redis.asyncio as aioredis
from prometheus_client import Counter
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from services.gateway.tokens import AccessClaims
from services.platform import clock
from services.platform.errors import Unavailable

_log = logging.getLogger(__name__)

PREFIX = "luckygas:gateway:revoked"
REVOKED = Counter("luckygas_gateway_tokens_revoked_total", "Access tokens ended before expiry, by how.", ["scope"])
DENIED = Counter("luckygas_gateway_revoked_token_uses_total", "Requests and sockets refused a revoked access token.")
UNCHECKED = Counter(
    "luckygas_gateway_revocation_unavailable_total", "Revocation checks skipped because Redis was unreachable."
)


class Revocations:
    def __init__(self, redis: aioredis.Redis, access_seconds: int) -> None:
        self.redis = redis
        self.access_seconds = access_seconds

    async def revoke_token(self, claims: AccessClaims) -> None:
        """Deny this one token until it expires (logout)."""
        await self._deny(f"{PREFIX}:token:{claims.token_id}", "1", _seconds_left(claims.expires_at))
        REVOKED.labels("token").inc()

    async def revoke_user(self, user_id: uuid.UUID) -> None:
        """Deny every token of the user issued until now (log out everywhere, a password change, a disabled user)."""
        # Kept for as long as a token issued before the cut-off can live.
        await self._deny(f"{PREFIX}:user:{user_id}", repr(clock.timestamp()), self.access_seconds + 1)
        REVOKED.labels("user").inc()

    async def _deny(self, key: str, value: str, seconds: int) -> None:
        try:
            await self.redis.set(key, value, ex=seconds)
        except (RedisConnectionError, RedisTimeoutError, OSError) as error:
            raise Unavailable("the session could not be ended just now; try again") from error

    async def is_revoked(self, claims: AccessClaims) -> bool:
        try:
            token, cutoff = await self.redis.mget(
                f"{PREFIX}:token:{claims.token_id}", f"{PREFIX}:user:{claims.user_id}"
            )
        except (RedisConnectionError, RedisTimeoutError, OSError):
            UNCHECKED.inc()
            _log.warning("revocation list unavailable; allowing the token until it expires", exc_info=True)
            return False
        revoked = token is not None or (cutoff is not None and claims.issued_at <= float(cutoff))
        if revoked:
            DENIED.inc()
        return revoked


def _seconds_left(expires_at: float) -> int:
    return max(1, math.ceil(expires_at - clock.timestamp()))
