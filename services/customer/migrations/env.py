"""Alembic environment of the customer service (schema ``customer``)."""

from services.customer.models import Base
from services.platform.migrations import run_env

run_env(Base.metadata)
