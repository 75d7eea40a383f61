"""``python -m services.migration migrate|serve|load FILE…``."""

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
    else:
        from services.migration.legacy_load import load_files

        sys.exit(asyncio.run(load_files(settings.legacy_database_url, arguments.files)))


if __name__ == "__main__":
    main()
