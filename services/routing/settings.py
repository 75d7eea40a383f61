"""Settings of the routing service process."""

from __future__ import annotations

from services.platform.settings import PlatformSettings


class RoutingSettings(PlatformSettings):
    routing_grpc_host: str = "127.0.0.1"
    routing_grpc_port: int = 50053
    routing_metrics_port: int = 9103
    customer_address: str = "127.0.0.1:50051"
    order_address: str = "127.0.0.1:50052"
    # Deadline of each call to the customer and order services.
    call_deadline_seconds: float = 5.0
    # An OSRM-compatible table API (e.g. http://osrm:5000); empty = straight-line travel times only.
    osrm_url: str = ""
    osrm_timeout_seconds: float = 3.0
    # The straight-line fallback: distance × detour factor at an average speed (see travel.py).
    detour_factor: float = 1.3
    average_speed_kmh: float = 30.0
    # Time budget a caller may give the solver, and the default when it gives none.
    min_time_budget_seconds: float = 1.0
    max_time_budget_seconds: float = 60.0
    default_time_budget_seconds: float = 5.0
