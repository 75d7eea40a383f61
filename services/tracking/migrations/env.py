"""Alembic environment of the tracking service (schema ``tracking``)."""

from services.platform.migrations import run_env
from services.tracking.models import Base

run_env(Base.metadata)
