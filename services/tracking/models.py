"""The tracking service's tables, in its own Postgres schema ``tracking``: drivers, positions and stop progress.

Positions are history; the latest position of each driver lives in Redis as well (live.py), for the live map and
nearest-driver queries. Routes are a copy of the routing service's route events, kept to detect arrivals.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    Index,
    String,
    Uuid,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.platform.consumer import handled_events_table
from services.platform.database import schema_metadata
from services.platform.outbox import outbox_table

SCHEMA = "tracking"


class Base(DeclarativeBase):
    metadata = schema_metadata(SCHEMA)


OUTBOX = outbox_table(Base.metadata)
# Route and order events this service has applied, once each.
HANDLED_EVENTS = handled_events_table(Base.metadata)


class DriverRow(Base):
    __tablename__ = "drivers"

    username: Mapped[str] = mapped_column(String(50), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str] = mapped_column(String(12))  # 09XX-XXX-XXX
    vehicle_kind: Mapped[str] = mapped_column(String(20))
    on_road: Mapped[bool] = mapped_column(Boolean, default=False)
    clocked_in_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    clocked_out_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    updated_by: Mapped[str] = mapped_column(String(50), default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class PositionBatchRow(Base):
    """A batch of fixes received, by the phone's batch id: a batch sent again gets the first answer back."""

    __tablename__ = "position_batches"

    driver: Mapped[str] = mapped_column(String(50), primary_key=True)
    batch_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The answer as first given: {"stored", "duplicates", "latest": {...} | null, "arrivals": [...]}; written in
    # the batch's own transaction, so it is never seen empty.
    response: Mapped[dict[str, Any] | None] = mapped_column(JSONB, nullable=True)


class PositionRow(Base):
    """One GPS fix. The key (driver, device_time) de-duplicates fixes sent twice and makes a driver's track for
    a day one range scan."""

    __tablename__ = "positions"

    driver: Mapped[str] = mapped_column(String(50), primary_key=True)
    device_time: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    accuracy_m: Mapped[float] = mapped_column(Float)
    speed_mps: Mapped[float] = mapped_column(Float)  # -1 = unknown
    heading_deg: Mapped[float] = mapped_column(Float)  # -1 = unknown
    battery: Mapped[float] = mapped_column(Float)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RouteRow(Base):
    """A route as the routing service last announced it (route.published / route.updated)."""

    __tablename__ = "routes"
    __table_args__ = (Index("ix_routes_driver_date", "driver", "date"),)

    route_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    plan_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    driver: Mapped[str] = mapped_column(String(50))
    date: Mapped[date] = mapped_column(Date)
    vehicle_plate: Mapped[str] = mapped_column(String(20))
    # The route event's aggregate_version: an older event never overwrites a newer one.
    version: Mapped[int] = mapped_column(BigInteger)
    # As in the event: [{"stop_id", "sequence", "order_id", "order_number", "eta", "service_minutes", "latitude",
    # "longitude", "status"}], in sequence order.
    stops: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class StopProgressRow(Base):
    """Where each stop of a known route stands: a row per stop, made when its route event arrives."""

    __tablename__ = "stop_progress"
    __table_args__ = (
        CheckConstraint("status IN ('planned', 'arrived', 'delivered', 'failed', 'cancelled')", name="known_status"),
        CheckConstraint("arrived_by IN ('', 'position', 'driver')", name="known_arrived_by"),
        Index("ix_stop_progress_stop_id", "stop_id"),
        Index("ix_stop_progress_order_id", "order_id"),
    )

    route_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    stop_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    order_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    # planned | arrived | delivered | failed | cancelled (the order was cancelled: nobody goes there any more)
    status: Mapped[str] = mapped_column(String(12), default="planned")
    arrived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    arrived_by: Mapped[str] = mapped_column(String(10), default="")  # position | driver
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class DeliveryOutcomeRow(Base):
    """Delivered, failed or cancelled, by order, from the order service's events. Kept on its own because the
    order and route streams are consumed independently: an outcome read before its route's event still reaches the
    stop."""

    __tablename__ = "delivery_outcomes"
    __table_args__ = (CheckConstraint("status IN ('delivered', 'failed', 'cancelled')", name="known_status"),)

    order_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    status: Mapped[str] = mapped_column(String(12))
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
