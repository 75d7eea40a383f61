"""Alembic environment of the order service (schema ``order``)."""

from services.order.models import Base
from services.platform.migrations import run_env

run_env(Base.metadata)
