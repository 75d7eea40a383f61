"""Bodies of ``/api/v1/drivers/me`` (the driver's phone) and ``/api/v1/tracking`` (the office)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from services.gateway.schemas.common import Strict, example

MAX_FIXES = 2000


class FixIn(Strict):
    latitude: float
    longitude: float
    accuracy_m: float = Field(0.0, description="metres, >= 0")
    speed_mps: float = Field(-1.0, description="m/s; -1 when unknown")
    heading_deg: float = Field(-1.0, description="0-360; -1 when unknown")
    battery: float = Field(1.0, description="0-1")
    device_time: datetime = Field(description="when the phone took the fix (ISO 8601 with an offset)")


class PositionBatch(Strict):
    model_config = example(
        {
            "batch_id": "phone-1-0001",
            "fixes": [
                {
                    "latitude": 22.7553,
                    "longitude": 121.1504,
                    "accuracy_m": 8,
                    "battery": 0.9,
                    "device_time": "2030-01-02T09:12:00+08:00",
                }
            ],
        }
    )

    batch_id: str = Field(
        min_length=1, max_length=100, description="the phone's id for this batch; a resend is a no-op"
    )
    fixes: list[FixIn] = Field(min_length=1, max_length=MAX_FIXES)


class PositionOut(BaseModel):
    driver: str
    latitude: float
    longitude: float
    accuracy_m: float
    speed_mps: float
    heading_deg: float
    battery: float
    device_time: datetime | None
    received_at: datetime | None
    distance_m: float | None = None


class StopProgressOut(BaseModel):
    route_id: str
    stop_id: str
    order_id: str
    sequence: int
    status: str
    latitude: float
    longitude: float
    planned_eta: datetime | None
    eta: datetime | None
    arrived_at: datetime | None
    arrived_by: str


class BatchOut(BaseModel):
    stored: int
    duplicates: int
    replayed: bool
    latest: PositionOut | None
    arrivals: list[StopProgressOut]


class ProgressOut(BaseModel):
    driver: str
    route_id: str
    date: str
    stops: list[StopProgressOut]
    latest: PositionOut | None


class ClockIn(Strict):
    model_config = example({"at": "2030-01-02T07:55:00+08:00"})

    at: datetime | None = Field(None, description="when, by the phone's clock; now when absent")


class DriverIn(Strict):
    model_config = example({"name": "陳大明", "phone": "0912-345-678", "vehicle_kind": "small_truck"})

    name: str = Field(max_length=100)
    phone: str = Field("", max_length=20, examples=["0912-345-678"])
    vehicle_kind: str = Field("small_truck", description="small_truck | medium_truck | van | motorcycle")


class DriverOut(DriverIn):
    model_config = ConfigDict(json_schema_extra=None)  # a response: not the request's example

    username: str
    on_road: bool
    clocked_in_at: datetime | None
    clocked_out_at: datetime | None


class TrackOut(BaseModel):
    driver: str
    date: str
    distance_m: float
    positions: list[PositionOut]
