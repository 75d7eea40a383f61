"""Days in Asia/Taipei: a route's date and a track's day are Taipei dates."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from services.platform.clock import TAIPEI, taipei_date
from services.platform.errors import InvalidArgument


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The Taipei day as [start, end) instants."""
    start = datetime.combine(day, time(0), tzinfo=TAIPEI)
    return start, start + timedelta(days=1)


def parse_day(text: str, now: datetime, field: str = "date") -> date:
    """A YYYY-MM-DD date; empty means today in Taipei."""
    if not text:
        return taipei_date(now)
    try:
        return date.fromisoformat(text)
    except ValueError as error:
        raise InvalidArgument.for_field(field, "a date as YYYY-MM-DD") from error
