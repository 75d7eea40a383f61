"""The customer service's tables, in its own Postgres schema ``customer``."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    Index,
    Integer,
    String,
    Text,
    Uuid,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.platform.database import schema_metadata
from services.platform.outbox import outbox_table

SCHEMA = "customer"


class Base(DeclarativeBase):
    metadata = schema_metadata(SCHEMA)


class Customer(Base):
    __tablename__ = "customers"
    __table_args__ = (
        CheckConstraint("code ~ '^[0-9]{7}$'", name="code_seven_digits"),
        CheckConstraint("cardinality(hourly_windows) = 12", name="twelve_windows"),
        CheckConstraint("slot_code IS NULL OR slot_code BETWEEN 0 AND 3", name="slot_code_range"),
        CheckConstraint("version >= 1", name="version_positive"),
        Index("ix_customers_zone_code", "zone", "code"),
        Index("ix_customers_segment_code", "segment", "code"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    code: Mapped[str] = mapped_column(String(7), unique=True)
    short_name: Mapped[str] = mapped_column(String(100))
    invoice_title: Mapped[str] = mapped_column(String(200), default="")
    tax_id: Mapped[str] = mapped_column(String(8), default="")
    phones: Mapped[list[str]] = mapped_column(ARRAY(String(20)), default=list)
    address: Mapped[str] = mapped_column(String(300), default="")
    postal_code: Mapped[str] = mapped_column(String(6), default="")
    zone: Mapped[str] = mapped_column(String(2))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    segment: Mapped[str] = mapped_column(String(20))
    hourly_windows: Mapped[list[bool]] = mapped_column(ARRAY(Boolean))
    slot_code: Mapped[int | None] = mapped_column(Integer)
    rest_days: Mapped[str] = mapped_column(String(50), default="")
    vehicle_requirement: Mapped[str] = mapped_column(String(12))
    cylinders: Mapped[dict[str, int]] = mapped_column(JSONB, default=dict)
    spare_cylinders: Mapped[int] = mapped_column(Integer, default=0)
    manifolded_cylinders: Mapped[int] = mapped_column(Integer, default=0)
    consumption_kg_per_day: Mapped[float] = mapped_column(Float, default=0.0)
    max_cycle_days: Mapped[int] = mapped_column(Integer, default=0)
    slip_days: Mapped[int] = mapped_column(Integer, default=0)
    pricing_method: Mapped[str] = mapped_column(String(10))
    payment_terms: Mapped[str] = mapped_column(String(10))
    subscription: Mapped[bool] = mapped_column(Boolean, default=False)
    alert_device: Mapped[bool] = mapped_column(Boolean, default=False)
    credit_limit: Mapped[int] = mapped_column(BigInteger, default=0)
    blocked: Mapped[bool] = mapped_column(Boolean, default=False)
    notes: Mapped[str] = mapped_column(Text, default="")
    terminated: Mapped[bool] = mapped_column(Boolean, default=False)
    termination_reason: Mapped[str] = mapped_column(String(300), default="")
    terminated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Lower-cased code, names, phones and address: what free-text search matches. The migration adds a
    # trigram index where the server has pg_trgm (the embedded server does not; a scan of ~13k rows is fine).
    search_text: Mapped[str] = mapped_column(Text, default="")
    # A client's idempotency key for the create that made this row, and a digest of that request's body.
    create_request_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    create_fingerprint: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    version: Mapped[int] = mapped_column(BigInteger, default=1)


# customer.changed events, written in the transaction of the change and relayed to `events.customer`.
outbox = outbox_table(Base.metadata)
