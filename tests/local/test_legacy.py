"""The legacy database in the local platform: where it is (embedded beside the platform's, or given by URL and
remembered), the migration service and the simulated office among the programs, and `luckygas legacy load|office`
running migration-sync's commands against it."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from services.local import cli, programs, stores
from services.local.supervision import Layout
from services.migration import legacy_store
from services.platform.database import create_engine
from tests.conftest import Stores


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    found = Layout.at(tmp_path / "data")
    found.create_directories()
    return found


def test_the_migration_service_runs_after_order_and_before_the_gateway() -> None:
    names = [service.name for service in programs.SERVICES]

    assert names.index("customer") < names.index("order") < names.index("migration") < names.index("gateway")
    assert programs.MIGRATION.protocol == "grpc"
    assert {"migration_grpc", "migration_metrics"} <= set(programs.port_keys())


def test_embedded_the_legacy_database_is_its_own_database_on_the_platforms_server(layout: Layout) -> None:
    state = programs.load_state(layout, environ={})
    found = programs.endpoints(state)

    environment = programs.service_environment(state, found, {})

    port = state.ports["postgres"]
    assert (
        environment["LUCKYGAS_LEGACY_DATABASE_URL"] == f"postgresql+asyncpg://postgres@127.0.0.1:{port}/luckygas_legacy"
    )
    assert environment["LUCKYGAS_DATABASE_URL"].endswith(f":{port}/luckygas")
    assert found.embedded_legacy_database
    assert environment["LUCKYGAS_MIGRATION_ADDRESS"] == f"127.0.0.1:{state.ports['migration_grpc']}"


def test_a_given_legacy_url_is_used_and_remembered_for_later_commands(layout: Layout) -> None:
    programs.load_state(layout, environ={"LUCKYGAS_LEGACY_DATABASE_URL": "postgresql://office:pw@legacy.internal/erp"})

    found = programs.endpoints(programs.load_state(layout))  # `legacy load`, `status`, `down` run without it

    assert found.legacy_database_url == "postgresql+asyncpg://office:pw@legacy.internal/erp"
    assert not found.embedded_legacy_database
    assert found.embedded_postgres


def test_with_only_the_platform_database_given_the_legacy_one_is_beside_it(layout: Layout) -> None:
    programs.load_state(layout, environ={"LUCKYGAS_DATABASE_URL": "postgresql://app:pw@db.internal:6543/lg"})

    found = programs.endpoints(programs.load_state(layout))

    assert found.legacy_database_url == "postgresql+asyncpg://app:pw@db.internal:6543/luckygas_legacy"
    assert not found.embedded_legacy_database


def test_the_office_is_a_program_only_when_asked_for(layout: Layout) -> None:
    state = programs.load_state(layout, environ={})
    found = programs.endpoints(state)

    without = programs.supervised_programs(layout, state, found, {})
    with_office = programs.supervised_programs(layout, state, found, {}, office_rate=50)

    assert programs.OFFICE_PROGRAM not in [program.name for program in without]
    office = with_office[-1]
    assert office.name == programs.OFFICE_PROGRAM
    assert list(office.argv[1:]) == ["-m", "services.migration", "office", "--rate", "50"]
    assert office.environment["LUCKYGAS_LEGACY_DATABASE_URL"] == found.legacy_database_url
    assert office.priority > max(program.priority for program in without)


def test_legacy_commands_parse() -> None:
    parser = cli.build_parser()

    load = parser.parse_args(["legacy", "load", "a.xlsx", "b.csv", "--data-dir", "/tmp/x"])
    office = parser.parse_args(["legacy", "office", "--rate", "50", "--duration", "3", "--dirty"])
    up = parser.parse_args(["up", "--office", "--office-rate", "5"])

    assert (load.legacy_command, load.files, load.data_dir) == ("load", [Path("a.xlsx"), Path("b.csv")], Path("/tmp/x"))
    assert (office.legacy_command, office.rate, office.duration, office.dirty) == ("office", 50.0, 3.0, True)
    assert (up.office, up.office_rate) == (True, 5.0)


def test_legacy_commands_need_a_platform(layout: Layout, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["legacy", "load", "x.csv", "--data-dir", str(layout.data_dir)]) == 1
    assert "start it with" in capsys.readouterr().err


def test_legacy_load_and_office_work_the_platforms_legacy_database(
    layout: Layout, embedded_stores: Stores, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    url = make_url(embedded_stores.database_url)
    assert url.port is not None
    stores.create_database(url.port, "legacy_cli_test")
    legacy_url = url.set(database="legacy_cli_test").render_as_string(hide_password=False)
    asyncio.run(drop_legacy_tables(legacy_url))
    programs.load_state(
        layout,
        environ={"LUCKYGAS_DATABASE_URL": embedded_stores.database_url, "LUCKYGAS_LEGACY_DATABASE_URL": legacy_url},
    )
    export = tmp_path / "配送紀錄.csv"
    with export.open("w", encoding="cp950", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["日期", "客戶", "20公斤", "狀態"])
        writer.writerows([["1150101", "1000001", "2", "COMPLETED"], ["明天", "1000001", "1", "COMPLETED"]])
    data_dir = ["--data-dir", str(layout.data_dir)]

    first = cli.main(["legacy", "load", str(export), *data_dir])
    again = cli.main(["legacy", "load", str(export), *data_dir])
    office = cli.main(["legacy", "office", "--rate", "20", "--duration", "1", *data_dir])

    out = capfd.readouterr().out  # the commands' own output, from the subprocess
    assert (first, again, office) == (0, 1, 0)
    assert "配送紀錄.csv → 配送紀錄: 2 rows, 1 loaded, 1 refused" in out
    assert "row 3, 日期 = '明天'" in out
    assert "配送紀錄.csv: not loaded: " in out
    assert "office: " in out  # no customers yet: it waits for some
    assert asyncio.run(count_deliveries(legacy_url)) == 1


async def drop_legacy_tables(url: str) -> None:
    engine = create_engine(url, pool_size=1)
    async with engine.begin() as connection:
        await connection.execute(text('DROP TABLE IF EXISTS "客戶資料", "配送紀錄", legacy_imports CASCADE'))
    await engine.dispose()


async def count_deliveries(url: str) -> int:
    engine = create_engine(url, pool_size=1)
    async with engine.connect() as connection:
        count = (await connection.execute(select(func.count()).select_from(legacy_store.deliveries))).scalar_one()
    await engine.dispose()
    return int(count)
