"""Fixtures for the event bus: throwaway outbox, handled-events and effects tables in schema ``eventbus_test``."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest
from sqlalchemy import BigInteger, Column, Identity, MetaData, String, Table, Uuid, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.platform.consumer import handled_events_table
from services.platform.database import Database, schema_metadata
from services.platform.outbox import EventEnvelope, outbox_table, record_event

SCHEMA = "eventbus_test"


@dataclass
class EventBus:
    """The test schema's tables and shortcuts to write events and count effects."""

    database: Database
    metadata: MetaData
    outbox: Table
    handled: Table
    effects: Table

    async def record(self, count: int, *, aggregate: str = "thing", aggregate_id: str = "t-1") -> list[EventEnvelope]:
        """Commit ``count`` events of one aggregate in one transaction."""
        async with self.database.session() as session:
            return [
                await record_event(
                    session,
                    self.outbox,
                    aggregate=aggregate,
                    type=f"{aggregate}.changed",
                    aggregate_id=aggregate_id,
                    aggregate_version=version,
                    payload={"n": version, "note": "瓦斯"},
                )
                for version in range(1, count + 1)
            ]

    async def scalar(self, sql: str) -> int:
        async with self.database.session() as session:
            return int((await session.execute(text(sql))).scalar_one())

    async def effect_ids(self) -> list[uuid.UUID]:
        async with self.database.session() as session:
            return list((await session.scalars(select(self.effects.c.event_id).order_by(self.effects.c.id))).all())

    def effect_writer(self, group: str = "") -> Callable[[EventEnvelope, AsyncSession], Awaitable[None]]:
        """A handler whose only effect is one row per call: duplicates would show as extra rows."""

        async def apply(envelope: EventEnvelope, session: AsyncSession) -> None:
            await session.execute(insert(self.effects).values(event_id=envelope.id, consumer_group=group))

        return apply


def eventbus_tables(schema: str = SCHEMA) -> tuple[MetaData, Table, Table, Table]:
    metadata = schema_metadata(schema)
    effects = Table(
        "effects",
        metadata,
        Column("id", BigInteger, Identity(), primary_key=True),
        # Deliberately not unique: exactly-once must come from the consumer, not from this table.
        Column("event_id", Uuid, nullable=False),
        Column("consumer_group", String(100), nullable=False),
    )
    return metadata, outbox_table(metadata), handled_events_table(metadata), effects


@pytest.fixture
async def eventbus(database: Database) -> AsyncIterator[EventBus]:
    metadata, outbox, handled, effects = eventbus_tables()
    async with database.engine.begin() as connection:
        await connection.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        await connection.execute(text(f"CREATE SCHEMA {SCHEMA}"))
        await connection.run_sync(metadata.create_all)
    yield EventBus(database, metadata, outbox, handled, effects)
    async with database.engine.begin() as connection:
        await connection.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 15.0, interval: float = 0.02) -> None:
    """Wait until ``check`` holds; fail after ``within`` seconds (a bound, never an expectation of timing)."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within}s")
        await asyncio.sleep(interval)


async def unpublished(bus: EventBus) -> int:
    async with bus.database.session() as session:
        return int(
            (
                await session.execute(
                    select(func.count()).select_from(bus.outbox).where(bus.outbox.c.published_at.is_(None))
                )
            ).scalar_one()
        )
