"""What the embedded platform runs: its stores and services, their ports, environment and persisted state."""

from __future__ import annotations

import json
import os
import secrets
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url

from services.local import stores
from services.local.readiness import Check, GrpcHealthCheck, HttpCheck, PortCheck
from services.local.supervision import Layout, SupervisedProgram, write_private_file
from services.platform import clock

DATABASE_NAME = "luckygas"
# The office's legacy system: a database of its own on the same server (migration-sync alone reads it).
LEGACY_DATABASE_NAME = "luckygas_legacy"
# The simulated office (`up --office`): a supervised program of its own, started after the services.
OFFICE_PROGRAM = "legacy-office"
DEFAULT_OFFICE_RATE = 1.0
DEFAULT_GATEWAY_PORT = 8000
DEFAULT_DEMO_PASSWORD = "luckygas-demo"  # nosec B105 # the local platform's demo logins; LUCKYGAS_DEMO_PASSWORD overrides it
DEMO_USERS = ("admin", "dispatcher", *(f"driver{number:02d}" for number in range(1, 9)), "sre", "customer01")
HOST = "127.0.0.1"

# Process priorities: stores start first and stop last; services follow in list order.
STORE_PRIORITY = 10
SERVICE_PRIORITY = 100


@dataclass(frozen=True)
class Service:
    """One deployable, run as ``python -m services.<name> migrate|seed --seed demo|serve``.

    A gRPC service gets a gRPC and a metrics port and is ready when its standard health check says
    SERVING; the HTTP gateway serves /metrics on its own port and is ready when /readyz answers 200.
    """

    name: str
    protocol: Literal["grpc", "http"]

    @property
    def module(self) -> str:
        return f"services.{self.name}"


# Start order: each service starts once everything before it is ready, so dependencies come first.
SERVICES: tuple[Service, ...] = (
    # First: every other service watches its flags (LUCKYGAS_FLAGS_ADDRESS) and the gateway administers them.
    Service("flags", "grpc"),
    Service("customer", "grpc"),
    # Reads customers over gRPC (LUCKYGAS_CUSTOMER_ADDRESS, set for every service below).
    Service("order", "grpc"),
    # Plans from the order and customer services' data; its demo seed is the fleet and two weeks of shifts.
    Service("routing", "grpc"),
    # Positions, arrivals and ETAs; follows the routing service's route events. Its demo seed is the drivers.
    Service("tracking", "grpc"),
    # Migration-sync: the legacy database (LUCKYGAS_LEGACY_DATABASE_URL) ↔ the customer and order services.
    Service("migration", "grpc"),
    Service("gateway", "http"),
)

MIGRATION = next(service for service in SERVICES if service.name == "migration")

STORE_NAMES = ("postgres", "redis")
# Their file names: Postgres and Redis overwrite their environment with process titles, so `down` also
# recognises them by executable plus a working directory inside the data dir (see find_platform_processes).
STORE_EXECUTABLES = ("postgres", "redis-server")


def port_keys() -> list[str]:
    """Every port the platform needs, by its key in the state file."""
    keys = ["postgres", "redis"]
    for service in SERVICES:
        keys += [f"{service.name}_grpc", f"{service.name}_metrics"] if service.protocol == "grpc" else [service.name]
    return keys


@dataclass
class PlatformState:
    """What must stay the same from one ``up`` to the next: ports, the JWT secret, which seeds were loaded."""

    ports: dict[str, int] = field(default_factory=dict)
    jwt_secret: str = ""
    seeds: list[str] = field(default_factory=list)
    # Servers given by LUCKYGAS_DATABASE_URL / LUCKYGAS_REDIS_URL / LUCKYGAS_LEGACY_DATABASE_URL at the last
    # `up`; empty means ours. Kept so `status`, `down` and `legacy` see the same platform without them set.
    external_database_url: str = ""
    external_redis_url: str = ""
    external_legacy_database_url: str = ""

    @classmethod
    def load(cls, path: Path) -> PlatformState | None:
        if not path.exists():
            return None
        raw = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            ports={str(key): int(value) for key, value in raw.get("ports", {}).items()},
            jwt_secret=str(raw.get("jwt_secret", "")),
            seeds=[str(seed) for seed in raw.get("seeds", [])],
            external_database_url=str(raw.get("external_database_url", "")),
            external_redis_url=str(raw.get("external_redis_url", "")),
            external_legacy_database_url=str(raw.get("external_legacy_database_url", "")),
        )

    def save(self, path: Path) -> None:
        # 0600: the file holds the JWT signing secret.
        document = {
            "ports": self.ports,
            "jwt_secret": self.jwt_secret,
            "seeds": self.seeds,
            "external_database_url": self.external_database_url,
            "external_redis_url": self.external_redis_url,
            "external_legacy_database_url": self.external_legacy_database_url,
        }
        write_private_file(path, json.dumps(document, indent=2, sort_keys=True) + "\n")

    def complete(self, gateway_port: int | None = None) -> None:
        """Fill in whatever is missing (a first run, or a service added since the last run)."""
        if not self.jwt_secret:
            self.jwt_secret = secrets.token_urlsafe(48)
        if gateway_port is not None:
            self.ports["gateway"] = gateway_port
        self.ports.setdefault("gateway", DEFAULT_GATEWAY_PORT)
        for key in port_keys():
            if key not in self.ports:
                self.ports[key] = self.fresh_port()

    def fresh_port(self) -> int:
        """A free port not already handed to another component (the OS may offer the same one twice)."""
        taken = set(self.ports.values())
        while True:
            port = stores.free_port()
            if port not in taken:
                return port

    @property
    def gateway_port(self) -> int:
        return self.ports["gateway"]


def load_state(
    layout: Layout, gateway_port: int | None = None, environ: Mapping[str, str] | None = None
) -> PlatformState:
    """The saved state, completed and saved again; ``environ`` (at `up`) decides which stores are external."""
    state = PlatformState.load(layout.state_path) or PlatformState()
    state.complete(gateway_port)
    if environ is not None:
        state.external_database_url = environ.get("LUCKYGAS_DATABASE_URL") or ""
        state.external_redis_url = environ.get("LUCKYGAS_REDIS_URL") or ""
        state.external_legacy_database_url = environ.get("LUCKYGAS_LEGACY_DATABASE_URL") or ""
    state.save(layout.state_path)
    return state


@dataclass(frozen=True)
class Endpoints:
    """Where the stores are: ours (embedded, supervised) or servers given by URL."""

    database_url: str
    redis_url: str
    embedded_postgres: bool
    embedded_redis: bool
    # The legacy database: LEGACY_DATABASE_NAME beside the platform's on the same server unless given by URL;
    # embedded when `up` creates it on the embedded Postgres server.
    legacy_database_url: str = ""
    embedded_legacy_database: bool = False


def endpoints(state: PlatformState) -> Endpoints:
    database_url, redis_url = state.external_database_url, state.external_redis_url
    platform_database = (
        _asyncpg_url(database_url) if database_url else stores.postgres_url(state.ports["postgres"], DATABASE_NAME)
    )
    legacy_url = state.external_legacy_database_url
    if legacy_url:
        legacy_database = _asyncpg_url(legacy_url)
    elif database_url:
        # The same server as the platform's database, LEGACY_DATABASE_NAME on it (which must exist there).
        legacy_database = make_url(platform_database).set(database=LEGACY_DATABASE_NAME).render_as_string(False)
    else:
        legacy_database = stores.postgres_url(state.ports["postgres"], LEGACY_DATABASE_NAME)
    return Endpoints(
        database_url=platform_database,
        redis_url=redis_url or stores.redis_url(state.ports["redis"]),
        embedded_postgres=not database_url,
        embedded_redis=not redis_url,
        legacy_database_url=legacy_database,
        embedded_legacy_database=not database_url and not legacy_url,
    )


def _asyncpg_url(url: str) -> str:
    # The services speak asyncpg through SQLAlchemy; accept the plain libpq spellings too.
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url


@dataclass(frozen=True)
class Component:
    """One thing `status` reports on: a supervised program, or an external store we only check."""

    name: str
    address: str
    check: Check
    supervised: bool


def components(state: PlatformState, found: Endpoints) -> list[Component]:
    """Every component in start order."""
    ports = state.ports
    listed = [
        _store_component("postgres", found.database_url, found.embedded_postgres, 5432),
        _store_component("redis", found.redis_url, found.embedded_redis, 6379),
    ]
    for service in SERVICES:
        if service.protocol == "grpc":
            grpc_port, metrics_port = ports[f"{service.name}_grpc"], ports[f"{service.name}_metrics"]
            address = f"{HOST}:{grpc_port} (gRPC), :{metrics_port}/metrics"
            check: Check = GrpcHealthCheck(HOST, grpc_port)
        else:
            port = ports[service.name]
            address = f"http://{HOST}:{port}"
            check = HttpCheck(f"http://{HOST}:{port}/readyz")
        listed.append(Component(service.name, address, check, supervised=True))
    return listed


def _store_component(name: str, url: str, embedded: bool, default_port: int) -> Component:
    parts = urlsplit(url)
    host, port = parts.hostname or HOST, parts.port or default_port
    # Host and port only: a URL given from outside may carry a password.
    address = f"{host}:{port}" if embedded else f"{host}:{port} (external)"
    return Component(name, address, PortCheck(host, port), embedded)


def service_environment(state: PlatformState, found: Endpoints, environ: Mapping[str, str]) -> dict[str, str]:
    """The environment of every service command (migrate, seed, serve); only migration-sync reads the legacy URL."""
    environment = {
        "LUCKYGAS_ENVIRONMENT": "development",
        "LUCKYGAS_DATABASE_URL": found.database_url,
        "LUCKYGAS_LEGACY_DATABASE_URL": found.legacy_database_url,
        "LUCKYGAS_REDIS_URL": found.redis_url,
        "LUCKYGAS_JWT_SECRET": state.jwt_secret,
        "LUCKYGAS_DEMO_PASSWORD": environ.get("LUCKYGAS_DEMO_PASSWORD") or DEFAULT_DEMO_PASSWORD,
        "PYTHONUNBUFFERED": "1",
    }
    # A moved clock (services/platform/clock.py) must reach every process alike, or they disagree on the day.
    if environ.get(clock.OFFSET_VARIABLE):
        environment[clock.OFFSET_VARIABLE] = environ[clock.OFFSET_VARIABLE]
    for service in SERVICES:
        prefix = f"LUCKYGAS_{service.name.upper()}"
        if service.protocol == "grpc":
            grpc_port = state.ports[f"{service.name}_grpc"]
            environment[f"{prefix}_GRPC_PORT"] = str(grpc_port)
            environment[f"{prefix}_METRICS_PORT"] = str(state.ports[f"{service.name}_metrics"])
            environment[f"{prefix}_ADDRESS"] = f"{HOST}:{grpc_port}"
        else:
            environment[f"{prefix}_PORT"] = str(state.ports[service.name])
    return environment


def service_command(service: Service, *arguments: str) -> list[str]:
    # sys.executable: the interpreter of the environment luckygas itself runs in, whatever PATH says.
    return [sys.executable, "-m", service.module, *arguments]


def office_command(rate: float = DEFAULT_OFFICE_RATE, *options: str) -> list[str]:
    """The simulated office: migration-sync's ``office`` command."""
    return [sys.executable, "-m", "services.migration", "office", "--rate", f"{rate:g}", *options]


def supervised_programs(
    layout: Layout,
    state: PlatformState,
    found: Endpoints,
    environ: Mapping[str, str],
    office_rate: float | None = None,
) -> list[SupervisedProgram]:
    """The supervisord programs, in start order; with ``office_rate``, the simulated office after the services.
    Initialises the Postgres data folder on first use."""
    programs = []
    if found.embedded_postgres:
        spec = stores.prepare_postgres(layout.data_dir / "postgres", state.ports["postgres"], durable=True)
        programs.append(
            SupervisedProgram(
                "postgres",
                spec.argv,
                spec.environment,
                # pgserver's own account when we are root: Postgres refuses to run as root.
                user=spec.user if spec.user and os.geteuid() == 0 else None,
                priority=STORE_PRIORITY,
                # SIGTERM is Postgres' "smart" shutdown, which waits for every client to hang up;
                # SIGINT is the "fast" one that still shuts down cleanly.
                stop_signal="INT",
            )
        )
    if found.embedded_redis:
        spec = stores.redis_spec(layout.data_dir / "redis", state.ports["redis"], durable=True)
        programs.append(SupervisedProgram("redis", spec.argv, spec.environment, priority=STORE_PRIORITY))
    environment = service_environment(state, found, environ)
    for offset, service in enumerate(SERVICES):
        programs.append(
            SupervisedProgram(
                service.name,
                service_command(service, "serve"),
                environment,
                priority=SERVICE_PRIORITY + 10 * offset,
            )
        )
    if office_rate is not None:
        programs.append(
            SupervisedProgram(
                OFFICE_PROGRAM,
                office_command(office_rate),
                environment,
                priority=SERVICE_PRIORITY + 10 * len(SERVICES),
            )
        )
    return programs
