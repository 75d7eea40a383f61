"""Alembic, per service schema: each service keeps its migrations and its version table in its own schema."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.schema import CreateSchema


def alembic_config(script_location: Path, database_url: str, schema: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    config.attributes["schema"] = schema
    return config


def upgrade(script_location: Path, database_url: str, schema: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(script_location, database_url, schema), revision)


def run_env(target_metadata: MetaData) -> None:
    """The body of every service's migrations/env.py (online mode only: we always have a database)."""
    config = context.config
    schema = config.attributes["schema"]
    url = config.get_main_option("sqlalchemy.url")
    assert url is not None

    def migrate(connection: Connection) -> None:
        connection.execute(CreateSchema(schema, if_not_exists=True))
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            version_table_schema=schema,
            include_schemas=False,
            compare_type=True,
        )
        with context.begin_transaction():
            # Two processes migrating the same schema at once wait for each other here.
            connection.execute(text("SELECT pg_advisory_xact_lock(hashtext(:schema))"), {"schema": schema})
            context.run_migrations()

    async def run() -> None:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as connection:
                await connection.run_sync(migrate)
                await connection.commit()
        finally:
            await engine.dispose()

    asyncio.run(run())
