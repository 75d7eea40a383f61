"""``python -m services.routing migrate|serve|seed``."""

from __future__ import annotations

import argparse
import asyncio

from services.routing.app import migrate, serve
from services.routing.settings import RoutingSettings


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m services.routing")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="apply every migration of the routing schema (includes the Taitung depot)")
    commands.add_parser("serve", help="run the gRPC server until SIGTERM")
    seed = commands.add_parser("seed", help="load the demo fleet and its shifts for the coming days (idempotent)")
    seed.add_argument("--seed", default="demo", help="data set; only 'demo'")
    arguments = parser.parse_args()
    settings = RoutingSettings()  # type: ignore[call-arg,unused-ignore]  # required values come from the environment
    if arguments.command == "migrate":
        migrate(settings)
    elif arguments.command == "serve":
        import uvloop

        uvloop.run(serve(settings))
    else:
        from services.routing.demo import seed_demo

        print(asyncio.run(seed_demo(settings, arguments.seed)))


if __name__ == "__main__":
    main()
