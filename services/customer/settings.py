"""Settings of the customer service process."""

from __future__ import annotations

from services.platform.settings import PlatformSettings


class CustomerSettings(PlatformSettings):
    customer_grpc_host: str = "127.0.0.1"
    customer_grpc_port: int = 50051
    customer_metrics_port: int = 9101
