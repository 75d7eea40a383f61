"""The async engine and the one-session-per-call scope: commit on success, roll back on error."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from services.platform.errors import Unavailable

# Constraint names are stable across migrations and readable in errors.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def schema_metadata(schema: str) -> MetaData:
    """Metadata for a service's own Postgres schema."""
    return MetaData(schema=schema, naming_convention=NAMING_CONVENTION)


def trace_statements(engine: Engine, database: str) -> None:
    """A client span per SQL statement, child of the RPC or request being served (trace reaches the database)."""
    tracer = trace.get_tracer("luckygas.database")

    @event.listens_for(engine, "before_cursor_execute")
    def start_span(connection: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        operation = statement.lstrip().split(" ", 1)[0].upper()
        span = tracer.start_span(
            f"{operation} {database}",
            kind=SpanKind.CLIENT,
            attributes={"db.system.name": "postgresql", "db.namespace": database, "db.query.text": statement},
        )
        context._luckygas_span = span

    @event.listens_for(engine, "after_cursor_execute")
    def end_span(connection: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        span = getattr(context, "_luckygas_span", None)
        if span is not None:
            span.end()

    @event.listens_for(engine, "handle_error")
    def fail_span(exception_context: Any) -> None:
        span = getattr(exception_context.execution_context, "_luckygas_span", None)
        if span is not None:
            span.set_status(Status(StatusCode.ERROR, type(exception_context.original_exception).__name__))
            span.end()


# SQLSTATE classes of a server that cannot be used now, whatever the statement: connection exception,
# insufficient resources, operator intervention (shut down, terminated, starting up).
_OUTAGE_CLASSES = {"08", "53", "57"}
# object_not_in_prerequisite_state: what a database that does not accept connections answers.
_OUTAGE_STATES = {"55000"}


def is_outage(error: BaseException) -> bool:
    """Whether ``error`` says the database could not be reached or used (a retry later may work), as opposed to a
    statement it refused."""
    if isinstance(error, (OperationalError, InterfaceError, OSError, ConnectionError)):
        return True
    if not isinstance(error, DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    # The asyncpg adapter keeps the server's code on its own error or on the asyncpg error under it.
    state = getattr(error.orig, "sqlstate", None) or getattr(getattr(error.orig, "__cause__", None), "sqlstate", None)
    return isinstance(state, str) and (state[:2] in _OUTAGE_CLASSES or state in _OUTAGE_STATES)


@contextmanager
def outages_as_unavailable(what: str) -> Iterator[None]:
    """Within the block, a database that cannot be reached raises Unavailable naming ``what`` (callers such as the
    event consumer retry those without counting them against the event)."""
    try:
        yield
    except Exception as error:
        if is_outage(error):
            raise Unavailable(f"{what} is unreachable") from error
        raise


def create_engine(url: str, *, pool_size: int = 10, application_name: str = "luckygas") -> AsyncEngine:
    # A fixed pool: overflow connections are opened and closed under load, which costs Postgres more than
    # waiting briefly for a pooled one. No pre-ping (a round trip per checkout): a dead connection fails
    # its call as Unavailable, which idempotent callers retry.
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=0,
        pool_recycle=1800,
        pool_timeout=5,
        connect_args={"server_settings": {"application_name": application_name}, "timeout": 5},
    )
    trace_statements(engine.sync_engine, engine.url.database or "postgres")
    return engine


class Database:
    """Owns the engine and hands out one session per RPC or request."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
        # Single-statement reads need no BEGIN/COMMIT round trips.
        self._read_sessions = async_sessionmaker(
            engine.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False, autoflush=False
        )

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """The scope that opens a session commits it on success and rolls it back on any error."""
        try:
            async with self._sessions() as session:
                try:
                    yield session
                    await session.commit()
                except BaseException:
                    await session.rollback()
                    raise
        except Exception as error:
            if is_outage(error):
                raise Unavailable("the database is unreachable") from error
            raise

    @asynccontextmanager
    async def read_session(self) -> AsyncIterator[AsyncSession]:
        """A session for a read that is one statement: autocommit, so no transaction round trips."""
        try:
            async with self._read_sessions() as session:
                yield session
        except Exception as error:
            if is_outage(error):
                raise Unavailable("the database is unreachable") from error
            raise

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as connection:
                await connection.exec_driver_sql("SELECT 1")
            return True
        except Exception:  # noqa: BLE001 - readiness reports any failure as not ready
            return False

    async def dispose(self) -> None:
        await self.engine.dispose()
