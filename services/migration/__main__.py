"""``python -m services.migration migrate|serve|load FILE…|seed|office``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m services.migration")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="apply every migration of the migration schema and install the legacy tables")
    commands.add_parser("serve", help="run the gRPC server, sync loops and scheduled reconcile until SIGTERM")
    load = commands.add_parser("load", help="load the office's exports (.xlsx, Big5 .csv) into the legacy database")
    load.add_argument("files", nargs="+", type=Path, metavar="FILE")
    seed = commands.add_parser(
        "seed", help="write the demo's legacy exports and load them into the legacy database (idempotent)"
    )
    seed.add_argument("--seed", default="demo", help="data set; 'demo' or 'demo:<number>' for another random seed")
    seed.add_argument("--count", type=int, default=1300, help="customers (the customer service's demo count)")
    seed.add_argument(
        "--out", type=Path, default=Path("legacy-exports"), help="where the files go (default: ./legacy-exports)"
    )
    office = commands.add_parser("office", help="simulate the office's staff editing the legacy tables until SIGTERM")
    office.add_argument("--rate", type=float, default=1.0, help="changes a second (default: 1)")
    office.add_argument("--duration", type=float, help="stop after this many seconds (default: run until stopped)")
    office.add_argument("--seed", type=int, default=20261124, help="random seed: the same seed, the same changes")
    office.add_argument("--dirty", action="store_true", help="make about one change in ten a typo the mapping refuses")
    arguments = parser.parse_args()
    from services.migration.settings import MigrationSettings

    settings = MigrationSettings()  # type: ignore[call-arg,unused-ignore]  # required values come from the environment
    if arguments.command == "migrate":
        from services.migration.app import migrate

        migrate(settings)
    elif arguments.command == "serve":
        import uvloop

        from services.migration.app import serve

        uvloop.run(serve(settings))
    elif arguments.command == "seed":
        from services.migration.demo_exports import seed_demo

        print(asyncio.run(seed_demo(settings.legacy_database_url, arguments.seed, arguments.out, arguments.count)))
    elif arguments.command == "office":
        from services.migration.office import run_office_until_signalled

        asyncio.run(
            run_office_until_signalled(
                settings.legacy_database_url,
                rate=arguments.rate,
                duration=arguments.duration,
                seed=arguments.seed,
                dirty=arguments.dirty,
            )
        )
    else:
        from services.migration.legacy_load import load_files

        sys.exit(asyncio.run(load_files(settings.legacy_database_url, arguments.files)))


if __name__ == "__main__":
    main()
