"""Settings of the gateway process."""

from __future__ import annotations

from services.platform.settings import PlatformSettings, SecretSettingsMixin


class GatewaySettings(SecretSettingsMixin, PlatformSettings):
    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8000
    customer_address: str = "127.0.0.1:50051"
    order_address: str = "127.0.0.1:50052"
    routing_address: str = "127.0.0.1:50053"
    tracking_address: str = "127.0.0.1:50054"
    migration_address: str = "127.0.0.1:50056"
    # Every call to a service carries this deadline; a slow service becomes a 504, never a hang.
    call_deadline_seconds: float = 2.0
    # A reconcile run compares a whole table across both sides before it answers (up to a million rows a side).
    reconcile_deadline_seconds: float = 120.0
    access_token_seconds: int = 600
    refresh_token_seconds: int = 14 * 24 * 3600
    max_failed_logins: int = 5
    lockout_seconds: int = 15 * 60
    # Login attempts per client address per window, counted in Redis so every gateway process shares them.
    login_attempts_per_window: int = 20
    login_window_seconds: int = 60
    max_body_bytes: int = 64 * 1024
    # Delivery proofs carry a signature and a photo (base64), so their route takes more.
    max_delivery_body_bytes: int = 4 * 1024 * 1024
    # A phone's offline backlog: 2,000 fixes at about 200 bytes of JSON each.
    max_positions_body_bytes: int = 512 * 1024
    access_log: bool = True
    demo_password: str = "luckygas-demo"
    # The first administrator's password (`bootstrap-admin`, run by the Helm chart's migration Job); empty = none.
    admin_password: str = ""
