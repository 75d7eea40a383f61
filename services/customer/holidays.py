"""Taiwan's national days off, observed days included: the ``holidays`` package plus data/holidays_tw_overrides.csv."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from pathlib import Path
from typing import Literal

from holidays.countries.taiwan import Taiwan

OVERRIDES_FILE = Path(__file__).parent / "data" / "holidays_tw_overrides.csv"
OVERRIDE_CHANGES = ("add", "remove")

# The package names both days before Lunar New Year 農曆除夕; the first one is 小年夜 (a day off since 2026).
_EVE_ZH = "農曆除夕"
_DAY_BEFORE_EVE = ("小年夜", "Day before Lunar New Year's Eve")


@dataclass(frozen=True)
class Holiday:
    day: date
    name_zh: str
    name_en: str


@dataclass(frozen=True)
class HolidayOverride:
    """A correction of the package, with the reason: ``add`` a day off it misses (or rename one), ``remove`` one."""

    day: date
    change: Literal["add", "remove"]
    name_zh: str
    name_en: str
    reason: str


class HolidayCalendar:
    """A fixed set of days off; it covers the years it has a day in, so ``covers`` says whether an answer holds."""

    def __init__(self, holidays: Iterable[Holiday]) -> None:
        self._by_year: dict[int, dict[date, Holiday]] = {}
        for holiday in sorted(holidays, key=lambda item: item.day):
            year = self._by_year.setdefault(holiday.day.year, {})
            if holiday.day in year:
                raise ValueError(
                    f"two holidays on {holiday.day.isoformat()}: {year[holiday.day].name_zh}, {holiday.name_zh}"
                )
            year[holiday.day] = holiday

    @staticmethod
    def load_default() -> HolidayCalendar:
        """Taiwan's national days off (one calendar per process)."""
        return _default_calendar()

    def covers(self, day: date) -> bool:
        return day.year in self._by_year

    def _days_off(self, year: int) -> Mapping[date, Holiday]:
        return self._by_year.get(year, {})

    def is_holiday(self, day: date) -> bool:
        """Whether ``day`` is a day off; False for years the calendar does not cover (check ``covers``)."""
        return day in self._days_off(day.year)

    def holiday(self, day: date) -> Holiday | None:
        return self._days_off(day.year).get(day)

    def name(self, day: date, *, language: Literal["zh-TW", "en"] = "zh-TW") -> str | None:
        """The holiday's name, Traditional Chinese first; None on an ordinary day."""
        holiday = self.holiday(day)
        if holiday is None:
            return None
        return holiday.name_zh if language == "zh-TW" else holiday.name_en

    def in_year(self, year: int) -> list[Holiday]:
        return list(self._days_off(year).values())


class TaiwanHolidayCalendar(HolidayCalendar):
    """Taiwan's national days off as the DGPA work calendar gives them: public holidays, observed days and bridge
    days, never make-up working days (補班) nor typhoon days. Years are computed on first use, for every year the
    ``holidays`` package knows (1998-2100), so nothing runs out; ``overrides`` correct what the package gets wrong."""

    def __init__(self, overrides: Iterable[HolidayOverride] = ()) -> None:
        super().__init__(())
        self._overrides: dict[int, list[HolidayOverride]] = {}
        for override in overrides:
            self._overrides.setdefault(override.day.year, []).append(override)
        self.first_year: int = Taiwan.start_year
        self.last_year: int = Taiwan.end_year

    def covers(self, day: date) -> bool:
        return self.first_year <= day.year <= self.last_year

    def _days_off(self, year: int) -> Mapping[date, Holiday]:
        days = self._by_year.get(year)
        if days is None:
            if not self.first_year <= year <= self.last_year:
                return {}
            # Two threads may build the same year at once: both get the same answer, and one is kept.
            days = self._by_year.setdefault(year, self._build_year(year))
        return days

    def _build_year(self, year: int) -> dict[date, Holiday]:
        days = package_holidays(year)
        for override in self._overrides.get(year, ()):
            if override.change == "add":
                days[override.day] = Holiday(override.day, override.name_zh, override.name_en)
            else:
                days.pop(override.day, None)
        return dict(sorted(days.items()))


def package_holidays(year: int) -> dict[date, Holiday]:
    """What the ``holidays`` package alone says for ``year``: Taiwan's public holidays, Chinese and English names."""
    chinese = Taiwan(years=year, language="zh_TW")  # type: ignore[no-untyped-call]  # the package leaves it unannotated
    english = Taiwan(years=year, language="en_US")  # type: ignore[no-untyped-call]
    days = {day: Holiday(day, chinese[day], english[day]) for day in chinese if day.year == year}
    for day, holiday in days.items():
        following = days.get(day + timedelta(days=1))
        if holiday.name_zh == _EVE_ZH and following is not None and following.name_zh == _EVE_ZH:
            days[day] = Holiday(day, *_DAY_BEFORE_EVE)
    return days


def read_overrides(path: Path) -> list[HolidayOverride]:
    """Read a ``date,change,name_zh,name_en,reason`` file (``#`` lines are comments); ``change`` is ``add`` or
    ``remove``, and every override says why."""
    overrides = []
    with path.open(encoding="utf-8", newline="") as handle:
        rows = csv.DictReader(line for line in handle if not line.startswith("#"))
        for row in rows:
            where = f"{path.name}, {row['date']}"
            change = row["change"]
            if change not in OVERRIDE_CHANGES:
                raise ValueError(f"{where}: change must be one of {OVERRIDE_CHANGES}, got {change!r}")
            if not row["reason"]:
                raise ValueError(f"{where}: an override says why")
            if change == "add" and not (row["name_zh"] and row["name_en"]):
                raise ValueError(f"{where}: a day added needs its Chinese and English names")
            overrides.append(
                HolidayOverride(
                    date.fromisoformat(row["date"]),
                    "add" if change == "add" else "remove",
                    row["name_zh"],
                    row["name_en"],
                    row["reason"],
                )
            )
    return overrides


@cache
def _default_calendar() -> HolidayCalendar:
    return TaiwanHolidayCalendar(read_overrides(OVERRIDES_FILE))
