"""``python -m services.tracking migrate|serve|seed``."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

from services.tracking.app import migrate, serve
from services.tracking.settings import TrackingSettings


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m services.tracking")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="apply every migration of the tracking schema")
    commands.add_parser("serve", help="run the gRPC server and the route and order event consumers until SIGTERM")
    seed = commands.add_parser(
        "seed", help="load the demo drivers driver01-driver08, or the load-test drivers of a file (idempotent)"
    )
    seed.add_argument("--seed", default="demo", help="data set: demo, or load (with --accounts)")
    seed.add_argument(
        "--accounts", type=Path, help="with --seed load: the accounts file `luckygas load accounts` writes"
    )
    arguments = parser.parse_args()
    settings = TrackingSettings()  # type: ignore[call-arg,unused-ignore]  # required values come from the environment
    if arguments.command == "migrate":
        migrate(settings)
    elif arguments.command == "serve":
        import uvloop

        uvloop.run(serve(settings))
    elif arguments.seed == "load":
        from services.tracking.demo import seed_load_drivers

        if arguments.accounts is None:
            parser.error("--seed load needs --accounts FILE")
        print(asyncio.run(seed_load_drivers(settings, json.loads(arguments.accounts.read_text(encoding="utf-8")))))
    else:
        from services.tracking.demo import seed_demo

        print(asyncio.run(seed_demo(settings, arguments.seed)))


if __name__ == "__main__":
    main()
