"""``python -m services.order migrate|serve|seed``."""

from __future__ import annotations

import argparse
import asyncio

from services.order.app import migrate, serve
from services.order.settings import OrderSettings


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m services.order")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="apply every migration of the order schema (includes the demo price list)")
    commands.add_parser("serve", help="run the gRPC server until SIGTERM")
    seed = commands.add_parser("seed", help="load the demo refill history (idempotent)")
    seed.add_argument("--seed", default="demo", help="data set; 'demo' or 'demo:<number>' for another random seed")
    arguments = parser.parse_args()
    settings = OrderSettings()  # type: ignore[call-arg,unused-ignore]  # required values come from the environment
    if arguments.command == "migrate":
        migrate(settings)
    elif arguments.command == "serve":
        import uvloop

        uvloop.run(serve(settings))
    else:
        from services.order.demo import seed_demo
        from services.platform.clock import taipei_date, utc_now

        print(asyncio.run(seed_demo(settings, arguments.seed, taipei_date(utc_now()))))


if __name__ == "__main__":
    main()
