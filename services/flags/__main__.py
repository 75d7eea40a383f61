"""``python -m services.flags migrate|serve|seed``."""

from __future__ import annotations

import argparse
import asyncio

from services.flags.app import migrate, serve
from services.flags.settings import FlagSettings


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m services.flags")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="apply every migration of the flags schema")
    commands.add_parser("serve", help="run the gRPC server until SIGTERM")
    seed = commands.add_parser("seed", help="define the pilot's flags (idempotent: existing flags are left alone)")
    seed.add_argument("--seed", default="demo", choices=["demo"], help="data set")
    arguments = parser.parse_args()
    settings = FlagSettings()  # type: ignore[call-arg,unused-ignore]  # required values come from the environment
    if arguments.command == "migrate":
        migrate(settings)
    elif arguments.command == "serve":
        import uvloop

        uvloop.run(serve(settings))
    else:
        from services.flags.demo import seed_demo

        print(asyncio.run(seed_demo(settings)))


if __name__ == "__main__":
    main()
