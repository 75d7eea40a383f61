"""A database that cannot be used is Unavailable (callers retry it later); a statement it refuses is not."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from services.platform.database import Database, create_engine, outages_as_unavailable
from services.platform.errors import Unavailable
from tests.conftest import Stores


@pytest.fixture
async def doomed(embedded_stores: Stores, database: Database) -> AsyncIterator[tuple[Database, str]]:
    """A database of its own (which the test takes away) and its name."""
    name = f"outage_{uuid.uuid4().hex[:8]}"
    async with database.engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(text(f"CREATE DATABASE {name}"))
    url = make_url(embedded_stores.database_url).set(database=name).render_as_string(hide_password=False)
    own = Database(create_engine(url, pool_size=2))
    yield own, name
    await own.dispose()
    async with database.engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(text(f"ALTER DATABASE {name} WITH ALLOW_CONNECTIONS true"))
        await connection.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))


async def take_away(database: Database, name: str) -> None:
    """Every connection to ``name`` ended and no new one accepted, as when its server is stopped for it."""
    async with database.engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(text(f"ALTER DATABASE {name} WITH ALLOW_CONNECTIONS false"))
        await connection.execute(
            text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"), {"name": name}
        )


async def session_select(database: Database) -> None:
    async with database.session() as session:
        await session.execute(text("SELECT 1"))


async def read_select(database: Database) -> None:
    async with database.read_session() as session:
        await session.execute(text("SELECT 1"))


async def bare_select(database: Database, statement: str) -> None:
    """A statement on the engine itself (as migration-sync reaches the legacy database), outages named."""
    with outages_as_unavailable("the legacy database"):
        async with database.engine.connect() as connection:
            await connection.execute(text(statement))


async def test_a_database_taken_away_is_unavailable_for_sessions_reads_and_bare_engines(
    doomed: tuple[Database, str], database: Database
) -> None:
    own, name = doomed
    await session_select(own)  # leaves a pooled connection, which the outage ends
    await take_away(database, name)
    with pytest.raises(Unavailable):
        await session_select(own)
    with pytest.raises(Unavailable):
        await read_select(own)
    with pytest.raises(Unavailable, match="the legacy database is unreachable"):
        await bare_select(own, "SELECT 1")


async def test_a_statement_the_database_refuses_is_not_an_outage(database: Database) -> None:
    with pytest.raises(DBAPIError) as refused:
        await bare_select(database, "SELECT 1 / 0")
    assert not isinstance(refused.value, Unavailable)
