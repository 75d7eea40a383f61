"""Fixes, batches, drivers and route events to start tracking tests from; each test changes only what it is about."""

from __future__ import annotations

import itertools
import math
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis
from google.protobuf.timestamp_pb2 import Timestamp
from luckygas.tracking.v1 import tracking_pb2 as pb
from sqlalchemy import text

from services.platform.clock import utc_now
from services.platform.database import Database
from services.platform.outbox import EventEnvelope
from services.tracking.app import consumers

TRACKING_SERVICE = pb.DESCRIPTOR.services_by_name["TrackingService"]
TAIPEI = ZoneInfo("Asia/Taipei")
# The Taitung depot; test points are placed at a distance from it.
DEPOT = (22.7553, 121.1504)
METRES_PER_DEGREE = 6_371_008.8 * math.pi / 180
_batches = itertools.count(1)


def now() -> datetime:
    return utc_now()


def taipei_today() -> date:
    return now().astimezone(TAIPEI).date()


def at_taipei(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=TAIPEI).astimezone(UTC)


def north_of(point: tuple[float, float], metres: float) -> tuple[float, float]:
    return point[0] + metres / METRES_PER_DEGREE, point[1]


def east_of(point: tuple[float, float], metres: float) -> tuple[float, float]:
    return point[0], point[1] + metres / (METRES_PER_DEGREE * math.cos(math.radians(point[0])))


def stamp(moment: datetime) -> Timestamp:
    value = Timestamp()
    value.FromDatetime(moment)
    return value


def fix(point: tuple[float, float], moment: datetime, **overrides: Any) -> pb.Fix:
    values: dict[str, Any] = {
        "latitude": point[0],
        "longitude": point[1],
        "accuracy_m": 8.0,
        "speed_mps": 6.5,
        "heading_deg": 90.0,
        "battery": 0.8,
        "device_time": stamp(moment),
    }
    values.update(overrides)
    return pb.Fix(**values)


def batch(driver: str, fixes: list[pb.Fix], batch_id: str | None = None) -> pb.RecordPositionsRequest:
    return pb.RecordPositionsRequest(driver=driver, batch_id=batch_id or f"batch-{next(_batches)}", fixes=fixes)


def driver(username: str = "driver01", **overrides: Any) -> pb.Driver:
    values: dict[str, Any] = {
        "username": username,
        "name": "陳志明",
        "phone": "0912345678",
        "vehicle_kind": "small_truck",
    }
    values.update(overrides)
    return pb.Driver(**values)


@dataclass(frozen=True)
class PlannedStop:
    stop_id: str
    order_id: str
    point: tuple[float, float]


def stops_at(*points: tuple[float, float]) -> list[PlannedStop]:
    return [PlannedStop(str(uuid.uuid4()), str(uuid.uuid4()), point) for point in points]


def route_event(
    driver: str,
    day: date,
    stops: list[PlannedStop],
    *,
    route_id: str | None = None,
    version: int = 1,
    type: str = "route.published",
    statuses: dict[str, str] | None = None,
) -> EventEnvelope:
    """A route event as the routing service publishes it (docs/events.md)."""
    route_id = route_id or str(uuid.uuid4())
    statuses = statuses or {}
    return EventEnvelope(
        id=uuid.uuid4(),
        type=type,
        aggregate_id=route_id,
        aggregate_version=version,
        occurred_at=now(),
        schema_version=1,
        payload={
            "route_id": route_id,
            "plan_id": str(uuid.uuid4()),
            "date": day.isoformat(),
            "driver": driver,
            "vehicle_plate": "LG-1001",
            "stops": [
                {
                    "stop_id": stop.stop_id,
                    "sequence": sequence,
                    "order_id": stop.order_id,
                    "order_number": f"LG-{day:%Y%m%d}-{sequence:04d}",
                    "eta": (at_taipei(day, 9) + timedelta(minutes=30 * sequence)).astimezone(TAIPEI).isoformat(),
                    "service_minutes": 10,
                    "latitude": stop.point[0],
                    "longitude": stop.point[1],
                    "status": statuses.get(stop.stop_id, "planned"),
                }
                for sequence, stop in enumerate(stops, start=1)
            ],
        },
        stream="events.route",
    )


def order_event(order_id: str, type: str) -> EventEnvelope:
    """An order event of the order service; only its type and order id matter to tracking."""
    return EventEnvelope(
        id=uuid.uuid4(),
        type=type,
        aggregate_id=order_id,
        aggregate_version=5,
        occurred_at=now(),
        schema_version=1,
        payload={"order_id": order_id, "status": type.split(".")[-1], "actor": "driver01"},
        stream="events.order",
    )


class Events:
    """Other services' events written to their Redis streams, then applied by tracking's real consumers."""

    def __init__(self, redis: aioredis.Redis, database: Database) -> None:
        self.redis = redis
        self.consumers = consumers(redis, database, "tracking-test", block_ms=5)

    async def deliver(self, *envelopes: EventEnvelope) -> None:
        for envelope in envelopes:
            await self.redis.xadd(envelope.stream, envelope.to_fields())  # type: ignore[arg-type]
        for consumer in self.consumers:
            while await consumer.run_once():
                pass


async def count(database: Database, table: str, where: str = "TRUE") -> int:
    async with database.session() as session:
        return int((await session.execute(text(f"SELECT count(*) FROM tracking.{table} WHERE {where}"))).scalar_one())
