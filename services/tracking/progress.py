"""Stops on the road: which stop is next, arrival (from positions or the driver's button), ETAs, and a driver's
progress through the day's route.

The next stop is the lowest sequence still planned. A fix within 100 m of it marks it arrived, once, and records
``stop.arrived`` (stream ``events.tracking``); the stop after it becomes the one to watch. Delivered, failed and
cancelled come from the order service's events (stop_updates.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta
from itertools import groupby
from typing import Any

from prometheus_client import Counter

from services.platform.clock import Clock, taipei_date, utc_now
from services.platform.database import Database
from services.platform.errors import FieldViolation, InvalidArgument, NotFound
from services.platform.outbox import record_event
from services.tracking.days import day_bounds, parse_day
from services.tracking.geo import StraightLineTravel, haversine_m
from services.tracking.models import OUTBOX, RouteRow, StopProgressRow
from services.tracking.repository import TrackingRepository
from services.tracking.schemas import DriverProgress, FixInput, Position, StopState
from services.tracking.validation import check_moment, check_username

# Within this distance of the next stop counts as arrived (docs/domain.md#arrival).
ARRIVAL_RADIUS_M = 100.0
# A fix less accurate than the radius cannot tell whether the driver is inside it.
ARRIVAL_MAX_ACCURACY_M = 100.0
# A stop in one of these states is behind the driver.
DONE = frozenset({"delivered", "failed", "cancelled"})
STATUS_RANK = {"planned": 0, "arrived": 1, "delivered": 2, "failed": 2, "cancelled": 2}

ARRIVALS = Counter("luckygas_tracking_arrivals_total", "Stops marked arrived, by how (position, driver).", ["by"])


def stop_states(route: RouteRow, progress: Mapping[uuid.UUID, StopProgressRow]) -> list[StopState]:
    """The route's stops in sequence, each with its progress."""
    states = []
    for stop in sorted(route.stops, key=lambda item: int(item["sequence"])):
        row = progress.get(uuid.UUID(stop["stop_id"]))
        eta = stop.get("eta")
        states.append(
            StopState(
                route_id=str(route.route_id),
                stop_id=stop["stop_id"],
                order_id=stop["order_id"],
                sequence=int(stop["sequence"]),
                status="planned" if row is None else row.status,
                latitude=float(stop["latitude"]),
                longitude=float(stop["longitude"]),
                planned_eta=None if not eta else datetime.fromisoformat(eta),
                service_minutes=int(stop.get("service_minutes") or 0),
                arrived_at=None if row is None else row.arrived_at,
                arrived_by="" if row is None else row.arrived_by,
            )
        )
    return states


def next_stop(states: Sequence[StopState]) -> StopState | None:
    return next((state for state in states if state.status == "planned"), None)


def with_etas(
    states: Sequence[StopState], latest: Position | None, now: datetime, travel: StraightLineTravel
) -> list[StopState]:
    """ETAs of the stops still planned: from the latest position (else the stop the driver is at) at ``now``, in
    sequence, each stop's service time added; a driver still serving a stop leaves when its service time is up."""
    serving = [state for state in states if state.status == "arrived" and state.arrived_at is not None]
    current = max(serving, key=lambda state: (state.arrived_at, state.sequence), default=None)
    if latest is not None:
        here = (latest.latitude, latest.longitude)
    elif current is not None:
        here = (current.latitude, current.longitude)
    else:
        return list(states)
    clock = now
    if current is not None and current.arrived_at is not None:
        clock = max(clock, current.arrived_at + timedelta(minutes=current.service_minutes))
    estimated = []
    for state in states:
        if state.status != "planned":
            estimated.append(state)
            continue
        clock += timedelta(seconds=travel.seconds(*here, state.latitude, state.longitude))
        estimated.append(replace(state, eta=clock))
        clock += timedelta(minutes=state.service_minutes)
        here = (state.latitude, state.longitude)
    return estimated


def merged_status(*statuses: str | None) -> str:
    """The furthest along of the statuses known for a stop (the first of equals)."""
    found = [status for status in statuses if status in STATUS_RANK]
    return max(found, key=lambda status: STATUS_RANK[status], default="planned")


class Arrivals:
    """Marking stops arrived inside the caller's transaction (the caller holds the driver's lock)."""

    def __init__(self, repository: TrackingRepository) -> None:
        self.repository = repository
        # Within one batch's transaction (the driver's lock held), a route and its progress read once serve both
        # arrival detection and the live message; marking a stop forgets them.
        self._read: dict[tuple[str, date], tuple[RouteRow, list[StopState]] | None] = {}

    async def route_states(self, driver: str, day: date) -> tuple[RouteRow, list[StopState]] | None:
        key = (driver, day)
        if key not in self._read:
            route = await self.repository.driver_route(driver, day)
            found = (
                None if route is None else (route, stop_states(route, await self.repository.progress(route.route_id)))
            )
            self._read[key] = found
        return self._read[key]

    async def detect(self, driver: str, fixes: Sequence[FixInput]) -> list[StopState]:
        """Walk new fixes in device-time order: each within the radius of the next stop marks it arrived."""
        arrivals: list[StopState] = []
        timed = sorted(
            (
                (fix.device_time, fix)
                for fix in fixes
                if fix.device_time is not None and fix.accuracy_m <= ARRIVAL_MAX_ACCURACY_M
            ),
            key=lambda item: item[0],
        )
        for day, day_fixes in groupby(timed, key=lambda item: taipei_date(item[0])):
            found = await self.route_states(driver, day)
            if found is None:
                continue
            route, states = found
            pending = [state for state in states if state.status == "planned"]
            index = 0
            for device_time, fix in day_fixes:
                while (
                    index < len(pending)
                    and haversine_m(fix.latitude, fix.longitude, pending[index].latitude, pending[index].longitude)
                    <= ARRIVAL_RADIUS_M
                ):
                    marked = await self.mark(route, pending[index], device_time, "position")
                    if marked is not None:
                        arrivals.append(marked)
                    index += 1
        return arrivals

    async def mark(self, route: RouteRow, state: StopState, at: datetime, by: str) -> StopState | None:
        """planned → arrived and the ``stop.arrived`` event, once; None if the stop was no longer planned."""
        row = await self.repository.mark_arrived(route.route_id, uuid.UUID(state.stop_id), at, by)
        self._read.clear()
        if row is None:
            return None
        await record_event(
            self.repository.session,
            OUTBOX,
            aggregate="tracking",
            type="stop.arrived",
            aggregate_id=state.stop_id,
            aggregate_version=1,
            payload={
                "route_id": state.route_id,
                "stop_id": state.stop_id,
                "order_id": state.order_id,
                "driver": route.driver,
                "arrived_at": at.isoformat(),
                "arrived_by": by,
            },
        )
        return replace(state, status="arrived", arrived_at=at, arrived_by=by, eta=None)


class ProgressService:
    def __init__(self, database: Database, travel: StraightLineTravel, *, clock: Clock = utc_now) -> None:
        self.database = database
        self.travel = travel
        self.clock = clock

    async def driver_progress(self, driver: str, day_text: str) -> DriverProgress:
        now = self.clock()
        check_username(driver, "driver")
        day = parse_day(day_text, now)
        _, day_end = day_bounds(day)
        async with self.database.session() as session:
            repository = TrackingRepository(session)
            found = await Arrivals(repository).route_states(driver, day)
            if found is None:
                raise NotFound(f"{driver} has no route on {day}")
            route, states = found
            row = await repository.latest_position(driver, before=day_end)
        latest = None if row is None else Position.from_row(row)
        if day == taipei_date(now):
            states = with_etas(states, latest, now, self.travel)
        return DriverProgress(driver=driver, route_id=str(route.route_id), date=day, stops=states, latest=latest)

    async def mark_arrived(self, driver: str, stop_id: str, at: datetime | None) -> StopState:
        now = self.clock()
        violations: list[FieldViolation] = []
        check_username(driver, "driver", violations)
        try:
            stop_uuid = uuid.UUID(stop_id)
        except ValueError:
            violations.append(FieldViolation("stop_id", "a stop id (UUID)"))
        at = now if at is None else at
        check_moment(at, now, "at", violations)
        if violations:
            raise InvalidArgument.from_violations(violations)
        async with self.database.session() as session:
            repository = TrackingRepository(session)
            await repository.lock_driver(driver)
            found = await repository.stop_with_route(stop_uuid)
            # Another driver's stop looks exactly like a missing one: a driver learns nothing of other routes.
            if found is None or found[1].driver != driver:
                raise NotFound(f"stop {stop_id} is on no route of {driver} known to tracking")
            _, route = found
            state = await self._state(repository, route, stop_uuid)
            if state.status != "planned":
                return state  # already arrived, delivered, failed or cancelled: repeating is a no-op
            marked = await Arrivals(repository).mark(route, state, at, "driver")
            if marked is None:  # an order event moved it on between the read and the update
                return await self._state(repository, route, stop_uuid)
        ARRIVALS.labels("driver").inc()
        return marked

    @staticmethod
    async def _state(repository: TrackingRepository, route: RouteRow, stop_id: uuid.UUID) -> StopState:
        states = stop_states(route, await repository.progress(route.route_id))
        found = next((state for state in states if uuid.UUID(state.stop_id) == stop_id), None)
        if found is None:
            raise NotFound(f"stop {stop_id} is no longer on route {route.route_id}")
        return found


def next_stop_summary(states: Sequence[StopState]) -> dict[str, Any] | None:
    """The next stop as the live feed carries it (``next_stop`` of a ``positions.live`` message)."""
    upcoming = next_stop(states)
    if upcoming is None:
        return None
    return {
        "route_id": upcoming.route_id,
        "stop_id": upcoming.stop_id,
        "order_id": upcoming.order_id,
        "sequence": upcoming.sequence,
        "eta": None if upcoming.eta is None else upcoming.eta.isoformat(),
    }
