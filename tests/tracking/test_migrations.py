"""The hand-tidied migration creates exactly the tables the models (and the platform's outbox) describe."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from services.platform.database import Database
from services.tracking.models import SCHEMA, Base


async def test_migrations_match_the_models(tracking_database: Database) -> None:
    def differences(connection: Any) -> list[Any]:
        context = MigrationContext.configure(
            connection,
            opts={
                "include_schemas": True,
                "include_name": lambda name, kind, parent: kind != "schema" or name == SCHEMA,
                "compare_type": True,
                "compare_server_default": True,
                "version_table_schema": SCHEMA,
            },
        )
        return list(compare_metadata(context, Base.metadata))

    async with tracking_database.engine.connect() as connection:
        assert await connection.run_sync(differences) == []
