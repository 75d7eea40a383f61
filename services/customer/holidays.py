"""Taiwan's national public holidays (each day off, observed days included), read from data/holidays_tw.csv."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Literal

HOLIDAYS_FILE = Path(__file__).parent / "data" / "holidays_tw.csv"


@dataclass(frozen=True)
class Holiday:
    day: date
    name_zh: str
    name_en: str


class HolidayCalendar:
    """A set of days off; the data only covers whole years, so ``covers`` says whether an answer can be trusted."""

    def __init__(self, holidays: Iterable[Holiday]) -> None:
        by_day: dict[date, Holiday] = {}
        for holiday in holidays:
            if holiday.day in by_day:
                raise ValueError(
                    f"two holidays on {holiday.day.isoformat()}: {by_day[holiday.day].name_zh}, {holiday.name_zh}"
                )
            by_day[holiday.day] = holiday
        self._by_day = dict(sorted(by_day.items()))
        self.years = frozenset(day.year for day in by_day)

    @classmethod
    def from_csv(cls, path: Path) -> HolidayCalendar:
        """Read a ``date,name_zh,name_en`` file with ISO dates."""
        with path.open(encoding="utf-8", newline="") as handle:
            return cls(
                Holiday(date.fromisoformat(row["date"]), row["name_zh"], row["name_en"])
                for row in csv.DictReader(handle)
            )

    @staticmethod
    def load_default() -> HolidayCalendar:
        """Taiwan's national holidays as shipped with the service (read once per process)."""
        return _default_calendar()

    def covers(self, day: date) -> bool:
        return day.year in self.years

    def is_holiday(self, day: date) -> bool:
        """Whether ``day`` is a day off; False for years the data does not cover (check ``covers``)."""
        return day in self._by_day

    def holiday(self, day: date) -> Holiday | None:
        return self._by_day.get(day)

    def name(self, day: date, *, language: Literal["zh-TW", "en"] = "zh-TW") -> str | None:
        """The holiday's name, Traditional Chinese first; None on an ordinary day."""
        holiday = self._by_day.get(day)
        if holiday is None:
            return None
        return holiday.name_zh if language == "zh-TW" else holiday.name_en

    def in_year(self, year: int) -> list[Holiday]:
        return [holiday for day, holiday in self._by_day.items() if day.year == year]


@cache
def _default_calendar() -> HolidayCalendar:
    return HolidayCalendar.from_csv(HOLIDAYS_FILE)
