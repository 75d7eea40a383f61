"""What ``luckygas migration status`` and ``luckygas migration reconcile`` print, and how they are parsed."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from luckygas.migration.v1 import migration_pb2 as pb

from services.local.cli import build_parser, main
from services.local.migration_commands import migration_address, reconcile_lines, status_lines, table_lines
from services.local.programs import PlatformState
from services.platform.proto_values import timestamp


def mid_pilot() -> pb.MigrationStatus:
    return pb.MigrationStatus(
        tables=[
            pb.TableStatus(table="customers", legacy_rows=1312, migrated=1290, rejected=22, pending=0),
            pb.TableStatus(table="deliveries", legacy_rows=151204, migrated=59520, rejected=480, pending=91204),
        ],
        legacy_primary_customers=1285,
        new_primary_customers=5,
        lag=[
            pb.SyncLag(direction="legacy_to_new", seconds=0.4, pending=3),
            pb.SyncLag(direction="new_to_legacy", seconds=0.0, pending=0),
        ],
        open_conflicts=1,
        backfill=pb.BackfillProgress(
            state="running",
            tables=[
                pb.TableProgress(table="customers", state="done", total=1312, done=1312, migrated=1290, rejected=22),
                pb.TableProgress(
                    table="deliveries",
                    state="running",
                    total=151204,
                    done=60000,
                    migrated=59520,
                    rejected=480,
                    rows_per_second=3000.0,
                    eta_seconds=30.4,
                ),
            ],
            started_at=timestamp(datetime.fromisoformat("2026-12-07T10:00:00+08:00")),
        ),
    )


def report(differences: int = 2) -> pb.ReconcileReport:
    rows = [
        pb.RowDifference(
            key="1000123",
            kind="different",
            customer_code="1000123",
            primary="legacy",
            fields=[
                pb.FieldDifference(field="phones", legacy="089-322123", new="089-322-123"),
                pb.FieldDifference(field="zone", legacy="A", new="B"),
            ],
        ),
        pb.RowDifference(key="1000456", kind="only_legacy", customer_code="1000456", primary="legacy"),
    ][:differences]
    return pb.ReconcileReport(
        id="r-1",
        table="customers",
        trigger="manual",
        legacy_rows=1312,
        new_rows=1289,
        differences=differences,
        rows=rows,
        checksum_calls=14,
        rows_fetched=64,
        seconds=12.5,
        rejected_rows=22,
    )


def test_status_prints_each_tables_counts_aligned_under_their_headers() -> None:
    lines = status_lines(mid_pilot())

    assert lines[:3] == [
        "table       legacy rows  migrated  rejected  pending",
        "customers         1,312     1,290        22        0",
        "deliveries      151,204    59,520       480   91,204",
    ]


def test_status_prints_primaries_lag_conflicts_and_the_backfill() -> None:
    text = "\n".join(status_lines(mid_pilot()))

    assert "customers by primary side: legacy 1,285, new 5" in text
    assert "sync lag: legacy → new 0.4 s (3 waiting); new → legacy caught up" in text
    assert "open conflicts: 1" in text
    assert "backfill: running, started 2026-12-07 10:00:00+08:00" in text
    assert "deliveries  running  60,000/151,204    59,520       480   3,000  30.4 s" in text


def test_a_clean_reconcile_says_so() -> None:
    lines = reconcile_lines(report(differences=0))

    assert lines == [
        "reconcile customers: report r-1 (manual, no repair), 12.5 s",
        "rows compared: legacy 1,312, new 1,289 (22 legacy rows the mapping refuses, not counted)",
        "checksum calls 14, rows fetched 64",
        "differences: none",
    ]


def test_a_reconcile_with_differences_counts_them_by_kind_and_lists_each_field() -> None:
    lines = reconcile_lines(report())

    assert lines[3] == "differences: 2: only in legacy 1, only in the new platform 0, different 1"
    assert lines[5:] == [
        "key      kind         customer  primary  repaired  field   legacy      new",
        "1000123  different    1000123   legacy   no        phones  089-322123  089-322-123",
        "                                                   zone    A           B",
        "1000456  only_legacy  1000456   legacy   no",
    ]


def test_a_long_reconcile_shows_the_first_rows_and_says_where_the_rest_are() -> None:
    many = report()
    many.differences = 3
    many.rows.append(pb.RowDifference(key="1000999", kind="only_new", primary="new"))

    lines = reconcile_lines(many, shown=1)

    assert lines[3].startswith("differences: 3: ")
    assert lines[-1] == "… and 2 more rows: GET /api/v1/migration/reconcile/reports/r-1"
    assert not any("1000456" in line for line in lines)


def test_a_report_listing_fewer_rows_than_it_found_says_so() -> None:
    capped = report()
    capped.differences = 5000

    assert reconcile_lines(capped)[3].startswith("differences: 5,000 (the report lists 2): ")


def test_numeric_columns_are_right_aligned() -> None:
    assert table_lines(["name", "rows"], [["a", "5"], ["bb", "1,000"]], numeric=[1]) == [
        "name   rows",
        "a         5",
        "bb    1,000",
    ]


def test_reconcile_takes_a_table_and_repair() -> None:
    parsed = build_parser().parse_args(["migration", "reconcile", "--table", "deliveries", "--repair"])

    assert (parsed.command, parsed.migration_command, parsed.table, parsed.repair) == (
        "migration",
        "reconcile",
        "deliveries",
        True,
    )
    assert build_parser().parse_args(["migration", "reconcile"]).table is None


def test_reconcile_refuses_an_unknown_table() -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["migration", "reconcile", "--table", "orders"])


def test_the_address_comes_from_the_environment_else_the_platforms_state() -> None:
    state = PlatformState(ports={"migration_grpc": 50123})

    assert migration_address(state, {}) == "127.0.0.1:50123"
    assert migration_address(state, {"LUCKYGAS_MIGRATION_ADDRESS": "10.0.0.5:50056"}) == "10.0.0.5:50056"
    assert migration_address(None, {}) is None
    assert migration_address(PlatformState(ports={}), {}) is None


def test_without_a_platform_the_commands_say_it_is_not_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("LUCKYGAS_MIGRATION_ADDRESS", raising=False)

    code = main(["migration", "status", "--data-dir", str(tmp_path / "nothing-here")])

    assert code == 3
    assert "not running" in capsys.readouterr().err
