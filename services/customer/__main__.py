"""``python -m services.customer migrate|serve|seed``."""

from __future__ import annotations

import argparse
import asyncio

from services.customer.app import migrate, serve
from services.customer.settings import CustomerSettings


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m services.customer")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="apply every migration of the customer schema")
    commands.add_parser("serve", help="run the gRPC server until SIGTERM")
    seed = commands.add_parser("seed", help="load demo customers (idempotent)")
    seed.add_argument("--seed", default="demo", help="data set; 'demo' or 'demo:<number>' for another random seed")
    seed.add_argument("--count", type=int, default=1300)
    arguments = parser.parse_args()
    settings = CustomerSettings()  # required values come from the environment
    if arguments.command == "migrate":
        migrate(settings)
    elif arguments.command == "serve":
        import uvloop

        # uvloop: the same asyncio API with a faster event loop; grpc.aio runs on it.
        uvloop.run(serve(settings))
    else:
        from services.customer.demo import seed_demo

        inserted = asyncio.run(seed_demo(settings, arguments.seed, arguments.count))
        print(f"demo customers: {inserted} inserted")


if __name__ == "__main__":
    main()
