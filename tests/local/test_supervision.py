"""The embedded platform's supervision: supervisord's config, the state file, and a real supervisord at work."""

from __future__ import annotations

import os
import signal
import stat
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from supervisor.options import ServerOptions

from services.local import cli, programs
from services.local.programs import PlatformState
from services.local.stores import free_port, port_is_open
from services.local.supervision import (
    MAX_SOCKET_PATH_BYTES,
    Layout,
    SupervisedProgram,
    SupervisorClient,
    encode_environment,
    find_platform_processes,
    render_config,
    start_supervisord,
    terminate,
    wait_until_gone,
    write_config,
)


def parsed_programs(layout: Layout) -> dict[str, object]:
    """The programs as supervisord itself reads the written conf."""
    options = ServerOptions()
    options.realize(args=["-c", str(layout.conf_path)])
    return {config.name: config for group in options.process_group_configs for config in group.process_configs}


def web_program(port: int, name: str = "web") -> SupervisedProgram:
    return SupervisedProgram(name, [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"])


# How long to wait for what must happen (a program started by supervisord, a process gone): generous, because
# starting a Python program takes seconds on a saturated machine.
WAIT_SECONDS = 60.0


def wait_for(condition: object, timeout: float = WAIT_SECONDS) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    found = Layout.at(tmp_path / "data")
    found.create_directories()
    return found


@pytest.fixture
def supervisord(layout: Layout) -> Iterator[SupervisorClient]:
    """A supervisord the test drives; whatever the test leaves behind is killed afterwards."""
    client = SupervisorClient(layout)
    yield client
    if client.is_running():
        pid = client.pid()
        client.shutdown()
        wait_until_gone([pid], WAIT_SECONDS)
    terminate(find_platform_processes(layout))


def test_written_config_reads_back_through_supervisords_own_parser(layout: Layout) -> None:
    environment = {
        "PLAIN": "luckygas-demo",
        "PUNCTUATION": "x;y#z 100%,a=b",
        "DOUBLE_QUOTES": 'say "hi" now',
        "SINGLE_QUOTE": "it's fine",
    }
    program = SupervisedProgram(
        "web", ["/opt/my tools/python", "-m", "http.server", "8080"], environment, user="nobody", priority=7
    )
    write_config(layout, [program])

    config = parsed_programs(layout)["web"]

    assert config.command == "'/opt/my tools/python' -m http.server 8080"  # type: ignore[attr-defined]
    assert config.environment == environment  # type: ignore[attr-defined]
    assert config.uid == 65534  # type: ignore[attr-defined]  # nobody
    assert config.priority == 7  # type: ignore[attr-defined]
    assert config.stdout_logfile == str(layout.log_path("web"))  # type: ignore[attr-defined]


def test_programs_restart_and_stop_as_a_group_and_wait_to_be_started(layout: Layout) -> None:
    write_config(layout, [web_program(8080)])

    config = parsed_programs(layout)["web"]

    assert config.autostart is False  # type: ignore[attr-defined]
    assert config.autorestart is not False  # type: ignore[attr-defined]
    assert config.startsecs == 1  # type: ignore[attr-defined]
    assert config.stopasgroup is True  # type: ignore[attr-defined]
    assert config.killasgroup is True  # type: ignore[attr-defined]
    assert config.stopsignal == signal.SIGTERM  # type: ignore[attr-defined]
    assert config.stopwaitsecs == 15  # type: ignore[attr-defined]


def test_config_is_private_because_it_holds_the_jwt_secret(layout: Layout) -> None:
    write_config(layout, [SupervisedProgram("web", ["true"], {"LUCKYGAS_JWT_SECRET": "s3cret"})])

    assert stat.S_IMODE(layout.conf_path.stat().st_mode) == 0o600


@pytest.mark.parametrize("value", ['"quoted"', "both ' and \"", "line\nbreak", "cut ;here", "cut #here"])
def test_environment_values_supervisord_would_mangle_are_refused(value: str) -> None:
    with pytest.raises(ValueError, match="cannot"):
        encode_environment({"LUCKYGAS_DEMO_PASSWORD": value})


def test_config_is_identical_for_identical_programs_so_a_rerun_restarts_nothing(layout: Layout) -> None:
    assert render_config(layout, [web_program(8080)]) == render_config(layout, [web_program(8080)])


def test_socket_stays_in_the_data_dir_when_its_path_is_short(tmp_path: Path) -> None:
    layout = Layout.at(tmp_path / "d")

    assert layout.socket_path.parent == layout.data_dir


def test_socket_moves_to_a_short_directory_keyed_by_the_data_dir_when_the_path_is_too_long(tmp_path: Path) -> None:
    first, second = Layout.at(tmp_path / ("a" * 110)), Layout.at(tmp_path / ("b" * 110))

    assert len(os.fsencode(str(first.socket_path))) <= MAX_SOCKET_PATH_BYTES
    assert first.socket_path.parent.parent == Path("/tmp")
    assert first.socket_path != second.socket_path
    assert first.socket_path == Layout.at(tmp_path / ("a" * 110)).socket_path


def test_state_keeps_ports_and_secret_from_one_up_to_the_next(layout: Layout) -> None:
    first = programs.load_state(layout)
    second = programs.load_state(layout)

    assert second == first
    assert set(first.ports) == set(programs.port_keys())
    assert first.gateway_port == programs.DEFAULT_GATEWAY_PORT
    assert len(set(first.ports.values())) == len(first.ports)
    assert len(first.jwt_secret) >= 32


def test_state_file_is_private(layout: Layout) -> None:
    programs.load_state(layout)

    assert stat.S_IMODE(layout.state_path.stat().st_mode) == 0o600


def test_a_chosen_gateway_port_is_remembered(layout: Layout) -> None:
    programs.load_state(layout, gateway_port=18080)

    assert programs.load_state(layout).gateway_port == 18080


def test_a_service_added_later_gets_ports_while_the_others_keep_theirs(layout: Layout) -> None:
    before = programs.load_state(layout)
    saved = PlatformState(
        ports={k: v for k, v in before.ports.items() if k != "customer_grpc"}, jwt_secret=before.jwt_secret
    )
    saved.save(layout.state_path)

    after = programs.load_state(layout)

    assert "customer_grpc" in after.ports
    assert {k: v for k, v in after.ports.items() if k != "customer_grpc"} == saved.ports
    assert after.jwt_secret == before.jwt_secret


def test_services_get_the_platform_environment(layout: Layout) -> None:
    state = programs.load_state(layout, gateway_port=18080)
    found = programs.endpoints(state)

    environment = programs.service_environment(state, found, {})

    grpc_port = state.ports["customer_grpc"]
    assert environment["LUCKYGAS_DATABASE_URL"] == (
        f"postgresql+asyncpg://postgres@127.0.0.1:{state.ports['postgres']}/luckygas"
    )
    assert environment["LUCKYGAS_REDIS_URL"] == f"redis://127.0.0.1:{state.ports['redis']}/0"
    assert environment["LUCKYGAS_CUSTOMER_GRPC_PORT"] == str(grpc_port)
    assert environment["LUCKYGAS_CUSTOMER_ADDRESS"] == f"127.0.0.1:{grpc_port}"
    assert environment["LUCKYGAS_CUSTOMER_METRICS_PORT"] == str(state.ports["customer_metrics"])
    assert environment["LUCKYGAS_GATEWAY_PORT"] == "18080"
    assert environment["LUCKYGAS_JWT_SECRET"] == state.jwt_secret
    assert environment["LUCKYGAS_ENVIRONMENT"] == "development"
    assert environment["LUCKYGAS_DEMO_PASSWORD"] == "luckygas-demo"


def test_given_store_urls_replace_the_embedded_stores(layout: Layout) -> None:
    environ = {
        "LUCKYGAS_DATABASE_URL": "postgresql://app:pw@db.internal:6543/lg",
        "LUCKYGAS_REDIS_URL": "redis://r:1/2",
    }
    programs.load_state(layout, environ=environ)

    state = programs.load_state(layout)  # `status` and `down` run without those variables set
    found = programs.endpoints(state)

    assert found.database_url == "postgresql+asyncpg://app:pw@db.internal:6543/lg"
    assert found.redis_url == "redis://r:1/2"
    assert not found.embedded_postgres
    assert not found.embedded_redis
    assert [program.name for program in programs.supervised_programs(layout, state, found, {})] == [
        service.name for service in programs.SERVICES
    ]


def test_supervisord_restarts_a_killed_program_and_shuts_down_leaving_nothing(
    layout: Layout, supervisord: SupervisorClient
) -> None:
    port = free_port()
    write_config(layout, [web_program(port)])
    supervisord_pid = start_supervisord(layout, timeout=WAIT_SECONDS)
    supervisord.start("web")
    assert wait_for(lambda: supervisord.process("web").state == "RUNNING" and port_is_open(port))
    first_pid = supervisord.process("web").pid

    os.kill(first_pid, signal.SIGKILL)

    assert wait_for(
        lambda: supervisord.process("web").state == "RUNNING" and supervisord.process("web").pid not in (0, first_pid)
    )
    second_pid = supervisord.process("web").pid
    assert wait_for(lambda: port_is_open(port))

    supervisord.stop("web")
    supervisord.shutdown()
    assert wait_until_gone([supervisord_pid], WAIT_SECONDS) == []
    assert find_platform_processes(layout, [supervisord_pid, first_pid, second_pid]) == []
    assert not port_is_open(port)


def test_down_after_supervisord_died_stops_the_programs_it_left_behind(
    layout: Layout, supervisord: SupervisorClient, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    write_config(layout, [web_program(port)])
    supervisord_pid = start_supervisord(layout, timeout=WAIT_SECONDS)
    supervisord.start("web")
    assert wait_for(lambda: port_is_open(port))
    orphan = supervisord.process("web").pid
    os.kill(supervisord_pid, signal.SIGKILL)
    assert wait_until_gone([supervisord_pid], WAIT_SECONDS) == []

    assert find_platform_processes(layout) == [orphan]
    assert cli.main(["down", "--data-dir", str(layout.data_dir)]) == 0
    assert wait_until_gone([orphan], WAIT_SECONDS) == []
    assert "stopping them" in capsys.readouterr().out


def test_a_program_added_to_the_config_joins_a_running_supervisord(
    layout: Layout, supervisord: SupervisorClient
) -> None:
    first, second = web_program(free_port(), "first"), web_program(free_port(), "second")
    write_config(layout, [first])
    start_supervisord(layout, timeout=WAIT_SECONDS)

    write_config(layout, [first, second])
    changes = supervisord.update()

    assert (changes.added, changes.changed, changes.removed) == (["second"], [], [])
    assert set(supervisord.processes()) == {"first", "second"}


def test_down_when_nothing_runs_says_so_and_succeeds(layout: Layout, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["down", "--data-dir", str(layout.data_dir)]) == 0
    assert "nothing is running" in capsys.readouterr().out


def test_status_when_nothing_runs_exits_with_not_running(layout: Layout, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["status", "--data-dir", str(layout.data_dir)]) == cli.EXIT_NOT_RUNNING
    assert "not running" in capsys.readouterr().out
