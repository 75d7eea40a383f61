"""Fixtures of the migration tests: a legacy database of its own on the suite's Postgres, and migration-sync's parts
over it (tests/migration/fixtures.py, shared with the gateway's migration route tests)."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url

from services.local import stores
from tests.conftest import Stores
from tests.migration.fixtures import legacy as legacy
from tests.migration.fixtures import migration_schema as migration_schema
from tests.migration.fixtures import parts as parts


@pytest.fixture(scope="session")
def legacy_url(embedded_stores: Stores) -> str:
    """A database of its own beside the platform's, as `luckygas up` makes one for the legacy store."""
    url = make_url(embedded_stores.database_url)
    assert url.port is not None
    stores.create_database(url.port, "legacy_store_test")
    return url.set(database="legacy_store_test").render_as_string(hide_password=False)
