"""Positions from the drivers' phones: batches stored once, the latest position kept live, tracks for a day.

A batch is one transaction: claim its id (a batch seen before gets its first answer back), store its fixes in one
multi-row insert that skips fixes already stored, mark stops arrived from the new fixes, keep the answer. After the
commit the driver's latest position moves forward in Redis and is published on ``positions.live``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from prometheus_client import Counter, Histogram

from services.platform.clock import Clock, taipei_date, utc_now
from services.platform.database import Database
from services.platform.errors import FieldViolation, InvalidArgument, NotFound
from services.tracking.days import day_bounds, parse_day
from services.tracking.geo import StraightLineTravel, path_length_m
from services.tracking.live import LivePositions
from services.tracking.progress import ARRIVALS, Arrivals, next_stop_summary, with_etas
from services.tracking.repository import TrackingRepository
from services.tracking.schemas import BatchResult, FixInput, Position, Track
from services.tracking.validation import check_batch, check_username, listed

# ListLivePositions without max_age_seconds, and the freshness FindNearestDrivers asks of a position.
DEFAULT_LIVE_MAX_AGE_SECONDS = 15 * 60
MAX_LIVE_AGE_SECONDS = 7 * 24 * 3600
DEFAULT_NEAREST = 5
MAX_NEAREST = 50
MAX_RADIUS_M = 100_000
# A track answer stays well under gRPC's 4 MB message limit: a longer day (a phone sending every second) is thinned
# evenly, first and last fixes kept; its distance is still measured along every fix.
MAX_TRACK_POSITIONS = 20_000

STORED = Counter("luckygas_tracking_positions_stored_total", "GPS fixes stored.")
DUPLICATES = Counter(
    "luckygas_tracking_positions_duplicate_total", "GPS fixes received again (same driver and device time)."
)
BATCHES = Counter("luckygas_tracking_batches_total", "Position batches received, by outcome.", ["outcome"])
BATCH_SIZE = Histogram(
    "luckygas_tracking_batch_fixes",
    "Fixes per position batch.",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000),
)


class PositionService:
    def __init__(
        self, database: Database, live: LivePositions, travel: StraightLineTravel, *, clock: Clock = utc_now
    ) -> None:
        self.database = database
        self.live_positions = live
        self.travel = travel
        self.clock = clock

    async def record(self, driver: str, batch_id: str, fixes: Sequence[FixInput]) -> BatchResult:
        now = self.clock()
        violations = check_batch(driver, batch_id, fixes, now)
        async with self.database.session() as session:
            repository = TrackingRepository(session)
            named = not any(violation.field == "driver" for violation in violations)
            if named and not await repository.lock_known_driver(driver):
                violations.insert(0, FieldViolation("driver", f"no driver {driver} is known"))
            if violations:
                raise InvalidArgument.from_violations(listed(violations))
            arrivals = Arrivals(repository)
            if await repository.start_batch(driver, batch_id, now):
                result = await self._store(repository, arrivals, driver, fixes, now)
                await repository.finish_batch(driver, batch_id, result.to_json())
            else:
                stored = await repository.batch_response(driver, batch_id)
                assert stored is not None  # written in the transaction that claimed the id
                result = BatchResult.replay(stored)
            message = None if result.latest is None else await self._live_message(arrivals, result.latest, now)
        BATCHES.labels("replayed" if result.replayed else "stored").inc()
        if not result.replayed:
            BATCH_SIZE.observe(len(fixes))
            STORED.inc(result.stored)
            DUPLICATES.inc(result.duplicates)
            ARRIVALS.labels("position").inc(len(result.arrivals))
        if result.latest is not None and message is not None:
            # Also after a replay: had Redis been away the first time, this puts the latest position right.
            await self.live_positions.update(result.latest, message)
        return result

    async def _store(
        self,
        repository: TrackingRepository,
        arrivals: Arrivals,
        driver: str,
        fixes: Sequence[FixInput],
        now: datetime,
    ) -> BatchResult:
        unique: dict[datetime, FixInput] = {}
        for fix in fixes:
            assert fix.device_time is not None  # checked
            unique.setdefault(fix.device_time, fix)
        rows = [
            {
                "device_time": device_time,
                "latitude": fix.latitude,
                "longitude": fix.longitude,
                "accuracy_m": fix.accuracy_m,
                "speed_mps": fix.speed_mps,
                "heading_deg": fix.heading_deg,
                "battery": fix.battery,
            }
            for device_time, fix in unique.items()
        ]
        stored = set(await repository.insert_positions(driver, now, rows))
        arrived = await arrivals.detect(driver, [unique[device_time] for device_time in stored])
        latest = await repository.latest_position(driver)
        return BatchResult(
            stored=len(stored),
            duplicates=len(fixes) - len(stored),
            replayed=False,
            latest=None if latest is None else Position.from_row(latest),
            arrivals=arrived,
        )

    async def _live_message(self, arrivals: Arrivals, latest: Position, now: datetime) -> dict[str, Any]:
        """What ``positions.live`` carries: the position and the driver's next stop on that day's route with its
        ETA (null when there is no route or nothing is left to do)."""
        found = await arrivals.route_states(latest.driver, taipei_date(latest.device_time))
        summary = None
        if found is not None:
            summary = next_stop_summary(with_etas(found[1], latest, now, self.travel))
        return {**latest.to_json(), "next_stop": summary}

    async def live(self, max_age_seconds: int) -> list[Position]:
        if max_age_seconds == 0:
            max_age_seconds = DEFAULT_LIVE_MAX_AGE_SECONDS
        if not 0 < max_age_seconds <= MAX_LIVE_AGE_SECONDS:
            raise InvalidArgument.for_field("max_age_seconds", f"from 1 to {MAX_LIVE_AGE_SECONDS}; 0 = 15 minutes")
        return await self.live_positions.live(self.clock() - timedelta(seconds=max_age_seconds))

    async def nearest(self, latitude: float, longitude: float, radius_m: float, limit: int) -> list[Position]:
        """Drivers whose latest position is within the radius and at most 15 minutes old, nearest first."""
        found: list[FieldViolation] = []
        if not -85.05112878 <= latitude <= 85.05112878:  # Redis GEO's range; -90..90 otherwise
            found.append(FieldViolation("latitude", "must be between -85.05 and 85.05"))
        if not -180 <= longitude <= 180:
            found.append(FieldViolation("longitude", "must be between -180 and 180"))
        if not 1 <= radius_m <= MAX_RADIUS_M:
            found.append(FieldViolation("radius_m", f"from 1 to {MAX_RADIUS_M} metres"))
        if limit == 0:
            limit = DEFAULT_NEAREST
        if not 1 <= limit <= MAX_NEAREST:
            found.append(FieldViolation("limit", f"from 1 to {MAX_NEAREST}; 0 = {DEFAULT_NEAREST}"))
        if found:
            raise InvalidArgument.from_violations(found)
        since = self.clock() - timedelta(seconds=DEFAULT_LIVE_MAX_AGE_SECONDS)
        return await self.live_positions.nearest(latitude, longitude, radius_m, since, limit)

    async def track(self, driver: str, day_text: str) -> Track:
        check_username(driver, "driver")
        day = parse_day(day_text, self.clock())
        start, end = day_bounds(day)
        async with self.database.session() as session:
            repository = TrackingRepository(session)
            if await repository.driver(driver) is None:
                raise NotFound(f"no driver {driver} is known")
            rows = await repository.track(driver, start, end)
        positions = [Position.from_row(row) for row in rows]
        distance = path_length_m((position.latitude, position.longitude) for position in positions)
        if len(positions) > MAX_TRACK_POSITIONS:
            step = len(positions) / (MAX_TRACK_POSITIONS - 1)
            positions = [positions[round(index * step)] for index in range(MAX_TRACK_POSITIONS - 1)] + [positions[-1]]
        return Track(driver=driver, date=day, positions=positions, distance_m=distance)

    async def restore_live(self) -> int:
        """Put each driver's latest position of the past week back in Redis (a start after Redis lost its data)."""
        async with self.database.session() as session:
            rows = await TrackingRepository(session).latest_positions(self.clock() - timedelta(days=7))
        return await self.live_positions.restore([Position.from_row(row) for row in rows])
