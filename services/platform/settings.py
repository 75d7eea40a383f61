"""Settings base for every process: ``LUCKYGAS_*`` environment variables read once with pydantic-settings."""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.platform.clock import check_production


class PlatformSettings(BaseSettings):
    """What every service needs. Required values have no default; subclasses add their own."""

    model_config = SettingsConfigDict(env_prefix="LUCKYGAS_", extra="ignore", frozen=True)

    environment: Literal["development", "test", "production"] = "development"
    database_url: str
    redis_url: str = "redis://127.0.0.1:6379/0"
    log_level: str = "INFO"
    database_pool_size: int = 20
    # Where the flag service listens; every process keeps an in-process copy of the flags from it.
    flags_address: str = "127.0.0.1:50055"
    # How long a SIGTERM'd server keeps finishing in-flight calls before it stops.
    shutdown_grace_seconds: float = 5.0
    # Where a gRPC service's /metrics listens: loopback on a laptop, every interface in a pod so Prometheus can
    # scrape it (the gateway serves /metrics on its HTTP port).
    metrics_host: str = "127.0.0.1"

    @model_validator(mode="after")
    def _refuse_a_moved_clock_in_production(self) -> PlatformSettings:
        check_production(self.environment)
        return self


DEVELOPMENT_SECRET = "luckygas-development-secret-change-me"  # nosec B105 # the known default that production refuses


class SecretSettingsMixin(BaseSettings):
    """A signing secret that refuses to start outside development while it is the known default."""

    jwt_secret: str = DEVELOPMENT_SECRET
    environment: Literal["development", "test", "production"] = "development"

    @model_validator(mode="after")
    def _refuse_default_secret_in_production(self) -> SecretSettingsMixin:
        if self.environment == "production" and self.jwt_secret == DEVELOPMENT_SECRET:
            raise ValueError("LUCKYGAS_JWT_SECRET must be set to a real secret in production")
        if len(self.jwt_secret) < 32 and self.environment == "production":
            raise ValueError("LUCKYGAS_JWT_SECRET must be at least 32 characters in production")
        return self
