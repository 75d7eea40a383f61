"""What the routing service hands its callers: plain records of the fleet and the plans, no gRPC or SQL types.

Each record is built from its rows (``from_row``) inside the transaction that read them; the servicer maps
records to proto and never sees a row.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from services.routing.model_builder import SIZES
from services.routing.models import DepotRow, RouteRow, ShiftRow, StopRow, VehicleRow
from services.routing.plan_rows import at
from services.routing.repository import PlanDocument


@dataclass(frozen=True)
class DepotRecord:
    id: uuid.UUID
    code: str
    name: str
    latitude: float
    longitude: float

    @classmethod
    def from_row(cls, row: DepotRow) -> DepotRecord:
        return cls(id=row.id, code=row.code, name=row.name, latitude=row.latitude, longitude=row.longitude)


@dataclass(frozen=True)
class VehicleRecord:
    id: uuid.UUID
    plate: str
    kind: str
    capacity: dict[str, int]  # cylinder size in kg (as text) → full cylinders it can carry
    max_load_kg: int
    depot_code: str
    active: bool
    version: int

    @classmethod
    def from_row(cls, row: VehicleRow, depot_code: str) -> VehicleRecord:
        return cls(
            id=row.id,
            plate=row.plate,
            kind=row.kind,
            capacity=dict(row.capacity),
            max_load_kg=row.max_load_kg,
            depot_code=depot_code,
            active=row.active,
            version=row.version,
        )


@dataclass(frozen=True)
class ShiftRecord:
    id: uuid.UUID
    vehicle_plate: str
    driver: str
    date: date
    start: time
    end: time
    lunch_start: time | None
    lunch_latest_start: time | None
    lunch_minutes: int
    max_driving_minutes: int

    @classmethod
    def from_row(cls, row: ShiftRow, vehicle_plate: str) -> ShiftRecord:
        return cls(
            id=row.id,
            vehicle_plate=vehicle_plate,
            driver=row.driver,
            date=row.date,
            start=row.start_time,
            end=row.end_time,
            lunch_start=row.lunch_start,
            lunch_latest_start=row.lunch_latest_start,
            lunch_minutes=row.lunch_minutes,
            max_driving_minutes=row.max_driving_minutes,
        )


@dataclass(frozen=True)
class StopRecord:
    id: uuid.UUID
    sequence: int
    order_id: uuid.UUID
    order_number: str
    customer_id: uuid.UUID
    customer_code: str
    customer_name: str
    address: str
    latitude: float
    longitude: float
    windows: tuple[tuple[int, int], ...]  # the delivery window's pieces, seconds since midnight
    service_minutes: int
    eta: datetime
    service_start: datetime
    deliver: dict[str, int]  # product code → full cylinders
    status: str
    urgent: bool

    @classmethod
    def from_row(cls, row: StopRow) -> StopRecord:
        return cls(
            id=row.id,
            sequence=row.sequence,
            order_id=row.order_id,
            order_number=row.order_number,
            customer_id=row.customer_id,
            customer_code=row.customer_code,
            customer_name=row.customer_name,
            address=row.address,
            latitude=row.latitude,
            longitude=row.longitude,
            windows=tuple((start, end) for start, end in row.windows),
            service_minutes=row.service_minutes,
            eta=row.eta,
            service_start=row.service_start,
            deliver=dict(row.deliver),
            status=row.status,
            urgent=row.urgent,
        )


@dataclass(frozen=True)
class ReloadRecord:
    """A return to the depot between stops to load again."""

    after_stops: int
    arrival: datetime
    departure: datetime
    load: dict[str, int]  # cylinder size in kg (as text) → full cylinders loaded
    load_kg: int

    @classmethod
    def from_timeline(cls, day: date, reload: dict[str, Any]) -> ReloadRecord:
        load = reload["load"]
        return cls(
            after_stops=reload["after_visits"],
            arrival=at(day, reload["arrival"]),
            departure=at(day, reload["departure"]),
            load={str(size): count for size, count in zip(SIZES, load, strict=False) if count},
            load_kg=load[len(SIZES)] if len(load) > len(SIZES) else 0,
        )


@dataclass(frozen=True)
class RouteRecord:
    id: uuid.UUID
    plan_id: uuid.UUID
    date: date
    vehicle_plate: str
    vehicle_kind: str
    driver: str
    stops: tuple[StopRecord, ...]  # in sequence
    distance_m: int
    duration_s: int
    start_at: datetime | None
    end_at: datetime | None
    load: dict[str, int]  # cylinder size in kg (as text) → full cylinders at the start
    load_kg: int
    lunch_start_at: datetime | None
    version: int
    reloads: tuple[ReloadRecord, ...]

    @classmethod
    def from_row(cls, row: RouteRow, stops: Sequence[StopRow]) -> RouteRecord:
        return cls(
            id=row.id,
            plan_id=row.plan_id,
            date=row.date,
            vehicle_plate=row.vehicle_plate,
            vehicle_kind=row.vehicle_kind,
            driver=row.driver,
            stops=tuple(StopRecord.from_row(stop) for stop in stops),
            distance_m=row.distance_m,
            duration_s=row.duration_s,
            start_at=row.start_at,
            end_at=row.end_at,
            load=dict(row.load),
            load_kg=row.load_kg,
            lunch_start_at=row.lunch_start_at,
            version=row.version,
            reloads=tuple(ReloadRecord.from_timeline(row.date, reload) for reload in row.timeline.get("reloads", [])),
        )


@dataclass(frozen=True)
class UnplacedOrder:
    """An order a plan leaves out, and why (reason codes are listed in routing.proto's Unplaced)."""

    order_id: str
    order_number: str
    customer_code: str
    reason: str
    detail: str


@dataclass(frozen=True)
class PlanRecord:
    id: uuid.UUID
    date: date
    status: str  # draft | published | superseded
    routes: tuple[RouteRecord, ...]  # in plate order
    unplaced: tuple[UnplacedOrder, ...]
    solver: str
    solve_seconds: float
    time_budget_seconds: float
    travel_source: str
    degraded: bool
    degraded_reason: str
    created_at: datetime
    published_at: datetime | None
    created_by: str
    version: int

    @property
    def distance_m(self) -> int:
        return sum(route.distance_m for route in self.routes)

    @property
    def duration_s(self) -> int:
        return sum(route.duration_s for route in self.routes)

    @property
    def vehicles_used(self) -> int:
        return sum(1 for route in self.routes if route.stops)

    @classmethod
    def from_document(cls, document: PlanDocument) -> PlanRecord:
        plan = document.plan
        return cls(
            id=plan.id,
            date=plan.date,
            status=plan.status,
            routes=tuple(RouteRecord.from_row(route, document.stops[route.id]) for route in document.routes),
            unplaced=tuple(UnplacedOrder(**item) for item in plan.unplaced),
            solver=plan.solver,
            solve_seconds=plan.solve_seconds,
            time_budget_seconds=plan.time_budget_seconds,
            travel_source=plan.travel_source,
            degraded=plan.degraded,
            degraded_reason=plan.degraded_reason,
            created_at=plan.created_at,
            published_at=plan.published_at,
            created_by=plan.created_by,
            version=plan.version,
        )
