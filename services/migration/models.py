"""Migration-sync's own tables, in its Postgres schema ``migration`` (the legacy tables live in the legacy database).

- ``customers``: every legacy customer code the service has seen: its primary side, the new platform's id, how
  its backfill ended, and the last legacy row version applied or written (so a change-capture read of our own
  write is recognised).
- ``deliveries``: legacy 序號 ↔ order id, for rows of either origin.
- ``backfill_tables`` / ``rejections``: the checkpoint of each table's backfill (or dry run) and every row refused.
- ``sync_marks``: the change-capture high-water mark per legacy table.
- ``conflicts``, ``cutovers``, ``reconcile_reports``: what people look at.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
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
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.platform.consumer import handled_events_table
from services.platform.database import schema_metadata
from services.platform.outbox import outbox_table

SCHEMA = "migration"
TABLE_NAMES = ("customers", "deliveries")
SIDES = ("legacy", "new")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{value}'" for value in values) + ")"


class Base(DeclarativeBase):
    metadata = schema_metadata(SCHEMA)


# migration.* events, written in the transaction of the change and relayed to `events.migration`.
OUTBOX = outbox_table(Base.metadata)
# Customer and order events applied to the legacy tables (new → legacy), by event id.
HANDLED_EVENTS = handled_events_table(Base.metadata)


class CustomerLinkRow(Base):
    __tablename__ = "customers"
    __table_args__ = (CheckConstraint(_one_of("primary_side", SIDES), name="primary_side"),)

    code: Mapped[str] = mapped_column(String(7), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(64), default="")
    primary_side: Mapped[str] = mapped_column(String(6), default="legacy", server_default=text("'legacy'"))
    # The legacy row version this service last applied (legacy → new) or wrote (new → legacy).
    legacy_version: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class DeliveryLinkRow(Base):
    __tablename__ = "deliveries"
    __table_args__ = (
        CheckConstraint(_one_of("origin", SIDES), name="origin"),
        Index("ix_deliveries_customer_code", "customer_code"),
    )

    legacy_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    order_id: Mapped[str] = mapped_column(String(64), unique=True)
    customer_code: Mapped[str] = mapped_column(String(7))
    origin: Mapped[str] = mapped_column(String(6))
    legacy_version: Mapped[int] = mapped_column(BigInteger, default=0)


class BackfillTableRow(Base):
    """One table's backfill (or dry run): its checkpoint (the last legacy key gone through) and its counts."""

    __tablename__ = "backfill_tables"
    __table_args__ = (CheckConstraint("done = migrated + rejected", name="done_is_migrated_plus_rejected"),)

    table_name: Mapped[str] = mapped_column(String(20), primary_key=True)
    dry_run: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    state: Mapped[str] = mapped_column(String(10), default="pending")
    checkpoint: Mapped[str] = mapped_column(Text, default="")  # the last legacy key gone through
    until_key: Mapped[str] = mapped_column(Text, default="")  # the last legacy key when the run started
    total: Mapped[int] = mapped_column(BigInteger, default=0)
    done: Mapped[int] = mapped_column(BigInteger, default=0)
    migrated: Mapped[int] = mapped_column(BigInteger, default=0)
    rejected: Mapped[int] = mapped_column(BigInteger, default=0)
    error: Mapped[str] = mapped_column(Text, default="")
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RejectionRow(Base):
    __tablename__ = "rejections"

    table_name: Mapped[str] = mapped_column(String(20), primary_key=True)
    dry_run: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    problems: Mapped[list[dict[str, str]]] = mapped_column(JSONB)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class SyncMarkRow(Base):
    __tablename__ = "sync_marks"

    table_name: Mapped[str] = mapped_column(String(20), primary_key=True)
    row_version: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ConflictRow(Base):
    __tablename__ = "conflicts"
    __table_args__ = (
        CheckConstraint(_one_of("state", ("open", "resolved")), name="state"),
        # At most one open conflict per row: a second change on the non-primary side adds to it.
        Index("ux_conflicts_open_row", "table_name", "key", unique=True, postgresql_where=text("state = 'open'")),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    table_name: Mapped[str] = mapped_column(String(20))
    key: Mapped[str] = mapped_column(Text)
    customer_code: Mapped[str] = mapped_column(String(7))
    primary_side: Mapped[str] = mapped_column(String(6))
    fields: Mapped[list[dict[str, str]]] = mapped_column(JSONB)  # [{field, primary, other}]
    other_text: Mapped[str] = mapped_column(Text)  # the other side's canonical row, to apply on "take other"
    state: Mapped[str] = mapped_column(String(10), default="open")
    resolution: Mapped[str] = mapped_column(String(20), default="")
    values: Mapped[dict[str, str]] = mapped_column(JSONB, default=dict)
    detected_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_by: Mapped[str] = mapped_column(String(100), default="")


class CutoverRow(Base):
    __tablename__ = "cutovers"
    __table_args__ = (
        CheckConstraint(_one_of("kind", ("cutover", "rollback")), name="kind"),
        CheckConstraint(_one_of("outcome", ("running", "done", "failed")), name="outcome"),
        Index("ix_cutovers_customer_code", "customer_code"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    customer_code: Mapped[str] = mapped_column(String(7))
    kind: Mapped[str] = mapped_column(String(10))
    outcome: Mapped[str] = mapped_column(String(10), default="running")
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sync_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    verify_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    total_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    rows_synced: Mapped[int] = mapped_column(Integer, default=0)
    detail: Mapped[str] = mapped_column(Text, default="")


class ReconcileReportRow(Base):
    __tablename__ = "reconcile_reports"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    table_name: Mapped[str] = mapped_column(String(20))
    trigger: Mapped[str] = mapped_column(String(10))
    repair: Mapped[bool] = mapped_column(Boolean)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    legacy_rows: Mapped[int] = mapped_column(BigInteger)
    new_rows: Mapped[int] = mapped_column(BigInteger)
    differences: Mapped[int] = mapped_column(BigInteger)
    rows: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    checksum_calls: Mapped[int] = mapped_column(Integer)
    rows_fetched: Mapped[int] = mapped_column(BigInteger)
    seconds: Mapped[float] = mapped_column(Float)
    rejected_rows: Mapped[int] = mapped_column(BigInteger, default=0)
