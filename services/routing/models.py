"""The routing service's tables, in its own Postgres schema ``routing``: the fleet and the day plans.

A plan keeps what it was solved from (each stop's windows, demand and vehicle needs; each route's shift), so
an urgent insertion or a re-optimisation later in the day works from the same facts, not re-fetched ones.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    Time,
    UniqueConstraint,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.platform.consumer import handled_events_table
from services.platform.database import schema_metadata
from services.platform.outbox import outbox_table

SCHEMA = "routing"


class Base(DeclarativeBase):
    metadata = schema_metadata(SCHEMA)


OUTBOX = outbox_table(Base.metadata)
# Order events this service has applied to its stops (delivered, failed, cancelled), once each.
HANDLED_EVENTS = handled_events_table(Base.metadata)


class DepotRow(Base):
    __tablename__ = "depots"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    code: Mapped[str] = mapped_column(String(30), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class VehicleRow(Base):
    __tablename__ = "vehicles"
    __table_args__ = (CheckConstraint("max_load_kg > 0", name="max_load_positive"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    plate: Mapped[str] = mapped_column(String(20), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    # {"20": 40, "50": 4, ...}: full cylinders per size in kg it can carry.
    capacity: Mapped[dict[str, int]] = mapped_column(JSONB)
    max_load_kg: Mapped[int] = mapped_column(Integer)
    depot_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("depots.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    version: Mapped[int] = mapped_column(BigInteger, default=1)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ShiftRow(Base):
    __tablename__ = "shifts"
    __table_args__ = (
        UniqueConstraint("vehicle_id", "date", name="one_per_vehicle_and_day"),
        UniqueConstraint("driver", "date", name="one_per_driver_and_day"),
        CheckConstraint("start_time < end_time", name="starts_before_end"),
        Index("ix_shifts_date", "date"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    vehicle_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("vehicles.id"))
    driver: Mapped[str] = mapped_column(String(50))
    date: Mapped[date] = mapped_column(Date)
    start_time: Mapped[time] = mapped_column(Time)
    end_time: Mapped[time] = mapped_column(Time)
    lunch_start: Mapped[time | None] = mapped_column(Time, nullable=True)
    lunch_latest_start: Mapped[time | None] = mapped_column(Time, nullable=True)
    lunch_minutes: Mapped[int] = mapped_column(Integer, default=0)
    max_driving_minutes: Mapped[int] = mapped_column(Integer, default=480)


class PlanRow(Base):
    __tablename__ = "plans"
    __table_args__ = (
        # A date has at most one published plan.
        Index("uq_plans_published_date", "date", unique=True, postgresql_where=text("status = 'published'")),
        Index("ix_plans_date", "date", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(12))  # draft | published | superseded
    request_id: Mapped[str] = mapped_column(String(100), unique=True)
    created_by: Mapped[str] = mapped_column(String(50))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    time_budget_seconds: Mapped[float] = mapped_column(Float)
    solver: Mapped[str] = mapped_column(String(30))
    solve_seconds: Mapped[float] = mapped_column(Float)
    travel_source: Mapped[str] = mapped_column(String(20))
    degraded: Mapped[bool] = mapped_column(Boolean, default=False)
    degraded_reason: Mapped[str] = mapped_column(Text, default="")
    # [{"order_id", "order_number", "customer_code", "reason", "detail"}]
    unplaced: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    # Depot the routes start from: {"code", "latitude", "longitude"}.
    depot: Mapped[dict[str, Any]] = mapped_column(JSONB)
    version: Mapped[int] = mapped_column(BigInteger, default=1)


class RouteRow(Base):
    __tablename__ = "routes"
    __table_args__ = (Index("ix_routes_driver_date", "driver", "date"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    plan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"), index=True)
    date: Mapped[date] = mapped_column(Date)
    vehicle_plate: Mapped[str] = mapped_column(String(20))
    vehicle_kind: Mapped[str] = mapped_column(String(20))
    driver: Mapped[str] = mapped_column(String(50))
    # The shift and vehicle as planned: {"start", "end", "lunch_start", "lunch_latest_start", "lunch_minutes",
    # "max_driving_minutes", "capacity": {"20": 40, ...}, "max_load_kg", "motorcycle"}.
    shift: Mapped[dict[str, Any]] = mapped_column(JSONB)
    distance_m: Mapped[int] = mapped_column(BigInteger, default=0)
    duration_s: Mapped[int] = mapped_column(BigInteger, default=0)
    start_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    end_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    lunch_start_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    load: Mapped[dict[str, int]] = mapped_column(JSONB, default=dict)
    load_kg: Mapped[int] = mapped_column(Integer, default=0)
    # The solver's route exactly (seconds since midnight): {"start", "end", "lunch": {"after_visits", "start",
    # "end"} | null, "distance", "duration", "driving_seconds", "load": [...], "visits": [[order_id, arrival,
    # service_start, departure], ...]}; insertion and re-optimisation start from it.
    timeline: Mapped[dict[str, Any]] = mapped_column(JSONB)
    version: Mapped[int] = mapped_column(BigInteger, default=1)


class StopRow(Base):
    __tablename__ = "stops"
    __table_args__ = (
        UniqueConstraint("plan_id", "order_id", name="one_per_order_in_plan"),
        Index("ix_stops_route_sequence", "route_id", "sequence"),
        Index("ix_stops_order_id", "order_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    route_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("routes.id", ondelete="CASCADE"))
    plan_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    sequence: Mapped[int] = mapped_column(Integer)
    order_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    order_number: Mapped[str] = mapped_column(String(20))
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    customer_code: Mapped[str] = mapped_column(String(7))
    customer_name: Mapped[str] = mapped_column(String(100))
    address: Mapped[str] = mapped_column(String(200))
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    # What it was planned from: windows [[start_s, end_s], ...] since midnight, demand per size, needs.
    windows: Mapped[list[list[int]]] = mapped_column(JSONB)
    deliver: Mapped[dict[str, int]] = mapped_column(JSONB)  # product code → full cylinders
    vehicle_requirement: Mapped[str] = mapped_column(String(12))  # car | motorcycle | either
    service_minutes: Mapped[int] = mapped_column(Integer)
    eta: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    service_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # planned | arrived | delivered | failed | cancelled
    status: Mapped[str] = mapped_column(String(12), default="planned")
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
