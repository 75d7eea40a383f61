"""Alembic environment of the flag service (schema ``flags``)."""

from services.flags.models import Base
from services.platform.migrations import run_env

run_env(Base.metadata)
