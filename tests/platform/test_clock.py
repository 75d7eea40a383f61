"""The platform clock: one offset moves every reading of now, the same in every process, and never in production."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from pydantic import ValidationError

from services.platform import clock
from services.platform.settings import PlatformSettings


@pytest.fixture
def moved(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Lets a test set the offset; the suite's own (``--clock-at``) is back afterwards."""
    yield monkeypatch
    monkeypatch.undo()
    clock.offset_seconds.cache_clear()


def move_to(monkeypatch: pytest.MonkeyPatch, moment: datetime) -> None:
    monkeypatch.setenv(clock.OFFSET_VARIABLE, repr(clock.offset_to(moment)))
    clock.offset_seconds.cache_clear()


def test_an_offset_moves_now_and_time_still_passes(moved: pytest.MonkeyPatch) -> None:
    moment = datetime(2027, 1, 1, 0, 0, 30, tzinfo=clock.TAIPEI)
    move_to(moved, moment)

    first = clock.utc_now()
    second = clock.utc_now()

    assert abs((first - moment).total_seconds()) < 60
    assert second >= first
    assert clock.taipei_today() == date(2027, 1, 1)
    assert abs(clock.timestamp() - first.timestamp()) < 60


def test_just_before_midnight_in_taipei_is_still_the_day_before(moved: pytest.MonkeyPatch) -> None:
    move_to(moved, datetime(2026, 12, 31, 15, 58, tzinfo=UTC))  # 23:58 in Taipei

    assert clock.taipei_today() == date(2026, 12, 31)
    assert clock.taipei_date(clock.utc_now() + timedelta(minutes=3)) == date(2027, 1, 1)


def test_another_process_started_with_the_offset_reads_the_same_day(moved: pytest.MonkeyPatch) -> None:
    move_to(moved, datetime(2027, 2, 28, 12, 0, tzinfo=clock.TAIPEI))
    code = "from services.platform import clock; print(clock.taipei_today())"

    printed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=os.environ)

    assert printed.stdout.strip() == "2027-02-28" == clock.taipei_today().isoformat()


def test_a_moment_without_its_utc_offset_is_refused() -> None:
    with pytest.raises(ValueError, match="UTC offset"):
        clock.offset_to(datetime(2027, 1, 1))


def test_an_offset_that_is_not_a_number_is_refused_naming_the_variable(moved: pytest.MonkeyPatch) -> None:
    moved.setenv(clock.OFFSET_VARIABLE, "tomorrow")
    clock.offset_seconds.cache_clear()

    with pytest.raises(ValueError, match=clock.OFFSET_VARIABLE):
        clock.utc_now()


def test_production_refuses_to_start_with_a_moved_clock(moved: pytest.MonkeyPatch) -> None:
    moved.setenv(clock.OFFSET_VARIABLE, "3600")
    clock.offset_seconds.cache_clear()

    with pytest.raises(ValidationError, match=clock.OFFSET_VARIABLE):
        PlatformSettings(environment="production", database_url="postgresql+asyncpg://h/db")
    assert PlatformSettings(environment="test", database_url="postgresql+asyncpg://h/db").environment == "test"
