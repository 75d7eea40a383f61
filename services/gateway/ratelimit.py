"""Fixed-window counters in Redis, shared by every gateway process (login flood protection)."""

from __future__ import annotations

import logging

import redis.asyncio as aioredis
from prometheus_client import Counter
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from services.gateway.errors import TooManyRequests

_log = logging.getLogger(__name__)

LIMITER_UNAVAILABLE = Counter(
    "luckygas_gateway_ratelimit_unavailable_total", "Rate-limit checks skipped because Redis was unreachable."
)


class RateLimiter:
    def __init__(self, redis: aioredis.Redis, prefix: str, limit: int, window_seconds: int) -> None:
        self.redis = redis
        self.prefix = prefix
        self.limit = limit
        self.window_seconds = window_seconds

    async def hit(self, key: str) -> None:
        """Count one attempt for ``key``; raise TooManyRequests with the seconds left in the window."""
        name = f"{self.prefix}:{key}"
        try:
            async with self.redis.pipeline(transaction=True) as pipeline:
                # SET NX EX starts the window on the first attempt (EXPIRE NX needs Redis 7; we support 6.2).
                pipeline.set(name, 0, ex=self.window_seconds, nx=True)
                pipeline.incr(name)
                pipeline.ttl(name)
                _, count, ttl = await pipeline.execute()
        except (RedisConnectionError, RedisTimeoutError, OSError):
            # Fail open: account lockout still bounds password guessing, and login must not depend on Redis.
            LIMITER_UNAVAILABLE.inc()
            _log.warning("rate limiter unavailable; allowing the request", exc_info=True)
            return
        if int(count) > self.limit:
            raise TooManyRequests(max(int(ttl), 1))
