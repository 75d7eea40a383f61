"""Settings of the flag service process."""

from __future__ import annotations

from services.platform.settings import PlatformSettings


class FlagSettings(PlatformSettings):
    flags_grpc_host: str = "127.0.0.1"
    flags_grpc_port: int = 50055
    flags_metrics_port: int = 9105
    # How often the in-memory copy compares its revision with the database: the safety net for a change
    # whose Redis message was lost (Redis down, or a writer that died between commit and publish).
    flags_resync_seconds: float = 2.0
