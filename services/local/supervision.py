"""supervisord for the embedded platform: its configuration file, its start-up, and an XML-RPC client to it."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shlex
import signal
import stat
import subprocess
import sys
import time
import xmlrpc.client  # nosec B411 # only our supervisord answers, on its 0700 socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Any, cast

from supervisor.xmlrpc import Faults, SupervisorTransport  # type: ignore[import-untyped]

# Every process supervisord starts inherits this variable (set in supervisord's own environment), so the
# processes of one platform instance can be found in /proc even after supervisord itself died.
MARKER_VARIABLE = "LUCKYGAS_SUPERVISED_DATA_DIR"

# sockaddr_un.sun_path is 108 bytes including the terminating NUL.
MAX_SOCKET_PATH_BYTES = 107
# Where the socket goes when the data dir's path is too long for AF_UNIX; /tmp (not $TMPDIR) keeps it short.
SHORT_SOCKET_ROOT = Path("/tmp")  # nosec B108 # create_directories checks the folder in it is ours alone

# What every program shares; the issue asks for restart on death and whole-group stops.
# The supervisord configuration is data: templates in deploy/local, filled in per data folder.
TEMPLATES = Path(__file__).resolve().parents[2] / "deploy" / "local"

RUNNING_STATES = frozenset({"STARTING", "RUNNING", "BACKOFF"})


class SupervisionError(RuntimeError):
    """supervisord could not be configured, started, reached or stopped."""


@dataclass(frozen=True)
class Layout:
    """Where one platform instance keeps its files; everything lives under ``data_dir``."""

    data_dir: Path

    @classmethod
    def at(cls, data_dir: Path | str) -> Layout:
        # Resolved once: the path ends up in the socket hash and the process marker, which must be stable.
        return cls(Path(data_dir).expanduser().resolve())

    @property
    def conf_path(self) -> Path:
        return self.data_dir / "supervisord.conf"

    @property
    def pidfile(self) -> Path:
        return self.data_dir / "supervisord.pid"

    @property
    def state_path(self) -> Path:
        return self.data_dir / "state.json"

    @property
    def lock_path(self) -> Path:
        return self.data_dir / ".lock"

    @property
    def logs_dir(self) -> Path:
        return self.data_dir / "logs"

    def log_path(self, program: str) -> Path:
        return self.logs_dir / f"{program}.log"

    @property
    def socket_path(self) -> Path:
        """The control socket: in the data dir unless that path is too long for AF_UNIX."""
        preferred = self.data_dir / "supervisor.sock"
        if len(os.fsencode(str(preferred))) <= MAX_SOCKET_PATH_BYTES:
            return preferred
        # Keyed by the data dir so two platforms never share a socket.
        digest = hashlib.sha256(os.fsencode(str(self.data_dir))).hexdigest()[:16]
        return SHORT_SOCKET_ROOT / f"luckygas-{digest}" / "supervisor.sock"

    def create_directories(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        socket_dir = self.socket_path.parent
        socket_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        # A folder under /tmp has a name anyone can work out: another user who made it first could swap the socket.
        found = socket_dir.lstat()
        if socket_dir != self.data_dir and (
            not stat.S_ISDIR(found.st_mode) or found.st_uid != os.geteuid() or stat.S_IMODE(found.st_mode) & 0o077
        ):
            raise SupervisionError(f"{socket_dir} must be a folder of this user's that no one else can open; remove it")


@dataclass(frozen=True)
class SupervisedProgram:
    """One long-running process under supervisord; ``name`` is both its program and its group name."""

    name: str
    argv: Sequence[str]
    environment: Mapping[str, str] = field(default_factory=dict)
    user: str | None = None
    # Lower starts first and stops last, like supervisord's own priority.
    priority: int = 100
    stop_signal: str = "TERM"


def _config_value(value: str) -> str:
    """A value safe to put after ``key=`` in supervisord's ini file."""
    if "\n" in value or "\r" in value:
        raise ValueError(f"a supervisord setting cannot contain a line break: {value!r}")
    # configparser (as supervisord sets it up) cuts a value at whitespace followed by ';' or '#'.
    if re.search(r"\s[;#]", value):
        raise ValueError(f"a supervisord setting cannot contain whitespace followed by ';' or '#': {value!r}")
    # supervisord expands %(name)s in values.
    return value.replace("%", "%%")


def encode_environment(environment: Mapping[str, str]) -> str:
    """``environment=`` for supervisord, which reads it with a non-POSIX shlex: quotes are kept, then stripped."""
    parts = []
    for key, value in sorted(environment.items()):
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise ValueError(f"not an environment variable name: {key!r}")
        if value[:1] in ("'", '"') or value[-1:] in ("'", '"') or ('"' in value and "'" in value):
            # No escapes exist in that syntax, and quotes at either end are stripped.
            raise ValueError(f"{key} cannot be passed through supervisord's environment syntax: {value!r}")
        quote = "'" if '"' in value else '"'
        parts.append(f"{key}={quote}{value}{quote}")
    return _config_value(",".join(parts))


def render_config(layout: Layout, programs: Iterable[SupervisedProgram]) -> str:
    """The whole supervisord.conf for ``programs``; deterministic, so an unchanged platform reloads as unchanged."""
    socket = _config_value(str(layout.socket_path))
    text = Template((TEMPLATES / "supervisord.conf").read_text()).substitute(
        socket=socket,
        supervisord_log=_config_value(str(layout.log_path("supervisord"))),
        pidfile=_config_value(str(layout.pidfile)),
        logs_dir=_config_value(str(layout.logs_dir)),
        data_dir=_config_value(str(layout.data_dir)),
    )
    program_template = Template((TEMPLATES / "program.conf").read_text())
    for program in programs:
        text += program_template.substitute(
            name=program.name,
            command=_config_value(shlex.join(program.argv)),
            data_dir=_config_value(str(layout.data_dir)),
            stop_signal=program.stop_signal,
            priority=program.priority,
            log=_config_value(str(layout.log_path(program.name))),
        )
        if program.user is not None:
            text += f"user={_config_value(program.user)}\n"
        if program.environment:
            text += f"environment={encode_environment(program.environment)}\n"
    return text


def write_config(layout: Layout, programs: Iterable[SupervisedProgram]) -> None:
    """Write supervisord.conf readable by us only: program environments carry the JWT secret."""
    write_private_file(layout.conf_path, render_config(layout, programs))


def write_private_file(path: Path, text: str) -> None:
    """Replace ``path`` atomically with ``text``, mode 0600 from the start."""
    temporary = path.with_name(f".{path.name}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(text)
    os.chmod(temporary, 0o600)  # O_CREAT's mode is ignored when the file already existed
    os.replace(temporary, path)


@dataclass(frozen=True)
class ProcessInfo:
    name: str
    state: str
    pid: int
    description: str
    exit_status: int

    @property
    def alive(self) -> bool:
        return self.pid > 0 and self.state in RUNNING_STATES


@dataclass(frozen=True)
class ConfigChanges:
    added: list[str]
    changed: list[str]
    removed: list[str]

    def __bool__(self) -> bool:
        return bool(self.added or self.changed or self.removed)


class SupervisorClient:
    """supervisord's XML-RPC interface over the data dir's unix socket."""

    def __init__(self, layout: Layout) -> None:
        self._layout = layout

    def _call(self, method: str, *arguments: Any) -> Any:
        # A connection per call, closed right after: a transport that once failed keeps a broken connection,
        # and an unclosed one leaks its socket.
        transport = SupervisorTransport(None, None, f"unix://{self._layout.socket_path}")
        try:
            proxy = xmlrpc.client.ServerProxy("http://localhost", transport=transport)
            return getattr(proxy.supervisor, method)(*arguments)
        finally:
            transport.close()

    def is_running(self) -> bool:
        try:
            return cast(str, self._call("getState")["statename"]) == "RUNNING"
        except (OSError, xmlrpc.client.Error):
            return False

    def pid(self) -> int:
        return int(self._call("getPID"))

    def processes(self) -> dict[str, ProcessInfo]:
        return {info.name: info for info in map(_process_info, self._call("getAllProcessInfo"))}

    def process(self, name: str) -> ProcessInfo:
        return _process_info(self._call("getProcessInfo", name))

    def start(self, name: str) -> None:
        """Ask supervisord to start ``name`` without waiting; readiness checks do the waiting."""
        try:
            self._call("startProcess", name, False)
        except xmlrpc.client.Fault as fault:
            if fault.faultCode != Faults.ALREADY_STARTED:
                raise SupervisionError(f"supervisord could not start {name}: {fault.faultString}") from fault

    def stop(self, name: str) -> None:
        """Stop ``name`` and wait until it is gone (supervisord escalates to SIGKILL after stopwaitsecs)."""
        try:
            self._call("stopProcess", name, True)
        except xmlrpc.client.Fault as fault:
            if fault.faultCode != Faults.NOT_RUNNING:
                raise SupervisionError(f"supervisord could not stop {name}: {fault.faultString}") from fault

    def stop_all(self) -> None:
        self._call("stopAllProcesses", True)

    def shutdown(self) -> None:
        self._call("shutdown")

    def update(self) -> ConfigChanges:
        """Apply a rewritten supervisord.conf to the running supervisord, like ``supervisorctl update``."""
        added, changed, removed = self._call("reloadConfig")[0]
        for name in [*removed, *changed]:
            try:
                self._call("stopProcessGroup", name, True)
            except xmlrpc.client.Fault as fault:
                if fault.faultCode != Faults.NOT_RUNNING:
                    raise
            self._call("removeProcessGroup", name)
        for name in [*changed, *added]:
            self._call("addProcessGroup", name)
        return ConfigChanges(list(added), list(changed), list(removed))


def _process_info(raw: Mapping[str, Any]) -> ProcessInfo:
    return ProcessInfo(
        name=str(raw["name"]),
        state=str(raw["statename"]),
        pid=int(raw["pid"]),
        description=str(raw["description"]),
        exit_status=int(raw["exitstatus"]),
    )


def start_supervisord(layout: Layout, timeout: float = 20.0) -> int:
    """Start supervisord (it daemonizes) with the written conf; return its pid once it answers."""
    layout.create_directories()
    start_log = layout.log_path("supervisord-start")
    environment = {**os.environ, MARKER_VARIABLE: str(layout.data_dir)}
    with start_log.open("wb") as output:
        # supervisord's parent process exits once the daemon has forked; its errors come before that.
        result = subprocess.run(  # nosec B603 # argv is this interpreter running supervisord
            [sys.executable, "-m", "supervisor.supervisord", "-c", str(layout.conf_path)],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            env=environment,
            cwd=layout.data_dir,
            timeout=timeout,
            check=False,
        )
    if result.returncode != 0:
        raise SupervisionError(
            f"supervisord exited with {result.returncode}:\n{start_log.read_text(errors='replace').strip()}"
        )
    client = SupervisorClient(layout)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if client.is_running():
            return client.pid()
        time.sleep(0.05)
    raise SupervisionError(
        f"supervisord did not answer on {layout.socket_path} within {timeout:.0f}s; "
        f"see {layout.log_path('supervisord')}"
    )


def pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still "exists" for kill(0) but is gone for every practical purpose.
    found = _proc_stat(pid)
    return found is not None and found[0] != "Z"


def _proc_stat(pid: int) -> tuple[str, int, int] | None:
    """State, parent pid and process group of ``pid`` from /proc, or None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name in parentheses may itself contain spaces and parentheses.
    fields = stat.rsplit(")", 1)[1].split()
    return fields[0], int(fields[1]), int(fields[2])


def find_platform_processes(layout: Layout, pids: Iterable[int] = (), executables: Iterable[str] = ()) -> list[int]:
    """Live processes of this platform instance, found through /proc.

    A process is ours when it is among ``pids`` or their process groups, carries the marker variable,
    runs one of ``executables`` (file names) with its working directory inside the data dir, or
    descends from one of those. The executables rule exists because Postgres and Redis overwrite their
    environment area with their process titles, which hides the marker; the descent rule catches
    Postgres' backends, which start sessions of their own.
    """
    known = {pid for pid in pids if pid > 0}
    names = set(executables)
    marker = os.fsencode(f"{MARKER_VARIABLE}={layout.data_dir}")
    excluded = _ancestors(os.getpid())
    ours: set[int] = set()
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in excluded:
            continue
        pid = int(entry.name)
        stat = _proc_stat(pid)
        if stat is None or stat[0] == "Z":
            continue
        parents[pid] = stat[1]
        if pid in known or stat[2] in known or _carries(entry, marker) or _runs_inside(entry, names, layout):
            ours.add(pid)
    grew = True
    while grew:
        descendants = {pid for pid, parent in parents.items() if parent in ours} - ours
        ours |= descendants
        grew = bool(descendants)
    return sorted(ours)


def _ancestors(pid: int) -> set[int]:
    """``pid`` and its ancestors: never count the command's own process chain as the platform's."""
    chain = {pid}
    while pid > 1:
        stat = _proc_stat(pid)
        if stat is None:
            break
        pid = stat[1]
        chain.add(pid)
    return chain


def _carries(entry: Path, marker: bytes) -> bool:
    try:
        return marker in (entry / "environ").read_bytes().split(b"\0")
    except OSError:
        return False


def _runs_inside(entry: Path, executables: set[str], layout: Layout) -> bool:
    if not executables:
        return False
    try:
        executable = Path(os.readlink(entry / "exe")).name
        directory = Path(os.readlink(entry / "cwd"))
    except OSError:
        return False
    return executable in executables and directory.is_relative_to(layout.data_dir)


def wait_until_gone(pids: Iterable[int], timeout: float) -> list[int]:
    """Wait for ``pids`` to exit; return those still alive at the deadline."""
    remaining = [pid for pid in pids if pid_exists(pid)]
    deadline = time.monotonic() + timeout
    while remaining and time.monotonic() < deadline:
        time.sleep(0.1)
        remaining = [pid for pid in remaining if pid_exists(pid)]
    return remaining


def terminate(pids: Iterable[int], grace: float = 10.0) -> list[int]:
    """SIGTERM, then SIGKILL what outlives ``grace``; return what survived even that."""
    pids = list(pids)
    for pid in pids:
        _signal(pid, signal.SIGTERM)
    remaining = wait_until_gone(pids, grace)
    for pid in remaining:
        _signal(pid, signal.SIGKILL)
    return wait_until_gone(remaining, 5.0)


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)
