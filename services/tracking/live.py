"""Drivers' latest positions in Redis: the live map, nearest-driver queries and the ``positions.live`` channel.

Three keys, kept in step by one Lua script, so a late batch never moves a driver backwards:
- ``tracking:positions:latest``: hash, driver → the latest position as JSON (Position.to_json);
- ``tracking:positions:geo``: GEO set of the same positions, for GEOSEARCH;
- ``tracking:positions:seen``: sorted set, driver → that position's device time in microseconds since the epoch.
Postgres keeps every fix and is the truth; this is a projection that a later batch (or restore()) repairs.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.platform.errors import Unavailable
from services.tracking.schemas import Position

LATEST_KEY = "tracking:positions:latest"
GEO_KEY = "tracking:positions:geo"
SEEN_KEY = "tracking:positions:seen"
# Pub/sub channel: a driver's new latest position (LivePositions.update's ``message``), for the gateway.
CHANNEL = "positions.live"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_log = logging.getLogger(__name__)

# Moves a driver's latest position forward only: a position not newer than the one held changes nothing and is not
# published. Redis GEO indexes latitudes within ±85.05112878° only; a position beyond (valid GPS, never in Taiwan)
# is kept as latest but leaves the GEO set.
_UPDATE = """
local held = redis.call('ZSCORE', KEYS[3], ARGV[1])
if held and tonumber(held) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[5])
if math.abs(tonumber(ARGV[4])) <= 85.05112878 then
  redis.call('GEOADD', KEYS[2], ARGV[3], ARGV[4], ARGV[1])
else
  redis.call('ZREM', KEYS[2], ARGV[1])
end
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
redis.call('PUBLISH', ARGV[7], ARGV[6])
return 1
"""

_LIVE = """
local found = {}
for _, driver in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], '+inf')) do
  local position = redis.call('HGET', KEYS[2], driver)
  if position then
    table.insert(found, position)
  end
end
return found
"""

# Nearest first within the radius, skipping positions older than the cutoff, at most ARGV[5] of them. No COUNT
# on GEOSEARCH: a stale driver nearby must not take the place of a live one further away.
_NEAREST = """
local found = {}
local limit = tonumber(ARGV[5])
local within = redis.call('GEOSEARCH', KEYS[1], 'FROMLONLAT', ARGV[1], ARGV[2], 'BYRADIUS', ARGV[3], 'm', 'ASC',
  'WITHDIST')
for _, item in ipairs(within) do
  if #found >= limit then
    break
  end
  local seen = redis.call('ZSCORE', KEYS[2], item[1])
  if seen and tonumber(seen) >= tonumber(ARGV[4]) then
    local position = redis.call('HGET', KEYS[3], item[1])
    if position then
      table.insert(found, {item[2], position})
    end
  end
end
return found
"""


def microseconds(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class LivePositions:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._update = redis.register_script(_UPDATE)
        self._live = redis.register_script(_LIVE)
        self._nearest = redis.register_script(_NEAREST)

    async def update(self, position: Position, message: dict[str, Any]) -> bool:
        """Make ``position`` the driver's latest unless a newer one is held; when it is, publish ``message``.

        True when it moved forward. Redis being away is logged, not raised: the fixes are stored, and the next
        batch puts the latest position right.
        """
        try:
            moved = await self._update(
                keys=[LATEST_KEY, GEO_KEY, SEEN_KEY],
                args=[
                    position.driver,
                    microseconds(position.device_time),
                    position.longitude,
                    position.latitude,
                    json.dumps(position.to_json(), separators=(",", ":")),
                    json.dumps(message, ensure_ascii=False, separators=(",", ":")),
                    CHANNEL,
                ],
            )
        except (RedisError, OSError):
            _log.warning("latest position not updated: Redis unavailable", extra={"driver": position.driver})
            return False
        return bool(moved)

    async def restore(self, positions: Sequence[Position]) -> int:
        """Put back positions kept in Postgres (after Redis lost its data); returns how many moved forward."""
        restored = 0
        for position in positions:
            restored += await self.update(position, {**position.to_json(), "next_stop": None})
        return restored

    async def live(self, since: datetime) -> list[Position]:
        """Every driver's latest position whose device time is ``since`` or later, by driver."""
        try:
            found = await self._live(keys=[SEEN_KEY, LATEST_KEY], args=[microseconds(since)])
        except (RedisError, OSError) as error:
            raise Unavailable("live positions are unavailable: Redis cannot be reached") from error
        positions = [Position.from_json(json.loads(_text(item))) for item in found]
        return sorted(positions, key=lambda position: position.driver)

    async def nearest(
        self, latitude: float, longitude: float, radius_m: float, since: datetime, limit: int
    ) -> list[Position]:
        """Latest positions (device time ``since`` or later) within ``radius_m`` of the point, nearest first."""
        try:
            found = await self._nearest(
                keys=[GEO_KEY, SEEN_KEY, LATEST_KEY],
                args=[longitude, latitude, radius_m, microseconds(since), limit],
            )
        except (RedisError, OSError) as error:
            raise Unavailable("nearest drivers are unavailable: Redis cannot be reached") from error
        return [Position.from_json(json.loads(_text(position)), float(_text(distance))) for distance, position in found]
