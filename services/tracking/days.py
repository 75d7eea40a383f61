"""Days in Asia/Taipei: a route's date and a track's day are Taipei dates."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from services.platform.clock import TAIPEI, taipei_date
from services.platform.proto_values import parse_date


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The Taipei day as [start, end) instants."""
    start = datetime.combine(day, time(0), tzinfo=TAIPEI)
    return start, start + timedelta(days=1)


def parse_day(text: str, now: datetime, field: str = "date") -> date:
    """A YYYY-MM-DD date; empty means today in Taipei."""
    return parse_date(text, field) if text else taipei_date(now)
