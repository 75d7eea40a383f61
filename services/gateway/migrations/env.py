"""Alembic environment of the gateway (schema ``gateway``)."""

from services.gateway.models import Base
from services.platform.migrations import run_env

run_env(Base.metadata)
