"""``python -m services.gateway migrate|serve|seed``."""

from __future__ import annotations

import argparse
import asyncio

from services.gateway.app import create_app, migrate
from services.gateway.settings import GatewaySettings


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m services.gateway")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="apply every migration of the gateway schema")
    commands.add_parser("serve", help="serve HTTP until SIGTERM")
    seed = commands.add_parser("seed", help="create the demo users (idempotent)")
    seed.add_argument("--seed", default="demo")
    commands.add_parser("bootstrap-admin", help="create the user admin with LUCKYGAS_ADMIN_PASSWORD unless it exists")
    arguments = parser.parse_args()
    settings = GatewaySettings()  # required values come from the environment
    if arguments.command == "migrate":
        migrate(settings)
    elif arguments.command == "serve":
        import uvicorn

        from services.platform.telemetry import configure_logging, configure_tracing

        configure_logging("gateway", settings.log_level)
        configure_tracing("gateway")
        uvicorn.run(
            create_app(settings),
            host=settings.gateway_host,
            port=settings.gateway_port,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
        )
    elif arguments.command == "bootstrap-admin":
        from services.gateway.users import bootstrap_admin

        made = asyncio.run(bootstrap_admin(settings))
        print("admin: created" if made else "admin: already exists, left as it is")
    else:
        from services.gateway.users import seed_demo_users

        created = asyncio.run(seed_demo_users(settings))
        print(f"demo users: {created} created")


if __name__ == "__main__":
    main()
