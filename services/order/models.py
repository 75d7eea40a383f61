"""The order service's tables, in its own Postgres schema ``order`` (a reserved word: always quoted in raw SQL)."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    Time,
    Uuid,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from services.platform.database import schema_metadata
from services.platform.outbox import outbox_table

SCHEMA = "order"


class Base(DeclarativeBase):
    metadata = schema_metadata(SCHEMA)


# Domain events written with the change that caused them; the service's OutboxRelay publishes them to Redis.
OUTBOX = outbox_table(Base.metadata)


class PriceListRow(Base):
    """A dated price list: it prices every order scheduled from ``effective_from`` until the next list's date.

    A list is never changed once written (a price change is a new list), so the service caches lists by id.
    """

    __tablename__ = "price_lists"
    __table_args__ = (CheckConstraint("urgent_surcharge >= 0", name="urgent_surcharge_not_negative"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    effective_from: Mapped[date] = mapped_column(Date, unique=True)
    urgent_surcharge: Mapped[int] = mapped_column(BigInteger)
    note: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    prices: Mapped[list[PriceRow]] = relationship(lazy="raise", order_by="PriceRow.product")


class PriceRow(Base):
    __tablename__ = "prices"
    __table_args__ = (
        CheckConstraint("unit_price >= 0 AND deposit >= 0", name="amounts_not_negative"),
        CheckConstraint("unit IN ('cylinder', 'kg')", name="unit_known"),
    )

    price_list_id: Mapped[int] = mapped_column(ForeignKey("price_lists.id", ondelete="CASCADE"), primary_key=True)
    product: Mapped[str] = mapped_column(String(40), primary_key=True)
    unit_price: Mapped[int] = mapped_column(BigInteger)  # TWD excluding VAT, per cylinder or per kg
    deposit: Mapped[int] = mapped_column(BigInteger)
    unit: Mapped[str] = mapped_column(String(10))


class OrderRow(Base):
    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'confirmed', 'assigned', 'in_delivery', 'delivered', 'cancelled', 'failed')",
            name="status_known",
        ),
        CheckConstraint("payment_method IN ('cash', 'monthly')", name="payment_method_known"),
        CheckConstraint("window_start < window_end", name="window_ordered"),
        CheckConstraint("subtotal >= 0 AND urgent_surcharge >= 0 AND vat >= 0 AND total >= 0", name="amounts_ok"),
        CheckConstraint("version >= 1", name="version_positive"),
        # The day's list (filters: date, zone, status) in number order, and a customer's orders by date.
        Index("ix_orders_scheduled_date_number", "scheduled_date", "number"),
        Index("ix_orders_customer_id_scheduled_date", "customer_id", "scheduled_date"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    # LG-YYYYMMDD-NNNN for an order taken here; LEGACY-<legacy id> for one imported from the legacy system.
    number: Mapped[str] = mapped_column(String(30), unique=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    # Copied from the customer at creation, so lists filter by zone without asking the customer service.
    customer_code: Mapped[str] = mapped_column(String(7))
    customer_zone: Mapped[str] = mapped_column(String(2))
    status: Mapped[str] = mapped_column(String(12))
    scheduled_date: Mapped[date] = mapped_column(Date)
    window_start: Mapped[time] = mapped_column(Time)
    window_end: Mapped[time] = mapped_column(Time)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    additional: Mapped[bool] = mapped_column(Boolean, default=False)
    payment_method: Mapped[str] = mapped_column(String(10))
    notes: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(10))
    price_list_id: Mapped[int] = mapped_column(ForeignKey("price_lists.id"))
    subtotal: Mapped[int] = mapped_column(BigInteger)
    urgent_surcharge: Mapped[int] = mapped_column(BigInteger)
    vat: Mapped[int] = mapped_column(BigInteger)
    total: Mapped[int] = mapped_column(BigInteger)
    credit_override_by: Mapped[str | None] = mapped_column(String(64))
    credit_override_reason: Mapped[str | None] = mapped_column(String(300))
    cancel_reason: Mapped[str] = mapped_column(String(300), default="")
    failure_reason: Mapped[str] = mapped_column(String(20), default="")
    route_id: Mapped[str] = mapped_column(String(100), default="")
    # When a monthly account paid for a delivered order; nothing sets it yet (billing is not built), so every
    # delivered monthly order counts as outstanding in the credit check.
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The client's idempotency key for the create that made this row, and a digest of that request's body.
    create_request_id: Mapped[str] = mapped_column(String(200), unique=True)
    create_fingerprint: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    version: Mapped[int] = mapped_column(BigInteger, default=1)
    # The legacy system's key (配送紀錄 序號) of this delivery: set by an import, or linked once migration-sync has
    # written the legacy row of an order taken here. Unique: the index serves the reconcile's key ranges too.
    legacy_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    # Gas metered for flow products, [[product, tenths of a kg], ...]: the legacy meter columns (流量…公斤).
    metered: Mapped[list[list[object]]] = mapped_column(JSONB, default=list, server_default="[]")

    items: Mapped[list[OrderItemRow]] = relationship(lazy="raise", order_by="OrderItemRow.position")
    delivery: Mapped[DeliveryRow | None] = relationship(lazy="raise")


class OrderItemRow(Base):
    __tablename__ = "order_items"
    __table_args__ = (CheckConstraint("quantity BETWEEN 1 AND 100", name="quantity_range"),)

    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    product: Mapped[str] = mapped_column(String(40))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[int] = mapped_column(BigInteger)  # as priced when the order was taken, never re-priced
    line_total: Mapped[int] = mapped_column(BigInteger)


class DeliveryRow(Base):
    """The outcome of the visit: delivered with proof, or failed at the door. One per order (both are final).

    Signature and photo are bytea in this row: at ~165 deliveries a day of at most 2.2 MB each, Postgres holds
    years of them comfortably; an object store would be the next step if that changes.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        CheckConstraint("outcome IN ('delivered', 'failed')", name="outcome_known"),
        CheckConstraint("residual_gas_kg >= 0 AND cash_collected >= 0", name="amounts_not_negative"),
    )

    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(10))
    request_id: Mapped[str] = mapped_column(String(100), default="")
    fingerprint: Mapped[str] = mapped_column(String(64))
    recipient_name: Mapped[str] = mapped_column(String(100), default="")
    signature_png: Mapped[bytes | None] = mapped_column(LargeBinary)
    photo: Mapped[bytes | None] = mapped_column(LargeBinary)
    photo_content_type: Mapped[str] = mapped_column(String(20), default="")
    delivered: Mapped[list[list[object]]] = mapped_column(JSONB, default=list)  # [[product, quantity], ...]
    empties_received: Mapped[list[list[object]]] = mapped_column(JSONB, default=list)
    residual_gas_kg: Mapped[float] = mapped_column(Float, default=0.0)
    cash_collected: Mapped[int] = mapped_column(BigInteger, default=0)
    failure_reason: Mapped[str] = mapped_column(String(20), default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    recorded_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class CustomerRefillRow(Base):
    """Each customer's latest delivery: what the refill forecast starts from."""

    __tablename__ = "customer_refills"

    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    last_delivered_on: Mapped[date] = mapped_column(Date)
    kg_delivered: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(10))  # delivery | demo
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class OrderNumberCounterRow(Base):
    """The last order number handed out per day; bumped with INSERT … ON CONFLICT DO UPDATE … RETURNING."""

    __tablename__ = "order_number_counters"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    last_number: Mapped[int] = mapped_column(Integer)


class SeedRunRow(Base):
    """A demo data set asked for by ``seed`` and when it was applied (the serve process applies pending ones)."""

    __tablename__ = "seed_runs"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    applied_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    customers: Mapped[int] = mapped_column(Integer, default=0)


class LegacyDigestRow(Base):
    """The reconcile digest of each order with a legacy id (canonical.DIGEST_SQL over its canonical text), stored
    so that a checksum of a million orders is a sum over one narrow table rather than a million canonical texts.
    Brought up to date from ``legacy_digest_changes`` when a checksum is asked for (LegacyOrderRepository)."""

    __tablename__ = "legacy_digests"

    legacy_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    digest: Mapped[int] = mapped_column(BigInteger)


class LegacyDigestChangeRow(Base):
    """An order whose digest may be stale: appended by triggers on orders, order_items and deliveries (migration
    0004) for every write touching an order with a legacy id, with the legacy id it had (so a re-keyed or deleted
    order's old digest goes). Append-only, never upserted: a refresh removes only the entries its snapshot saw."""

    __tablename__ = "legacy_digest_changes"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    order_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    legacy_id: Mapped[int | None] = mapped_column(BigInteger)


class LegacyDigestStateRow(Base):
    """Which canonical form the stored digests were computed with (a hash of the SQL): a change of the form
    recomputes them all."""

    __tablename__ = "legacy_digest_state"

    definition: Mapped[str] = mapped_column(String(64), primary_key=True)
