"""Taiwan's national holiday calendar shipped as data."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from lunardate import LunarDate

from services.customer.holidays import Holiday, HolidayCalendar

COVERED_YEARS = (2025, 2026, 2027)
# Every year must have each of these; substrings because a shared day carries both names (2025-04-04).
REQUIRED_EACH_YEAR = (
    "開國紀念日",
    "農曆除夕",
    "春節",
    "和平紀念日",
    "兒童節",
    "民族掃墓節",
    "勞動節",
    "端午節",
    "中秋節",
    "教師節",
    "國慶日",
    "臺灣光復",
    "行憲紀念日",
)


@pytest.fixture(scope="module")
def calendar() -> HolidayCalendar:
    return HolidayCalendar.load_default()


def test_default_calendar_covers_2025_to_2027(calendar: HolidayCalendar) -> None:
    assert calendar.years == frozenset(COVERED_YEARS)


def test_default_calendar_is_read_once() -> None:
    assert HolidayCalendar.load_default() is HolidayCalendar.load_default()


@pytest.mark.parametrize(
    ("day", "name_zh"),
    [
        (date(2025, 1, 1), "開國紀念日"),
        (date(2025, 1, 27), "春節調整放假"),
        (date(2025, 1, 29), "春節"),
        (date(2025, 4, 3), "兒童節補假"),
        (date(2025, 5, 1), "勞動節"),
        (date(2025, 5, 30), "端午節補假"),
        (date(2025, 9, 29), "教師節補假"),
        (date(2025, 10, 6), "中秋節"),
        (date(2025, 10, 10), "國慶日"),
        (date(2025, 10, 24), "臺灣光復節補假"),
        (date(2025, 12, 25), "行憲紀念日"),
        (date(2026, 2, 16), "農曆除夕"),
        (date(2026, 2, 17), "春節"),
        (date(2026, 2, 27), "和平紀念日補假"),
        (date(2026, 4, 6), "民族掃墓節補假"),
        (date(2026, 10, 9), "國慶日補假"),
        (date(2027, 2, 6), "春節"),
        (date(2027, 3, 1), "和平紀念日補假"),
        (date(2027, 12, 31), "開國紀念日補假"),
    ],
)
def test_holiday_is_known_by_its_chinese_name(calendar: HolidayCalendar, day: date, name_zh: str) -> None:
    assert calendar.is_holiday(day)
    assert calendar.name(day) == name_zh


def test_holiday_has_an_english_name(calendar: HolidayCalendar) -> None:
    assert calendar.name(date(2025, 10, 10), language="en") == "National Day"


@pytest.mark.parametrize("day", [date(2025, 5, 21), date(2026, 3, 3), date(2025, 5, 25), date(2027, 12, 30)])
def test_ordinary_day_is_not_a_holiday(calendar: HolidayCalendar, day: date) -> None:
    assert not calendar.is_holiday(day)
    assert calendar.name(day) is None


def test_years_outside_the_data_are_not_covered(calendar: HolidayCalendar) -> None:
    assert not calendar.covers(date(2028, 1, 1))
    assert not calendar.is_holiday(date(2028, 10, 10))


@pytest.mark.parametrize("year", COVERED_YEARS)
@pytest.mark.parametrize("required", REQUIRED_EACH_YEAR)
def test_each_year_has_every_national_holiday(calendar: HolidayCalendar, year: int, required: str) -> None:
    assert any(required in holiday.name_zh for holiday in calendar.in_year(year))


@pytest.mark.parametrize(("name_zh", "lunar_month_day"), [("春節", (1, 1)), ("端午節", (5, 5)), ("中秋節", (8, 15))])
@pytest.mark.parametrize("year", COVERED_YEARS)
def test_lunar_holidays_fall_on_their_lunar_dates(
    calendar: HolidayCalendar, year: int, name_zh: str, lunar_month_day: tuple[int, int]
) -> None:
    first = next(holiday.day for holiday in calendar.in_year(year) if holiday.name_zh == name_zh)
    lunar = LunarDate.from_solar_date(first.year, first.month, first.day)
    assert (lunar.month, lunar.day) == lunar_month_day


@pytest.mark.parametrize("year", COVERED_YEARS)
def test_observed_days_fall_on_working_days(calendar: HolidayCalendar, year: int) -> None:
    observed = [holiday.day for holiday in calendar.in_year(year) if holiday.name_zh.endswith(("補假", "調整放假"))]
    assert observed
    assert all(day.isoweekday() <= 5 for day in observed)


def test_calendar_refuses_two_holidays_on_one_day(tmp_path: Path) -> None:
    data = tmp_path / "holidays.csv"
    data.write_text("date,name_zh,name_en\n2025-10-10,國慶日,National Day\n2025-10-10,國慶日,National Day\n", "utf-8")
    with pytest.raises(ValueError, match="two holidays on 2025-10-10"):
        HolidayCalendar.from_csv(data)


def test_calendar_can_be_built_from_holidays() -> None:
    typhoon_day = Holiday(date(2025, 7, 7), "颱風假", "Typhoon day off")
    assert HolidayCalendar([typhoon_day]).holiday(date(2025, 7, 7)) == typhoon_day
