"""SQL for the fleet and the plans. Repositories flush, never commit: the session scope owns the transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.routing.models import DepotRow, PlanRow, RouteRow, ShiftRow, StopRow, VehicleRow


@dataclass(frozen=True)
class ShiftWithVehicle:
    shift: ShiftRow
    vehicle: VehicleRow


@dataclass
class PlanDocument:
    """A plan with its routes (in plate order) and each route's stops (in sequence)."""

    plan: PlanRow
    routes: list[RouteRow]
    stops: dict[uuid.UUID, list[StopRow]]  # route id → stops


class FleetRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def put_depot(self, code: str, name: str, latitude: float, longitude: float) -> DepotRow:
        statement = (
            insert(DepotRow)
            .values(id=uuid.uuid4(), code=code, name=name, latitude=latitude, longitude=longitude)
            .on_conflict_do_update(
                index_elements=[DepotRow.code],
                set_={"name": name, "latitude": latitude, "longitude": longitude, "updated_at": func.now()},
            )
            .returning(DepotRow)
        )
        return (await self.session.execute(statement)).scalar_one()

    async def depots(self) -> Sequence[DepotRow]:
        return (await self.session.execute(select(DepotRow).order_by(DepotRow.code))).scalars().all()

    async def depot(self, code: str) -> DepotRow | None:
        return (await self.session.execute(select(DepotRow).where(DepotRow.code == code))).scalar_one_or_none()

    async def depot_by_id(self, depot_id: uuid.UUID) -> DepotRow | None:
        return await self.session.get(DepotRow, depot_id)

    async def put_vehicle(self, values: dict[str, Any]) -> VehicleRow:
        changes = {key: value for key, value in values.items() if key != "plate"}
        statement = (
            insert(VehicleRow)
            .values(id=uuid.uuid4(), version=1, **values)
            .on_conflict_do_update(
                index_elements=[VehicleRow.plate],
                set_={**changes, "version": VehicleRow.version + 1, "updated_at": func.now()},
            )
            .returning(VehicleRow)
        )
        return (await self.session.execute(statement)).scalar_one()

    async def vehicles(self, *, include_inactive: bool) -> Sequence[VehicleRow]:
        statement = select(VehicleRow).order_by(VehicleRow.plate)
        if not include_inactive:
            statement = statement.where(VehicleRow.active)
        return (await self.session.execute(statement)).scalars().all()

    async def vehicle(self, plate: str) -> VehicleRow | None:
        return (await self.session.execute(select(VehicleRow).where(VehicleRow.plate == plate))).scalar_one_or_none()

    async def driver_shift(self, driver: str, day: date) -> ShiftRow | None:
        statement = select(ShiftRow).where(ShiftRow.driver == driver, ShiftRow.date == day)
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def put_shift(self, values: dict[str, Any]) -> ShiftRow:
        changes = {key: value for key, value in values.items() if key not in ("vehicle_id", "date")}
        statement = (
            insert(ShiftRow)
            .values(id=uuid.uuid4(), **values)
            .on_conflict_do_update(index_elements=[ShiftRow.vehicle_id, ShiftRow.date], set_=changes)
            .returning(ShiftRow)
        )
        return (await self.session.execute(statement)).scalar_one()

    async def shifts(self, day: date) -> list[ShiftWithVehicle]:
        statement = (
            select(ShiftRow, VehicleRow)
            .join(VehicleRow, VehicleRow.id == ShiftRow.vehicle_id)
            .where(ShiftRow.date == day)
            .order_by(VehicleRow.plate)
        )
        return [ShiftWithVehicle(shift, vehicle) for shift, vehicle in (await self.session.execute(statement)).all()]

    async def delete_shift(self, vehicle_id: uuid.UUID, day: date) -> bool:
        statement = delete(ShiftRow).where(ShiftRow.vehicle_id == vehicle_id, ShiftRow.date == day)
        result = await self.session.execute(statement)
        return bool(result.rowcount)  # type: ignore[attr-defined]


class PlanRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def by_request_id(self, request_id: str) -> PlanRow | None:
        statement = select(PlanRow).where(PlanRow.request_id == request_id)
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def lock_request(self, request_id: str) -> None:
        """Serialises plannings that carry one request id (a retry racing its original) until the transaction ends."""
        await self.session.execute(select(func.pg_advisory_xact_lock(func.hashtext(f"routing.request:{request_id}"))))

    async def lock_date(self, day: date) -> None:
        """Serialises plan changes of one date (publish, insert, re-optimise) until the transaction ends."""
        await self.session.execute(select(func.pg_advisory_xact_lock(func.hashtext(f"routing.plan:{day}"))))

    async def plan(self, plan_id: uuid.UUID, *, for_update: bool = False) -> PlanRow | None:
        statement = select(PlanRow).where(PlanRow.id == plan_id)
        if for_update:
            statement = statement.with_for_update()
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def current_plan(self, day: date) -> PlanRow | None:
        """The published plan of the date, else its newest draft."""
        statement = (
            select(PlanRow)
            .where(PlanRow.date == day, PlanRow.status.in_(("published", "draft")))
            .order_by((PlanRow.status == "published").desc(), PlanRow.created_at.desc())
            .limit(1)
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def published_plan(self, day: date) -> PlanRow | None:
        statement = select(PlanRow).where(PlanRow.date == day, PlanRow.status == "published")
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def document(self, plan: PlanRow) -> PlanDocument:
        routes = list(
            (
                await self.session.execute(
                    select(RouteRow).where(RouteRow.plan_id == plan.id).order_by(RouteRow.vehicle_plate)
                )
            )
            .scalars()
            .all()
        )
        stops: dict[uuid.UUID, list[StopRow]] = {route.id: [] for route in routes}
        rows = await self.session.execute(
            select(StopRow).where(StopRow.plan_id == plan.id).order_by(StopRow.route_id, StopRow.sequence)
        )
        for stop in rows.scalars():
            stops[stop.route_id].append(stop)
        return PlanDocument(plan, routes, stops)

    async def add(self, rows: Sequence[object]) -> None:
        self.session.add_all(rows)
        await self.session.flush()

    async def replace_stops(self, route_ids: Sequence[uuid.UUID], stops: Sequence[StopRow]) -> None:
        """The stops of these routes become ``stops``: rows kept by id are updated (possibly moving to another of
        the routes), the others of those routes deleted, new ones added. All deletes go first, so a stop moving
        between two routes is never deleted by the route it left."""
        keep = [stop.id for stop in stops]
        await self.session.execute(
            delete(StopRow).where(StopRow.route_id.in_(route_ids), StopRow.id.not_in(keep)),
            execution_options={"synchronize_session": False},
        )
        for stop in stops:
            await self.session.merge(stop)
        await self.session.flush()

    async def supersede_drafts(self, day: date, except_id: uuid.UUID) -> None:
        statement = (
            update(PlanRow)
            .where(PlanRow.date == day, PlanRow.status == "draft", PlanRow.id != except_id)
            .values(status="superseded", version=PlanRow.version + 1)
        )
        await self.session.execute(statement)

    async def driver_route(self, driver: str, day: date) -> tuple[RouteRow, list[StopRow]] | None:
        statement = (
            select(RouteRow)
            .join(PlanRow, PlanRow.id == RouteRow.plan_id)
            .where(RouteRow.driver == driver, RouteRow.date == day, PlanRow.status == "published")
        )
        route = (await self.session.execute(statement)).scalar_one_or_none()
        if route is None:
            return None
        stops = await self.session.execute(
            select(StopRow).where(StopRow.route_id == route.id).order_by(StopRow.sequence)
        )
        return route, list(stops.scalars().all())

    async def stops_of_order(self, order_id: uuid.UUID) -> Sequence[StopRow]:
        """The order's stops in published plans (at most one, unless a plan was re-published)."""
        statement = (
            select(StopRow)
            .join(PlanRow, PlanRow.id == StopRow.plan_id)
            .where(StopRow.order_id == order_id, PlanRow.status == "published")
            .with_for_update(of=StopRow)
        )
        return (await self.session.execute(statement)).scalars().all()

    async def stop(self, stop_id: uuid.UUID) -> StopRow | None:
        statement = select(StopRow).where(StopRow.id == stop_id).with_for_update()
        return (await self.session.execute(statement)).scalar_one_or_none()
