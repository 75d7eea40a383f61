"""Taiwan's national days off: the holidays package, checked against the DGPA calendar, and our overrides of it."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from lunardate import LunarDate

from services.customer.holidays import (
    OVERRIDES_FILE,
    Holiday,
    HolidayCalendar,
    HolidayOverride,
    TaiwanHolidayCalendar,
    package_holidays,
    read_overrides,
)

# Every year since the 2025 amendment of the holiday rules has each of these (substrings: a day that is two
# holidays at once carries both names, "兒童節; 民族掃墓節").
REQUIRED_EACH_YEAR = (
    "開國紀念日",
    "小年夜",
    "農曆除夕",
    "春節",
    "和平紀念日",
    "兒童節",
    "民族掃墓節",
    "勞動節",
    "端午節",
    "中秋節",
    "孔子誕辰紀念日",
    "國慶日",
    "臺灣光復",
    "行憲紀念日",
)
OBSERVED = "（補假）"
HEADER = "date,change,name_zh,name_en,reason\n"


@pytest.fixture(scope="module")
def calendar() -> HolidayCalendar:
    return HolidayCalendar.load_default()


def test_default_calendar_is_read_once() -> None:
    assert HolidayCalendar.load_default() is HolidayCalendar.load_default()


@pytest.mark.parametrize("day", [date(1998, 1, 1), date(2028, 1, 1), date(2030, 6, 1), date(2100, 12, 31)])
def test_default_calendar_covers_every_year_the_package_knows(calendar: HolidayCalendar, day: date) -> None:
    assert calendar.covers(day)


@pytest.mark.parametrize("day", [date(1997, 12, 31), date(2101, 1, 1)])
def test_years_outside_the_package_are_not_covered(calendar: HolidayCalendar, day: date) -> None:
    assert not calendar.covers(day)
    assert not calendar.is_holiday(day)


@pytest.mark.parametrize(
    ("day", "name_zh"),
    [
        (date(2025, 1, 1), "中華民國開國紀念日"),
        (date(2025, 1, 27), "放假日（2025-02-08 補班）"),  # the bridge day, worked back on a Saturday
        (date(2025, 1, 29), "春節"),
        (date(2025, 4, 3), "兒童節（補假）"),
        (date(2025, 5, 30), "端午節（補假）"),
        (date(2025, 9, 29), "孔子誕辰紀念日（補假）"),
        (date(2025, 10, 6), "中秋節"),
        (date(2025, 10, 10), "國慶日"),
        (date(2025, 10, 24), "臺灣光復暨金門古寧頭大捷紀念日（補假）"),
        (date(2025, 12, 25), "行憲紀念日"),
        (date(2026, 2, 15), "小年夜"),
        (date(2026, 2, 16), "農曆除夕"),
        (date(2026, 2, 17), "春節"),
        (date(2026, 2, 27), "和平紀念日（補假）"),
        (date(2026, 4, 6), "民族掃墓節（補假）"),
        (date(2026, 10, 9), "國慶日（補假）"),
        (date(2027, 2, 6), "春節"),
        (date(2027, 3, 1), "和平紀念日（補假）"),
        (date(2027, 4, 30), "勞動節（補假）"),
        (date(2027, 12, 31), "中華民國開國紀念日（補假）"),  # 2028-01-01 is a Saturday
    ],
)
def test_holiday_is_known_by_its_chinese_name(calendar: HolidayCalendar, day: date, name_zh: str) -> None:
    assert calendar.is_holiday(day)
    assert calendar.name(day) == name_zh


def test_holiday_has_an_english_name(calendar: HolidayCalendar) -> None:
    assert calendar.name(date(2025, 10, 10), language="en") == "National Day"
    assert calendar.name(date(2026, 2, 15), language="en") == "Day before Lunar New Year's Eve"


@pytest.mark.parametrize("day", [date(2025, 5, 21), date(2026, 3, 3), date(2025, 5, 25), date(2027, 12, 30)])
def test_ordinary_day_is_not_a_holiday(calendar: HolidayCalendar, day: date) -> None:
    assert not calendar.is_holiday(day)
    assert calendar.name(day) is None


def test_make_up_working_day_is_not_a_day_off(calendar: HolidayCalendar) -> None:
    # 2025-02-08, a Saturday, was worked in exchange for the bridge day 2025-01-27.
    assert not calendar.is_holiday(date(2025, 2, 8))


def test_typhoon_day_is_not_a_holiday(calendar: HolidayCalendar) -> None:
    # Typhoon Kong-rey closed offices across Taiwan on 2024-10-31; such days are declared locally on the day.
    assert not calendar.is_holiday(date(2024, 10, 31))


def test_labour_day_is_a_day_off_for_everyone_from_2026_only(calendar: HolidayCalendar) -> None:
    # In 2025 only the Labour Standards Act gave 1 May off; the DGPA calendar kept it a working day. The 2025
    # amendment made it a national holiday from 2026. (The hand-typed calendar had 2025-05-01 as a holiday.)
    assert not calendar.is_holiday(date(2025, 5, 1))
    assert calendar.name(date(2026, 5, 1)) == "勞動節"


def test_lunar_new_year_2030_is_known(calendar: HolidayCalendar) -> None:
    """Beyond the 2027 where the hand-typed calendar stopped: 2030's Lunar New Year is Sunday 3 February."""
    assert [(holiday.day, holiday.name_zh) for holiday in calendar.in_year(2030)[1:8]] == [
        (date(2030, 2, 1), "小年夜"),
        (date(2030, 2, 2), "農曆除夕"),
        (date(2030, 2, 3), "春節"),
        (date(2030, 2, 4), "春節"),
        (date(2030, 2, 5), "春節"),
        (date(2030, 2, 6), "農曆除夕（補假）"),  # Saturday's eve and Sunday's first day, given back after
        (date(2030, 2, 7), "春節（補假）"),
    ]


@pytest.mark.parametrize("year", [2026, 2027, 2030, 2045])
@pytest.mark.parametrize("required", REQUIRED_EACH_YEAR)
def test_each_year_has_every_national_holiday(calendar: HolidayCalendar, year: int, required: str) -> None:
    assert any(required in holiday.name_zh for holiday in calendar.in_year(year))


@pytest.mark.parametrize(
    ("name_zh", "lunar_month_day"), [("小年夜", (12, -2)), ("春節", (1, 1)), ("端午節", (5, 5)), ("中秋節", (8, 15))]
)
@pytest.mark.parametrize("year", [2026, 2027, 2030, 2045, 2099])
def test_lunar_holidays_fall_on_their_lunar_dates(
    calendar: HolidayCalendar, year: int, name_zh: str, lunar_month_day: tuple[int, int]
) -> None:
    first = next(holiday.day for holiday in calendar.in_year(year) if holiday.name_zh == name_zh)
    month, day = lunar_month_day
    if day < 0:  # counted back from the next lunar year's first day (the last month has 29 or 30 days)
        first += timedelta(days=-day)
        month, day = 1, 1
    lunar = LunarDate.from_solar_date(first.year, first.month, first.day)
    assert (lunar.month, lunar.day) == (month, day)


@pytest.mark.parametrize("year", [2025, 2026, 2027, 2030])
def test_observed_days_fall_on_working_days(calendar: HolidayCalendar, year: int) -> None:
    observed = [
        holiday.day
        for holiday in calendar.in_year(year)
        if holiday.name_zh.endswith(OBSERVED) or "補班" in holiday.name_zh
    ]
    assert observed
    assert all(day.isoweekday() <= 5 for day in observed)


@pytest.mark.parametrize("override", read_overrides(OVERRIDES_FILE), ids=lambda override: override.day.isoformat())
def test_override_is_applied_and_still_needed(calendar: HolidayCalendar, override: HolidayOverride) -> None:
    package = package_holidays(override.day.year).get(override.day)
    if override.change == "add":
        assert calendar.holiday(override.day) == Holiday(override.day, override.name_zh, override.name_en)
        assert package != calendar.holiday(override.day), "the package agrees now: delete the override"
    else:
        assert not calendar.is_holiday(override.day)
        assert package is not None, "the package agrees now: delete the override"


def test_overrides_add_rename_and_remove_days(tmp_path: Path) -> None:
    overrides = tmp_path / "overrides.csv"
    overrides.write_text(
        "# a comment line\n"
        + HEADER
        + "2031-07-01,add,測試假日,Test day off,a day the package misses\n"
        + "2031-10-10,add,雙十節,Double Tenth Day,another name for a day it has\n"
        + "2031-12-25,remove,,,a day it lists wrongly\n",
        "utf-8",
    )
    calendar = TaiwanHolidayCalendar(read_overrides(overrides))

    assert calendar.name(date(2031, 7, 1)) == "測試假日"
    assert calendar.name(date(2031, 10, 10), language="en") == "Double Tenth Day"
    assert not calendar.is_holiday(date(2031, 12, 25))
    assert calendar.name(date(2031, 1, 1)) == "中華民國開國紀念日"  # the rest of the year is the package's


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("2031-07-01,move,x,x,why", "change must be one of"),
        ("2031-07-01,add,x,x,", "an override says why"),
        ("2031-07-01,add,,x,why", "needs its Chinese and English names"),
    ],
)
def test_bad_override_is_refused(tmp_path: Path, row: str, message: str) -> None:
    overrides = tmp_path / "overrides.csv"
    overrides.write_text(HEADER + row + "\n", "utf-8")
    with pytest.raises(ValueError, match=message):
        read_overrides(overrides)


def test_calendar_refuses_two_holidays_on_one_day() -> None:
    national_day = Holiday(date(2025, 10, 10), "國慶日", "National Day")
    with pytest.raises(ValueError, match="two holidays on 2025-10-10"):
        HolidayCalendar([national_day, national_day])


def test_calendar_can_be_built_from_holidays() -> None:
    typhoon_day = Holiday(date(2025, 7, 7), "颱風假", "Typhoon day off")
    calendar = HolidayCalendar([typhoon_day])
    assert calendar.holiday(date(2025, 7, 7)) == typhoon_day
    assert calendar.covers(date(2025, 1, 1))
    assert not calendar.covers(date(2026, 1, 1))
