"""Settings of the order service process."""

from __future__ import annotations

from services.platform.settings import PlatformSettings


class OrderSettings(PlatformSettings):
    order_grpc_host: str = "127.0.0.1"
    order_grpc_port: int = 50052
    order_metrics_port: int = 9102
    # The customer service's gRPC address (host:port), set by `luckygas up` like every *_ADDRESS.
    customer_address: str = "127.0.0.1:50051"
    # Deadline of each call to the customer service.
    customer_deadline_seconds: float = 2.0
