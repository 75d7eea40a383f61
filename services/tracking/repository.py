"""SQL for drivers, positions, routes and stop progress. Repositories flush, never commit: the session scope owns
the transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import DateTime, Float, String, bindparam, exists, func, select, true, update
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.types import TypeEngine

from services.tracking.models import (
    DeliveryOutcomeRow,
    DriverRow,
    PositionBatchRow,
    PositionRow,
    RouteRow,
    StopProgressRow,
)

# A fix's columns as insert_positions sends them, one array each.
_FIX_COLUMNS: dict[str, TypeEngine[Any]] = {
    "device_time": DateTime(timezone=True),
    "latitude": Float(),
    "longitude": Float(),
    "accuracy_m": Float(),
    "speed_mps": Float(),
    "heading_deg": Float(),
    "battery": Float(),
}


class TrackingRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- drivers -----------------------------------------------------------------------------------------------

    async def put_driver(self, values: dict[str, Any]) -> DriverRow:
        changes = {key: value for key, value in values.items() if key != "username"}
        statement = (
            insert(DriverRow)
            .values(on_road=False, **values)
            .on_conflict_do_update(index_elements=[DriverRow.username], set_={**changes, "updated_at": func.now()})
            .returning(DriverRow)
        )
        return (await self.session.execute(statement)).scalar_one()

    async def drivers(self) -> Sequence[DriverRow]:
        return (await self.session.execute(select(DriverRow).order_by(DriverRow.username))).scalars().all()

    async def driver(self, username: str, *, for_update: bool = False) -> DriverRow | None:
        statement = select(DriverRow).where(DriverRow.username == username)
        if for_update:
            statement = statement.with_for_update()
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def lock_driver(self, username: str) -> None:
        """Serialises the position batches and arrivals of one driver until the transaction ends."""
        await self.session.execute(select(_driver_lock(username)))

    async def lock_known_driver(self, username: str) -> bool:
        """``lock_driver`` and whether the driver is known, in one round trip. The answer comes from the statement's
        snapshot, taken before the lock was granted: right for a row that is created once and never removed, and
        never to be used for anything the lock protects (read that in a statement after this one)."""
        known = exists().where(DriverRow.username == username)
        return bool((await self.session.execute(select(_driver_lock(username), known))).one()[1])

    # --- batches and positions ---------------------------------------------------------------------------------

    async def start_batch(self, driver: str, batch_id: str, received_at: datetime) -> bool:
        """Claims the batch id; False when it was seen before (its first answer is then in ``batch_response``)."""
        statement = (
            insert(PositionBatchRow)
            .values(driver=driver, batch_id=batch_id, received_at=received_at)
            .on_conflict_do_nothing()
            .returning(PositionBatchRow.batch_id)
        )
        return (await self.session.execute(statement)).scalar_one_or_none() is not None

    async def batch_response(self, driver: str, batch_id: str) -> dict[str, Any] | None:
        statement = select(PositionBatchRow.response).where(
            PositionBatchRow.driver == driver, PositionBatchRow.batch_id == batch_id
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def finish_batch(self, driver: str, batch_id: str, response: dict[str, Any]) -> None:
        statement = (
            update(PositionBatchRow)
            .where(PositionBatchRow.driver == driver, PositionBatchRow.batch_id == batch_id)
            .values(response=response)
        )
        await self.session.execute(statement)

    async def insert_positions(
        self, driver: str, received_at: datetime, fixes: Sequence[dict[str, Any]]
    ) -> list[datetime]:
        """One INSERT … SELECT FROM unnest(…) ON CONFLICT DO NOTHING RETURNING for the whole batch; returns the
        device times actually stored (the others were stored before).

        The fixes travel as one array per column: a fixed statement of nine parameters, compiled and planned once,
        whatever the batch size (a VALUES list would take nine parameters per fix and be compiled every time).
        """
        rows = (
            func.unnest(
                *(
                    bindparam(column, [fix[column] for fix in fixes], type_=ARRAY(kind))
                    for column, kind in _FIX_COLUMNS.items()
                )
            )
            .table_valued(*_FIX_COLUMNS)
            .render_derived(name="fix")
        )
        statement = (
            insert(PositionRow)
            .from_select(
                ["driver", "received_at", *_FIX_COLUMNS],
                select(
                    bindparam("driver", driver, type_=String()),
                    bindparam("received_at", received_at, type_=DateTime(timezone=True)),
                    *(rows.c[column] for column in _FIX_COLUMNS),
                ),
            )
            .on_conflict_do_nothing(index_elements=[PositionRow.driver, PositionRow.device_time])
            .returning(PositionRow.device_time)
        )
        return list((await self.session.execute(statement)).scalars().all())

    async def latest_position(self, driver: str, before: datetime | None = None) -> PositionRow | None:
        """The driver's newest fix (before ``before`` when given): one backward step along the primary key."""
        statement = select(PositionRow).where(PositionRow.driver == driver)
        if before is not None:
            statement = statement.where(PositionRow.device_time < before)
        statement = statement.order_by(PositionRow.device_time.desc()).limit(1)
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def latest_positions(self, since: datetime) -> Sequence[PositionRow]:
        """Each known driver's newest fix, if it is not older than ``since`` (one index step per driver)."""
        newest = (
            select(PositionRow)
            .where(PositionRow.driver == DriverRow.username, PositionRow.device_time >= since)
            .order_by(PositionRow.device_time.desc())
            .limit(1)
            .correlate(DriverRow)
            .lateral()
        )
        position = aliased(PositionRow, newest)
        statement = select(position).select_from(DriverRow).join(newest, true()).order_by(DriverRow.username)
        return (await self.session.execute(statement)).scalars().all()

    async def track(self, driver: str, start: datetime, end: datetime) -> Sequence[PositionRow]:
        """Fixes with start <= device_time < end in device-time order: one range scan of the primary key."""
        statement = (
            select(PositionRow)
            .where(PositionRow.driver == driver, PositionRow.device_time >= start, PositionRow.device_time < end)
            .order_by(PositionRow.device_time)
        )
        return (await self.session.execute(statement)).scalars().all()

    # --- routes and stop progress ------------------------------------------------------------------------------

    async def lock_stop_updates(self) -> None:
        """Serialises route and order events until the transaction ends: an outcome and a new route's stops, read
        by two consumers at once, would each miss the other."""
        await self.session.execute(select(func.pg_advisory_xact_lock(func.hashtext("tracking.stop_updates"))))

    async def put_route(self, values: dict[str, Any]) -> bool:
        """Keeps the route as announced, unless a newer version is already kept; True when written."""
        changes = {key: value for key, value in values.items() if key != "route_id"}
        statement = (
            insert(RouteRow)
            .values(**values)
            .on_conflict_do_update(
                index_elements=[RouteRow.route_id],
                set_={**changes, "updated_at": func.now()},
                where=RouteRow.version <= insert(RouteRow).excluded.version,
            )
            .returning(RouteRow.route_id)
        )
        return (await self.session.execute(statement)).scalar_one_or_none() is not None

    async def route(self, route_id: uuid.UUID) -> RouteRow | None:
        return await self.session.get(RouteRow, route_id)

    async def driver_route(self, driver: str, day: date) -> RouteRow | None:
        """The driver's route on ``day``: the one announced last if a re-publication left more than one."""
        statement = (
            select(RouteRow)
            .where(RouteRow.driver == driver, RouteRow.date == day)
            .order_by(RouteRow.updated_at.desc())
            .limit(1)
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def progress(self, route_id: uuid.UUID, *, for_update: bool = False) -> dict[uuid.UUID, StopProgressRow]:
        statement = select(StopProgressRow).where(StopProgressRow.route_id == route_id)
        if for_update:
            statement = statement.with_for_update()
        return {row.stop_id: row for row in (await self.session.execute(statement)).scalars()}

    async def add(self, rows: Sequence[object]) -> None:
        self.session.add_all(rows)
        await self.session.flush()

    async def delete(self, rows: Sequence[object]) -> None:
        for row in rows:
            await self.session.delete(row)
        await self.session.flush()

    async def stop_with_route(self, stop_id: uuid.UUID) -> tuple[StopProgressRow, RouteRow] | None:
        """A stop and its route (the one announced last, should a re-optimisation have moved it)."""
        statement = (
            select(StopProgressRow, RouteRow)
            .join(RouteRow, RouteRow.route_id == StopProgressRow.route_id)
            .where(StopProgressRow.stop_id == stop_id)
            .order_by(RouteRow.updated_at.desc())
            .limit(1)
        )
        found = (await self.session.execute(statement)).first()
        return None if found is None else (found[0], found[1])

    async def mark_arrived(
        self, route_id: uuid.UUID, stop_id: uuid.UUID, at: datetime, by: str
    ) -> StopProgressRow | None:
        """planned → arrived, atomically: None when the stop had already moved on (so it is marked once)."""
        statement = (
            update(StopProgressRow)
            .where(
                StopProgressRow.route_id == route_id,
                StopProgressRow.stop_id == stop_id,
                StopProgressRow.status == "planned",
            )
            .values(status="arrived", arrived_at=at, arrived_by=by, updated_at=func.now())
            .returning(StopProgressRow)
            .execution_options(synchronize_session=False)
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def put_outcome(self, order_id: uuid.UUID, status: str, occurred_at: datetime) -> None:
        statement = (
            insert(DeliveryOutcomeRow)
            .values(order_id=order_id, status=status, occurred_at=occurred_at)
            .on_conflict_do_update(
                index_elements=[DeliveryOutcomeRow.order_id], set_={"status": status, "occurred_at": occurred_at}
            )
        )
        await self.session.execute(statement)

    async def outcomes(self, order_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
        if not order_ids:
            return {}
        statement = select(DeliveryOutcomeRow).where(DeliveryOutcomeRow.order_id.in_(order_ids))
        return {row.order_id: row.status for row in (await self.session.execute(statement)).scalars()}

    async def set_stop_outcome(self, order_id: uuid.UUID, status: str) -> None:
        statement = (
            update(StopProgressRow)
            .where(StopProgressRow.order_id == order_id)
            .values(status=status, updated_at=func.now())
            .execution_options(synchronize_session=False)
        )
        await self.session.execute(statement)


def _driver_lock(username: str) -> Any:
    return func.pg_advisory_xact_lock(func.hashtext(f"tracking.driver:{username}"))
