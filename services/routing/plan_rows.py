"""A plan's rows and the solver's terms, both ways: orders and customers into stops, solver routes into route and
stop rows (times as Taipei datetimes), rows back into the solver's problem and solution, and route events."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.platform.clock import TAIPEI
from services.platform.outbox import record_event
from services.platform.products import PRODUCTS
from services.routing.directory import CustomerInfo, OrderInfo
from services.routing.model_builder import SIZES, PlannedStop, PlannedVehicle, delivery_windows, parse_clock, seconds_of
from services.routing.models import OUTBOX, PlanRow, RouteRow, StopRow
from services.routing.solver.problem import LunchTaken, Reload, Route, Solution, Visit


def at(day: date, seconds: int) -> datetime:
    """Seconds since midnight of ``day`` in Taipei → an aware datetime."""
    return datetime.combine(day, time(0), tzinfo=TAIPEI) + timedelta(seconds=seconds)


def seconds_since_midnight(day: date, moment: datetime) -> int:
    return int((moment - datetime.combine(day, time(0), tzinfo=TAIPEI)).total_seconds())


@dataclass(frozen=True)
class Excluded:
    """An order left out of a plan and why (reason codes are listed in routing.proto's Unplaced)."""

    order: OrderInfo
    reason: str
    detail: str

    def to_json(self) -> dict[str, str]:
        return {
            "order_id": self.order.id,
            "order_number": self.order.number,
            "customer_code": self.order.customer_code,
            "reason": self.reason,
            "detail": self.detail,
        }


def planned_stop(order: OrderInfo, customer: CustomerInfo | None, resting: bool) -> PlannedStop | Excluded:
    """The order as a stop, or why it cannot be one whatever the fleet does."""
    if customer is None:
        return Excluded(order, "customer_not_found", f"customer {order.customer_code} is not in the customer service")
    if resting:
        return Excluded(order, "customer_rest_day", f"customer {customer.code} takes no deliveries on that day")
    if customer.latitude is None or customer.longitude is None:
        return Excluded(order, "missing_location", f"customer {customer.code} has no coordinates to drive to")
    unknown = [line.product for line in order.items if line.product not in PRODUCTS]
    if unknown:
        return Excluded(order, "unknown_product", f"products not in the catalogue: {', '.join(unknown)}")
    deliver: dict[str, int] = {}
    for line in order.items:
        deliver[line.product] = deliver.get(line.product, 0) + line.quantity
    stop = PlannedStop(
        order_id=order.id,
        order_number=order.number,
        customer_id=customer.id,
        customer_code=customer.code,
        customer_name=customer.name,
        address=customer.address,
        latitude=customer.latitude,
        longitude=customer.longitude,
        windows=(),
        deliver=deliver,
        vehicle_requirement=customer.vehicle_requirement,
        urgent=order.urgent,
    )
    try:
        start, end = parse_clock(order.window_start), parse_clock(order.window_end)
    except ValueError:
        return Excluded(
            order, "window_empty", f"the order's window {order.window_start}-{order.window_end} is unreadable"
        )
    return replace(stop, windows=delivery_windows(start, end, customer.hourly_windows, stop.service_seconds))


def stop_from_row(row: StopRow) -> PlannedStop:
    return PlannedStop(
        order_id=str(row.order_id),
        order_number=row.order_number,
        customer_id=str(row.customer_id),
        customer_code=row.customer_code,
        customer_name=row.customer_name,
        address=row.address,
        latitude=row.latitude,
        longitude=row.longitude,
        windows=tuple((int(start), int(end)) for start, end in row.windows),
        deliver=dict(row.deliver),
        vehicle_requirement=row.vehicle_requirement,
        urgent=row.urgent,
    )


def route_timeline(route: Route) -> dict[str, Any]:
    return {
        "start": route.start,
        "end": route.end,
        "lunch": None
        if route.lunch is None
        else {"after_visits": route.lunch.after_visits, "start": route.lunch.start, "end": route.lunch.end},
        "distance": route.distance,
        "duration": route.duration,
        "driving_seconds": route.driving_seconds,
        "load": list(route.load),
        "visits": [[visit.stop_id, visit.arrival, visit.service_start, visit.departure] for visit in route.visits],
        "reloads": [
            {"after_visits": r.after_visits, "arrival": r.arrival, "departure": r.departure, "load": list(r.load)}
            for r in route.reloads
        ],
    }


def route_from_timeline(vehicle_id: str, data: dict[str, Any]) -> Route:
    lunch = data.get("lunch")
    return Route(
        vehicle_id=vehicle_id,
        visits=tuple(
            Visit(str(stop_id), arrival, start, departure) for stop_id, arrival, start, departure in data["visits"]
        ),
        start=data["start"],
        end=data["end"],
        lunch=None if lunch is None else LunchTaken(lunch["after_visits"], lunch["start"], lunch["end"]),
        distance=data["distance"],
        duration=data["duration"],
        driving_seconds=data["driving_seconds"],
        load=tuple(data["load"]),
        reloads=tuple(
            Reload(r["after_visits"], r["arrival"], r["departure"], tuple(r["load"])) for r in data.get("reloads", [])
        ),
    )


def vehicle_from_shift(shift: Any, vehicle: Any) -> PlannedVehicle:
    return PlannedVehicle(
        plate=vehicle.plate,
        kind=vehicle.kind,
        driver=shift.driver,
        capacity={int(size): int(count) for size, count in vehicle.capacity.items()},
        max_load_kg=vehicle.max_load_kg,
        shift_start=seconds_of(shift.start_time),
        shift_end=seconds_of(shift.end_time),
        lunch_start=None if shift.lunch_start is None else seconds_of(shift.lunch_start),
        lunch_latest_start=None if shift.lunch_latest_start is None else seconds_of(shift.lunch_latest_start),
        lunch_minutes=shift.lunch_minutes,
        max_driving_minutes=shift.max_driving_minutes,
    )


def new_route(plan: PlanRow, vehicle: PlannedVehicle) -> RouteRow:
    return RouteRow(
        id=uuid.uuid4(),
        plan_id=plan.id,
        date=plan.date,
        vehicle_plate=vehicle.plate,
        vehicle_kind=vehicle.kind,
        driver=vehicle.driver,
        shift=vehicle.to_json(),
        version=1,
    )


def fill_route(row: RouteRow, day: date, route: Route) -> None:
    row.timeline = route_timeline(route)
    row.distance_m = route.distance
    row.duration_s = route.duration
    row.start_at = at(day, route.start)
    row.end_at = at(day, route.end)
    row.lunch_start_at = None if route.lunch is None else at(day, route.lunch.start)
    row.load = {str(size): count for size, count in zip(SIZES, route.load, strict=False) if count}
    row.load_kg = route.load[len(SIZES)] if len(route.load) > len(SIZES) else 0


def stop_row(plan: PlanRow, route: RouteRow, sequence: int, stop: PlannedStop, visit: Visit) -> StopRow:
    return StopRow(
        id=uuid.uuid4(),
        route_id=route.id,
        plan_id=plan.id,
        sequence=sequence,
        order_id=uuid.UUID(stop.order_id),
        order_number=stop.order_number,
        customer_id=uuid.UUID(stop.customer_id),
        customer_code=stop.customer_code,
        customer_name=stop.customer_name,
        address=stop.address,
        latitude=stop.latitude,
        longitude=stop.longitude,
        windows=[list(window) for window in stop.windows],
        deliver=dict(stop.deliver),
        vehicle_requirement=stop.vehicle_requirement,
        service_minutes=stop.service_seconds // 60,
        eta=at(plan.date, visit.arrival),
        service_start=at(plan.date, visit.service_start),
        status="planned",
        urgent=stop.urgent,
    )


def route_rows(
    plan: PlanRow, vehicles: Sequence[PlannedVehicle], stops: Sequence[PlannedStop], solution: Solution
) -> list[object]:
    """Rows of a new plan: a route per vehicle that has visits, then its stops."""
    planned = {stop.order_id: stop for stop in stops}
    by_plate = {vehicle.plate: vehicle for vehicle in vehicles}
    rows: list[object] = []
    stop_rows: list[object] = []
    for route in solution.routes:
        if not route.visits:
            continue
        row = new_route(plan, by_plate[route.vehicle_id])
        fill_route(row, plan.date, route)
        rows.append(row)
        stop_rows += [
            stop_row(plan, row, sequence, planned[visit.stop_id], visit)
            for sequence, visit in enumerate(route.visits, start=1)
        ]
    return rows + stop_rows


async def route_event(
    session: AsyncSession, type: str, plan: PlanRow, route: RouteRow, stops: Sequence[StopRow]
) -> None:
    await record_event(
        session,
        OUTBOX,
        aggregate="route",
        type=type,
        aggregate_id=str(route.id),
        aggregate_version=route.version,
        payload={
            "route_id": str(route.id),
            "plan_id": str(plan.id),
            "date": plan.date.isoformat(),
            "driver": route.driver,
            "vehicle_plate": route.vehicle_plate,
            "stops": [
                {
                    "stop_id": str(stop.id),
                    "sequence": stop.sequence,
                    "order_id": str(stop.order_id),
                    "order_number": stop.order_number,
                    "eta": stop.eta.isoformat(),
                    "service_minutes": stop.service_minutes,
                    "latitude": stop.latitude,
                    "longitude": stop.longitude,
                    "status": stop.status,
                }
                for stop in stops
            ],
        },
    )
