"""The platform's clock: what time it is, for every process, optionally moved by a setting.

Lucky Gas works in Asia/Taipei: an order's day, a route's date, a driver's track are Taipei dates. Every reading of
"now" in the platform goes through this module, so that one setting moves the whole platform to another moment:
``LUCKYGAS_CLOCK_OFFSET_SECONDS`` (a signed number of seconds, the same in every process) is added to the machine's
clock. Tests use it to run a day at a moment they choose (a Sunday, 23:58, New Year's Day), and a trainer can run
tomorrow's day today. It is an offset, not a fixed instant, so time still passes and processes started at different
moments agree. It defaults to 0; production refuses anything else (`check_production`).
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone

# Taiwan has kept UTC+8 without daylight saving since 1979: a fixed offset is exact and needs no tz database.
TAIPEI = timezone(timedelta(hours=8), "Asia/Taipei")
OFFSET_VARIABLE = "LUCKYGAS_CLOCK_OFFSET_SECONDS"

Clock = Callable[[], datetime]


@functools.cache
def offset_seconds() -> float:
    """The offset this process runs with, read once (every process of a platform is started with the same one)."""
    raw = os.environ.get(OFFSET_VARIABLE, "").strip()
    if not raw:
        return 0.0
    try:
        return float(raw)
    except ValueError as error:
        raise ValueError(f"{OFFSET_VARIABLE} must be a number of seconds, not {raw!r}") from error


def utc_now() -> datetime:
    """Now, as an aware UTC datetime."""
    return moved_by(offset_seconds())


def moved_by(seconds: float) -> datetime:
    """Now on a clock moved by ``seconds`` (a process that watches a platform started with another offset)."""
    return datetime.now(UTC) + timedelta(seconds=seconds)


def timestamp() -> float:
    """Now, as seconds since the epoch (what ``time.time()`` would say on this platform's clock)."""
    return time.time() + offset_seconds()


def taipei_now() -> datetime:
    return utc_now().astimezone(TAIPEI)


def taipei_date(moment: datetime) -> date:
    """The Taipei date of an aware instant."""
    return moment.astimezone(TAIPEI).date()


def taipei_today() -> date:
    return taipei_date(utc_now())


def offset_to(moment: datetime) -> float:
    """The offset that makes this platform's clock read ``moment`` now (for ``LUCKYGAS_CLOCK_OFFSET_SECONDS``)."""
    if moment.tzinfo is None:
        raise ValueError("the moment must carry its UTC offset, e.g. 2027-01-01T00:01:00+08:00")
    return (moment - datetime.now(UTC)).total_seconds()


def check_production(environment: str) -> None:
    """A moved clock is for tests and training; a production process refuses to start with one."""
    if environment == "production" and offset_seconds() != 0:
        raise ValueError(f"{OFFSET_VARIABLE} must not be set in production")
