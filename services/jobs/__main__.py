"""``python -m services.jobs migrate|smoke``: the Helm chart's hook Job and its `helm test`.

``migrate`` is what a deployment runs before its services start (the pre-install/pre-upgrade hook Job).

It waits for the databases, applies every service's migrations (each ``python -m services.<name> migrate``, the
same commands ``luckygas up`` runs), creates the first administrator when LUCKYGAS_ADMIN_PASSWORD is set, and with
``--seed demo`` loads the demo data. Every step is idempotent, so an upgrade or a retried Job runs it all again.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess  # nosec B404 # our own service commands, fixed arguments
import sys
import tempfile
import time

import asyncpg

# Migration order: every schema is its service's own, so the order only matters for the seeds that follow.
DEPLOYABLES = ("flags", "customer", "order", "routing", "tracking", "migration", "gateway")
DATABASE_VARIABLES = ("LUCKYGAS_DATABASE_URL", "LUCKYGAS_LEGACY_DATABASE_URL")
# The smoke test's password: an environment variable (a pod's spec and `ps` show arguments).
SMOKE_PASSWORD_VARIABLE = "LUCKYGAS_SMOKE_PASSWORD"  # nosec B105 # the name of the variable, not a password


def _libpq_url(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def _answers(url: str) -> str | None:
    """None when the database accepts a connection; otherwise why not."""
    try:
        connection = await asyncpg.connect(_libpq_url(url), timeout=5)
    except (OSError, asyncpg.PostgresError, TimeoutError) as error:
        return f"{type(error).__name__}: {error}"
    await connection.close()
    return None


def wait_for_databases(wait_seconds: float) -> None:
    """Block until every configured database accepts connections (an in-cluster Postgres may still be starting)."""
    deadline = time.monotonic() + wait_seconds
    for variable in DATABASE_VARIABLES:
        url = os.environ.get(variable)
        if not url:
            continue
        while (reason := asyncio.run(_answers(url))) is not None:
            if time.monotonic() > deadline:
                raise SystemExit(f"{variable}: no connection after {wait_seconds:g} s: {reason}")
            print(f"waiting for {variable}: {reason}", flush=True)
            time.sleep(2)


def run(deployable: str, *arguments: str) -> None:
    command = [sys.executable, "-m", f"services.{deployable}", *arguments]
    print(f"$ python -m services.{deployable} {' '.join(arguments)}", flush=True)
    result = subprocess.run(command, check=False)  # nosec B603 # our own module, fixed arguments
    if result.returncode != 0:
        raise SystemExit(f"services.{deployable} {arguments[0]} failed with exit code {result.returncode}")


def smoke(gateway: str, username: str, password: str, timeout: float) -> None:
    """Through the gateway as a client would: log in, list customers, read the first one listed."""
    import httpx

    with httpx.Client(base_url=gateway, timeout=timeout) as client:
        login = client.post("/api/v1/auth/login", json={"username": username, "password": password})
        if login.status_code != 200:
            raise SystemExit(f"login as {username}: {login.status_code} {login.text}")
        client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        listed = client.get("/api/v1/customers", params={"page_size": 1})
        if listed.status_code != 200:
            raise SystemExit(f"list customers: {listed.status_code} {listed.text}")
        items = listed.json()["items"]
        if not items:
            print(f"logged in as {username}; no customer yet to read", flush=True)
            return
        customer_id = items[0]["id"]
        read = client.get(f"/api/v1/customers/{customer_id}")
        if read.status_code != 200 or read.json()["id"] != customer_id:
            raise SystemExit(f"read customer {customer_id}: {read.status_code} {read.text}")
        print(f"logged in as {username}; read customer {customer_id} ({read.json()['short_name']})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m services.jobs")
    commands = parser.add_subparsers(dest="command", required=True)
    migrate = commands.add_parser("migrate", help="wait for the databases, migrate every schema, bootstrap, seed")
    migrate.add_argument("--wait-seconds", type=float, default=300.0, help="how long to wait for the databases")
    migrate.add_argument("--seed", help="also load a demo data set (e.g. 'demo'); idempotent")
    smoke_test = commands.add_parser("smoke", help="log in through the gateway and read a customer (helm test)")
    smoke_test.add_argument("--gateway", required=True, help="the gateway's base URL, e.g. http://luckygas-gateway")
    smoke_test.add_argument("--username", default="admin")
    smoke_test.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    arguments = parser.parse_args()

    if arguments.command == "smoke":
        smoke(arguments.gateway, arguments.username, os.environ[SMOKE_PASSWORD_VARIABLE], arguments.timeout)
        return
    wait_for_databases(arguments.wait_seconds)
    for deployable in DEPLOYABLES:
        run(deployable, "migrate")
    if os.environ.get("LUCKYGAS_ADMIN_PASSWORD"):
        run("gateway", "bootstrap-admin")
    if arguments.seed:
        # The migration service's seed writes the office's exports before loading them: a scratch folder (/tmp is
        # the only writable path of a pod with a read-only root filesystem).
        with tempfile.TemporaryDirectory(prefix="legacy-exports-") as exports:
            for deployable in DEPLOYABLES:
                extra = ("--out", exports) if deployable == "migration" else ()
                run(deployable, "seed", "--seed", arguments.seed, *extra)
    print("migrations applied", flush=True)


if __name__ == "__main__":
    main()
