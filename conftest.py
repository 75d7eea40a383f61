"""Options for the whole suite: ``--clock-at`` runs every test, and every process the tests start, at another moment."""

from __future__ import annotations

import os
from datetime import datetime

import pytest

from services.platform import clock


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--clock-at",
        metavar="ISO-8601",
        help="move the platform's clock so that the run starts at this moment (with its UTC offset, e.g. "
        "2027-01-01T00:01:00+08:00); time then passes as usual. Sets LUCKYGAS_CLOCK_OFFSET_SECONDS for the "
        "tests and every process they start.",
    )


def pytest_configure(config: pytest.Config) -> None:
    moment = config.getoption("--clock-at")
    if moment:
        os.environ[clock.OFFSET_VARIABLE] = repr(clock.offset_to(datetime.fromisoformat(moment)))
        clock.offset_seconds.cache_clear()


def pytest_report_header(config: pytest.Config) -> str:
    now = clock.taipei_now().isoformat(timespec="seconds")
    return f"platform clock: {now} (offset {clock.offset_seconds():+.0f} s)"
