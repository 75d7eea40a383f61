"""Settings of the tracking service process."""

from __future__ import annotations

from services.platform.settings import PlatformSettings


class TrackingSettings(PlatformSettings):
    tracking_grpc_host: str = "127.0.0.1"
    tracking_grpc_port: int = 50054
    tracking_metrics_port: int = 9104
    # ETAs: straight-line distance × detour factor at an average speed (the routing service's fallback too).
    detour_factor: float = 1.3
    average_speed_kmh: float = 30.0
