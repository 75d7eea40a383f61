"""Alembic environment of the migration-sync service (schema ``migration``)."""

from services.migration.models import Base
from services.platform.migrations import run_env

run_env(Base.metadata)
