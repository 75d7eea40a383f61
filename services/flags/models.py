"""The flag service's tables, in its own Postgres schema ``flags``.

``flag_versions`` and ``audit`` are append-only: a trigger (migration 0001) refuses UPDATE and DELETE on them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, CheckConstraint, DateTime, ForeignKey, Identity, Index, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.platform.database import schema_metadata
from services.platform.outbox import outbox_table

SCHEMA = "flags"
KEY_PATTERN = "^[a-z0-9][a-z0-9._-]{0,99}$"
ACTIONS = ("create", "change", "kill", "restore", "delete", "import")
_ACTIONS_SQL = ", ".join(f"'{action}'" for action in ACTIONS)


class Base(DeclarativeBase):
    metadata = schema_metadata(SCHEMA)


# flag.changed events, written in the transaction of the change and relayed to `events.flag`.
OUTBOX = outbox_table(Base.metadata)


class FlagRow(Base):
    """A flag as it is now: its current definition (flagd format) and version; deleted flags stay, marked."""

    __tablename__ = "flags"
    __table_args__ = (
        CheckConstraint(f"key ~ '{KEY_PATTERN}'", name="key_format"),
        CheckConstraint("version >= 1", name="version_positive"),
    )

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    definition: Mapped[dict[str, Any]] = mapped_column(JSONB)
    description: Mapped[str] = mapped_column(String(500))
    version: Mapped[int] = mapped_column(BigInteger)
    deleted: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_by: Mapped[str] = mapped_column(String(100))


class FlagVersionRow(Base):
    """Every version a flag ever had, so any of them can be made current again."""

    __tablename__ = "flag_versions"

    key: Mapped[str] = mapped_column(ForeignKey("flags.key"), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    definition: Mapped[dict[str, Any]] = mapped_column(JSONB)
    description: Mapped[str] = mapped_column(String(500))
    deleted: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    created_by: Mapped[str] = mapped_column(String(100))


class AuditRow(Base):
    """Who changed which flag, when, why, and the definition before and after. Never changed once written."""

    __tablename__ = "audit"
    __table_args__ = (
        CheckConstraint(f"action IN ({_ACTIONS_SQL})", name="action_known"),
        # ListAudit for one flag, newest first.
        Index("ix_audit_flag_key_sequence", "flag_key", "sequence"),
    )

    # Assigned at insert; writers serialise on one advisory lock, so it also follows commit order.
    sequence: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    flag_key: Mapped[str] = mapped_column(String(100))
    flag_version: Mapped[int] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(10))
    actor: Mapped[str] = mapped_column(String(100))
    actor_role: Mapped[str] = mapped_column(String(30))
    reason: Mapped[str] = mapped_column(String(500))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
