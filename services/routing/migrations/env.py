"""Alembic environment of the routing service (schema ``routing``)."""

from services.platform.migrations import run_env
from services.routing.models import Base

run_env(Base.metadata)
