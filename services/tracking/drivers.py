"""Drivers and their time on the road. Clocking in or out again is a no-op that keeps the first time.

Positions do not depend on it: a phone syncing its offline backlog after clock-out still has every fix stored.
"""

from __future__ import annotations

from datetime import datetime

from services.platform.clock import Clock, utc_now
from services.platform.database import Database
from services.platform.errors import FieldViolation, InvalidArgument, NotFound
from services.tracking.repository import TrackingRepository
from services.tracking.schemas import Driver, DriverInput
from services.tracking.validation import check_driver, check_moment, check_username


class DriverService:
    def __init__(self, database: Database, *, clock: Clock = utc_now) -> None:
        self.database = database
        self.clock = clock

    async def put(self, driver: DriverInput, actor: str) -> Driver:
        checked = check_driver(driver)
        async with self.database.session() as session:
            row = await TrackingRepository(session).put_driver(
                {
                    "username": checked.username,
                    "name": checked.name,
                    "phone": checked.phone,
                    "vehicle_kind": checked.vehicle_kind,
                    "updated_by": actor[:50],
                }
            )
            return Driver.from_row(row)

    async def drivers(self) -> list[Driver]:
        async with self.database.read_session() as session:
            return [Driver.from_row(row) for row in await TrackingRepository(session).drivers()]

    async def clock_in(self, username: str, at: datetime | None) -> Driver:
        return await self._clock(username, at, on_road=True)

    async def clock_out(self, username: str, at: datetime | None) -> Driver:
        return await self._clock(username, at, on_road=False)

    async def _clock(self, username: str, at: datetime | None, *, on_road: bool) -> Driver:
        now = self.clock()
        found: list[FieldViolation] = []
        check_username(username, "driver", found)
        at = now if at is None else at
        check_moment(at, now, "at", found)
        if found:
            raise InvalidArgument.from_violations(found)
        async with self.database.session() as session:
            row = await TrackingRepository(session).driver(username, for_update=True)
            if row is None:
                raise NotFound(f"no driver {username} is known")
            if row.on_road == on_road:
                return Driver.from_row(row)  # already so: the first time stands
            row.on_road = on_road
            row.updated_at = now
            if on_road:
                row.clocked_in_at = at
            else:
                row.clocked_out_at = at
            await session.flush()
            return Driver.from_row(row)
