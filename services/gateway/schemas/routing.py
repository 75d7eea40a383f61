"""Bodies of ``/api/v1/fleet``, ``/api/v1/plans`` and the driver's route."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from services.gateway.schemas.common import Strict, example

# How long the solver searches for a plan when the request does not say.
DEFAULT_BUDGET_SECONDS = 5.0


class DepotIn(Strict):
    model_config = example({"name": "幸福氣 台東總站", "latitude": 22.7583, "longitude": 121.1444})

    name: str = Field(max_length=100, examples=["幸福氣 台東總站"])
    latitude: float
    longitude: float


class DepotOut(DepotIn):
    model_config = ConfigDict(json_schema_extra=None)  # a response: not the request's example

    id: str
    code: str


class VehicleIn(Strict):
    model_config = example(
        {"kind": "small_truck", "capacity": {"20": 30, "50": 6}, "max_load_kg": 1000, "depot_code": "taitung"}
    )

    kind: str = Field(examples=["small_truck"], description="small_truck | medium_truck | van | motorcycle")
    capacity: dict[int, int] = Field(
        examples=[{"20": 30, "50": 6}], description="full cylinders per size in kg (4, 10, 16, 20, 50)"
    )
    max_load_kg: int = Field(examples=[1000], description="gross weight of full cylinders it may carry")
    depot_code: str = "taitung"
    active: bool = True


class VehicleOut(VehicleIn):
    model_config = ConfigDict(json_schema_extra=None)  # a response: not the request's example

    id: str
    plate: str
    version: int


class ShiftIn(Strict):
    model_config = example(
        {"driver": "driver01", "start": "08:00", "end": "18:00", "lunch_start": "11:30", "lunch_latest_start": "13:00"}
    )

    driver: str = Field(examples=["driver01"])
    start: str = Field("08:00", description="HH:MM, Asia/Taipei")
    end: str = "18:00"
    lunch_start: str = Field("11:30", description="earliest lunch start; empty for no lunch break")
    lunch_latest_start: str = "13:00"
    lunch_minutes: int = 60
    max_driving_minutes: int = 480


class ShiftOut(ShiftIn):
    model_config = ConfigDict(json_schema_extra=None)  # a response: not the request's example

    id: str
    vehicle_plate: str
    date: date


class PlanCreate(Strict):
    model_config = example({"date": "2030-01-02", "time_budget_seconds": 5})

    date: date
    time_budget_seconds: float = Field(DEFAULT_BUDGET_SECONDS, description="how long the solver may search, 1-60 s")


class Reoptimization(Strict):
    model_config = example({"time_budget_seconds": 10})

    time_budget_seconds: float = Field(DEFAULT_BUDGET_SECONDS, description="1-60 s")


class UrgentOrder(Strict):
    model_config = example({"order_id": "8652f0cd-d20b-426e-9769-b0249cf5aeb3"})

    order_id: str = Field(min_length=1, max_length=64)


class ItemCount(BaseModel):
    product: str
    quantity: int


class StopOut(BaseModel):
    id: str
    sequence: int
    order_id: str
    order_number: str
    customer_id: str
    customer_code: str
    customer_name: str
    address: str
    latitude: float
    longitude: float
    window_start: str = Field(description="HH:MM, Asia/Taipei")
    window_end: str = Field(description="HH:MM, Asia/Taipei")
    eta: datetime | None
    service_start: datetime | None
    service_minutes: int
    deliver: list[ItemCount]
    collect: list[ItemCount]
    status: str
    urgent: bool


class ReloadOut(BaseModel):
    after_stops: int = Field(description="back at the depot after this many stops, to load for the next trip")
    arrival: datetime | None
    departure: datetime | None
    load: dict[int, int] = Field(description="full cylinders loaded for the next trip, per size in kg")
    load_kg: int


class RouteOut(BaseModel):
    id: str
    plan_id: str
    date: str
    vehicle_plate: str
    vehicle_kind: str
    driver: str
    stops: list[StopOut]
    distance_m: int
    duration_s: int
    start: datetime | None
    end: datetime | None
    lunch_start: datetime | None
    load: dict[int, int] = Field(description="the most full cylinders on board at once (the fullest trip)")
    load_kg: int
    reloads: list[ReloadOut]
    version: int


class UnplacedOut(BaseModel):
    order_id: str
    order_number: str
    customer_code: str
    reason: str
    detail: str


class PlanOut(BaseModel):
    id: str
    date: str
    status: str
    routes: list[RouteOut]
    unplaced: list[UnplacedOut]
    distance_m: int
    duration_s: int
    vehicles_used: int
    solver: str
    solve_seconds: float
    time_budget_seconds: float
    degraded: bool = Field(description="travel times came from the straight-line fallback, not the road engine")
    degraded_reason: str
    travel_source: str
    created_at: datetime | None
    published_at: datetime | None
    created_by: str
    version: int
