"""What the tracking service's business code takes and gives: plain dataclasses, no gRPC or SQL types."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from services.tracking.models import DriverRow, PositionRow


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _parse_time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


@dataclass(frozen=True)
class DriverInput:
    username: str
    name: str
    phone: str
    vehicle_kind: str


@dataclass(frozen=True)
class Driver:
    """A driver's profile and whether they are on the road (clocked in) now."""

    username: str
    name: str
    phone: str
    vehicle_kind: str
    on_road: bool
    clocked_in_at: datetime | None
    clocked_out_at: datetime | None

    @classmethod
    def from_row(cls, row: DriverRow) -> Driver:
        return cls(
            username=row.username,
            name=row.name,
            phone=row.phone,
            vehicle_kind=row.vehicle_kind,
            on_road=row.on_road,
            clocked_in_at=row.clocked_in_at,
            clocked_out_at=row.clocked_out_at,
        )


@dataclass(frozen=True)
class FixInput:
    """One GPS fix as the phone sent it; device_time None when the phone left it unset."""

    latitude: float
    longitude: float
    accuracy_m: float
    speed_mps: float
    heading_deg: float
    battery: float
    device_time: datetime | None


@dataclass(frozen=True)
class Position:
    """A stored fix of one driver; distance_m only in answers to a nearest-drivers query."""

    driver: str
    latitude: float
    longitude: float
    accuracy_m: float
    speed_mps: float
    heading_deg: float
    battery: float
    device_time: datetime
    received_at: datetime
    distance_m: float = 0.0

    @classmethod
    def from_row(cls, row: PositionRow) -> Position:
        return cls(
            driver=row.driver,
            latitude=row.latitude,
            longitude=row.longitude,
            accuracy_m=row.accuracy_m,
            speed_mps=row.speed_mps,
            heading_deg=row.heading_deg,
            battery=row.battery,
            device_time=row.device_time,
            received_at=row.received_at,
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON kept in Redis and published on ``positions.live`` (times ISO 8601 with offset)."""
        return {
            "driver": self.driver,
            "latitude": self.latitude,
            "longitude": self.longitude,
            "accuracy_m": self.accuracy_m,
            "speed_mps": self.speed_mps,
            "heading_deg": self.heading_deg,
            "battery": self.battery,
            "device_time": self.device_time.isoformat(),
            "received_at": self.received_at.isoformat(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], distance_m: float = 0.0) -> Position:
        return cls(
            driver=data["driver"],
            latitude=float(data["latitude"]),
            longitude=float(data["longitude"]),
            accuracy_m=float(data["accuracy_m"]),
            speed_mps=float(data["speed_mps"]),
            heading_deg=float(data["heading_deg"]),
            battery=float(data["battery"]),
            device_time=datetime.fromisoformat(data["device_time"]),
            received_at=datetime.fromisoformat(data["received_at"]),
            distance_m=distance_m,
        )


@dataclass(frozen=True)
class StopState:
    """A stop of a route as tracking sees it: the plan (from the route event) and its progress."""

    route_id: str
    stop_id: str
    order_id: str
    sequence: int
    status: str  # planned | arrived | delivered | failed
    latitude: float
    longitude: float
    planned_eta: datetime | None
    service_minutes: int
    eta: datetime | None = None
    arrived_at: datetime | None = None
    arrived_by: str = ""  # position | driver

    def to_json(self) -> dict[str, Any]:
        return {
            "route_id": self.route_id,
            "stop_id": self.stop_id,
            "order_id": self.order_id,
            "sequence": self.sequence,
            "status": self.status,
            "latitude": self.latitude,
            "longitude": self.longitude,
            "planned_eta": _time(self.planned_eta),
            "service_minutes": self.service_minutes,
            "eta": _time(self.eta),
            "arrived_at": _time(self.arrived_at),
            "arrived_by": self.arrived_by,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StopState:
        return cls(
            route_id=data["route_id"],
            stop_id=data["stop_id"],
            order_id=data["order_id"],
            sequence=int(data["sequence"]),
            status=data["status"],
            latitude=float(data["latitude"]),
            longitude=float(data["longitude"]),
            planned_eta=_parse_time(data.get("planned_eta")),
            service_minutes=int(data.get("service_minutes", 0)),
            eta=_parse_time(data.get("eta")),
            arrived_at=_parse_time(data.get("arrived_at")),
            arrived_by=data.get("arrived_by", ""),
        )


@dataclass(frozen=True)
class BatchResult:
    """The answer to a batch of fixes; kept as JSON with the batch so a replay gets it again."""

    stored: int
    duplicates: int
    replayed: bool
    latest: Position | None
    arrivals: list[StopState] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "stored": self.stored,
            "duplicates": self.duplicates,
            "latest": None if self.latest is None else self.latest.to_json(),
            "arrivals": [arrival.to_json() for arrival in self.arrivals],
        }

    @classmethod
    def replay(cls, data: dict[str, Any]) -> BatchResult:
        latest = data.get("latest")
        return cls(
            stored=int(data["stored"]),
            duplicates=int(data["duplicates"]),
            replayed=True,
            latest=None if latest is None else Position.from_json(latest),
            arrivals=[StopState.from_json(item) for item in data.get("arrivals", [])],
        )


@dataclass(frozen=True)
class Track:
    driver: str
    date: date
    positions: list[Position]
    distance_m: float


@dataclass(frozen=True)
class DriverProgress:
    driver: str
    route_id: str
    date: date
    stops: list[StopState]
    latest: Position | None
