"""``python -m services.gateway migrate|serve|seed``."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

from services.gateway.app import create_app, migrate
from services.gateway.settings import GatewaySettings


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m services.gateway")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="apply every migration of the gateway schema")
    commands.add_parser("serve", help="serve HTTP until SIGTERM")
    seed = commands.add_parser("seed", help="create the demo users, or the load-test users of a file (idempotent)")
    seed.add_argument("--seed", default="demo", help="data set: demo, or load (with --accounts)")
    seed.add_argument(
        "--accounts", type=Path, help="with --seed load: the accounts file `luckygas load accounts` writes"
    )
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
    elif arguments.seed == "load":
        from services.gateway.users import seed_load_users

        if arguments.accounts is None:
            parser.error("--seed load needs --accounts FILE")
        created, updated = asyncio.run(
            seed_load_users(settings, json.loads(arguments.accounts.read_text(encoding="utf-8")))
        )
        print(f"load users: {created} created, {updated} updated")
    else:
        from services.gateway.users import seed_demo_users

        created = asyncio.run(seed_demo_users(settings))
        print(f"demo users: {created} created")


if __name__ == "__main__":
    main()
