"""The rest-day language: parsing, canonical text, and whether a customer is open on a given day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.customer.holidays import Holiday, HolidayCalendar
from services.customer.rest_days import RestDayRule, is_open, lunar_day_of_month, parse_rest_days
from services.platform.errors import FieldViolation, InvalidArgument

SUNDAYS = frozenset({7})
LUNAR_FIRST_AND_FIFTEENTH = frozenset({1, 15})
UNKNOWN_HINT = "; use weekdays 1-7, days of the month, Red/見紅休 or lunar days (初一, 十五)"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", RestDayRule()),
        ("   ", RestDayRule()),
        ("7", RestDayRule(weekdays=SUNDAYS)),
        ("6.7", RestDayRule(weekdays=frozenset({6, 7}))),
        ("1.2", RestDayRule(weekdays=frozenset({1, 2}))),
        ("Red", RestDayRule(public_holidays=True)),
        ("red", RestDayRule(public_holidays=True)),
        ("見紅休", RestDayRule(public_holidays=True)),
        ("7.Red", RestDayRule(weekdays=SUNDAYS, public_holidays=True)),
        ("7(初一十五)", RestDayRule(weekdays=SUNDAYS, lunar_days=LUNAR_FIRST_AND_FIFTEENTH)),
        ("初一十五", RestDayRule(lunar_days=LUNAR_FIRST_AND_FIFTEENTH)),
        ("初一", RestDayRule(lunar_days=frozenset({1}))),
        ("十五", RestDayRule(lunar_days=frozenset({15}))),
        ("二十一", RestDayRule(lunar_days=frozenset({21}))),
        ("10.20.30", RestDayRule(month_days=frozenset({10, 20, 30}))),
        ("15日", RestDayRule(month_days=frozenset({15}))),
        ("7.15日", RestDayRule(weekdays=SUNDAYS, month_days=frozenset({15}))),
        ("5號", RestDayRule(month_days=frozenset({5}))),
    ],
)
def test_rest_day_text_is_parsed(text: str, expected: RestDayRule) -> None:
    assert parse_rest_days(text) == expected


@pytest.mark.parametrize(
    "text",
    ["6.7", "6、7", "6,7", "6，7", "６．７", "6 7", "７、６"],
)
def test_full_width_digits_and_any_separator_are_accepted(text: str) -> None:
    assert parse_rest_days(text) == RestDayRule(weekdays=frozenset({6, 7}))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.2", RestDayRule(weekdays=frozenset({1, 2}))),
        ("1.15", RestDayRule(month_days=frozenset({1, 15}))),
        ("7.8", RestDayRule(month_days=frozenset({7, 8}))),
    ],
)
def test_a_number_above_seven_makes_every_bare_number_a_day_of_the_month(text: str, expected: RestDayRule) -> None:
    assert parse_rest_days(text) == expected


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("", ""),
        ("7", "7"),
        ("7.6", "6.7"),
        ("6、7", "6.7"),
        ("7.7", "7"),
        ("Red.7", "7.Red"),
        ("見紅休", "Red"),
        ("RED", "Red"),
        ("7（初一、十五）", "7(初一十五)"),
        ("十五.初一", "初一十五"),
        ("30.10.20", "10.20.30"),
        ("1日.2日", "1日.2日"),
        ("7.Red(初一十五)", "7.Red(初一十五)"),
        ("二十一", "廿一"),
    ],
)
def test_rule_is_written_back_in_canonical_form(text: str, canonical: str) -> None:
    assert parse_rest_days(text).to_text() == canonical


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("8.9.Blue", f"unknown rest day 'Blue'{UNKNOWN_HINT}"),
        ("Sunday", f"unknown rest day 'Sunday'{UNKNOWN_HINT}"),
        ("7/初", f"unknown rest day '/初'{UNKNOWN_HINT}"),
        ("0", "0 is neither a weekday (1-7, 7 = Sunday) nor a day of the month (1-31)"),
        ("7.0", "0 is neither a weekday (1-7, 7 = Sunday) nor a day of the month (1-31)"),
        ("10.32", "32 is neither a weekday (1-7, 7 = Sunday) nor a day of the month (1-31)"),
        ("1000", "1000 is neither a weekday (1-7, 7 = Sunday) nor a day of the month (1-31)"),
        ("32日", "a day of the month must be 1-31, got 32日"),
    ],
)
def test_bad_rest_day_text_is_refused_with_reason(text: str, reason: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        parse_rest_days(text)
    assert raised.value.violations == [FieldViolation("rest_days", reason)]


@pytest.mark.parametrize(
    ("weekdays", "month_days", "lunar_days"),
    [({0}, set(), set()), ({8}, set(), set()), (set(), {32}, set()), (set(), set(), {31})],
)
def test_rule_refuses_out_of_range_days(weekdays: set[int], month_days: set[int], lunar_days: set[int]) -> None:
    with pytest.raises(InvalidArgument):
        RestDayRule(frozenset(weekdays), frozenset(month_days), lunar_days=frozenset(lunar_days))


rules = st.builds(
    RestDayRule,
    weekdays=st.frozensets(st.integers(1, 7)),
    month_days=st.frozensets(st.integers(1, 31)),
    public_holidays=st.booleans(),
    lunar_days=st.frozensets(st.integers(1, 30)),
)


@settings(database=None)
@given(rules)
def test_canonical_text_parses_back_to_the_same_rule(rule: RestDayRule) -> None:
    assert parse_rest_days(rule.to_text()) == rule


# ---------------------------------------------------------------- is_open

MONDAY = date(2025, 5, 26)
SUNDAY = date(2025, 5, 25)
LUNAR_NEW_YEAR_2026 = date(2026, 2, 17)  # a Tuesday, lunar 1st
LANTERN_FESTIVAL_2026 = date(2026, 3, 3)  # a Tuesday, lunar 15th
NATIONAL_DAY_2025 = date(2025, 10, 10)  # a Friday


@pytest.mark.parametrize(
    ("text", "day", "open_"),
    [
        ("7", SUNDAY, False),
        ("7", MONDAY, True),
        ("6.7", date(2025, 5, 24), False),
        ("1.2", MONDAY, False),
        ("1.2", date(2025, 5, 28), True),  # Wednesday
        ("", SUNDAY, True),
        ("", NATIONAL_DAY_2025, True),
        ("Red", NATIONAL_DAY_2025, False),
        ("見紅休", date(2025, 10, 24), False),  # Retrocession Day observed on the Friday before
        ("Red", date(2025, 10, 13), True),
        ("Red", SUNDAY, True),  # Red means public holidays, not weekends
        ("7.Red", NATIONAL_DAY_2025, False),
        ("7.Red", SUNDAY, False),
        ("Red", date(2030, 2, 4), False),  # Lunar New Year: the calendar does not stop at a year
        ("7(初一十五)", LUNAR_NEW_YEAR_2026, False),
        ("7(初一十五)", LANTERN_FESTIVAL_2026, False),
        ("7(初一十五)", date(2026, 3, 4), True),  # lunar 16th, a Wednesday
        ("7(初一十五)", date(2026, 3, 8), False),  # a Sunday
        ("十五", LANTERN_FESTIVAL_2026, False),
        ("10.20.30", date(2025, 6, 10), False),
        ("10.20.30", date(2025, 6, 30), False),
        ("10.20.30", date(2025, 6, 11), True),
        ("10.20.30", date(2026, 2, 28), True),  # February has no 30th; no day is moved
        ("7.15日", date(2025, 5, 15), False),  # a Thursday, the 15th
    ],
)
def test_customer_is_open_unless_a_rest_day(text: str, day: date, open_: bool) -> None:
    assert is_open(text, day) is open_


def test_rule_object_is_accepted() -> None:
    assert is_open(RestDayRule(weekdays=SUNDAYS), SUNDAY) is False


@dataclass(frozen=True)
class Customer:
    code: str
    rest_days: str


def test_customer_record_is_accepted() -> None:
    assert is_open(Customer("1000001", "7(初一十五)"), LUNAR_NEW_YEAR_2026) is False


def test_bad_rest_days_on_a_customer_is_refused() -> None:
    with pytest.raises(InvalidArgument):
        is_open(Customer("1000001", "Blue"), MONDAY)


def test_red_uses_the_calendar_given() -> None:
    typhoon_day = date(2025, 7, 7)
    calendar = HolidayCalendar([Holiday(typhoon_day, "颱風假", "Typhoon day off")])

    assert is_open("Red", typhoon_day, calendar) is False
    assert is_open("Red", NATIONAL_DAY_2025, calendar) is True


@pytest.mark.parametrize(
    ("day", "lunar_day"),
    [(LUNAR_NEW_YEAR_2026, 1), (LANTERN_FESTIVAL_2026, 15), (date(2026, 2, 16), 29), (date(2025, 1, 29), 1)],
)
def test_lunar_day_of_month_follows_the_lunar_calendar(day: date, lunar_day: int) -> None:
    assert lunar_day_of_month(day) == lunar_day


@pytest.mark.parametrize("day", [date(1900, 1, 30), date(2100, 1, 1)])
def test_lunar_days_outside_the_known_calendar_are_refused(day: date) -> None:
    with pytest.raises(InvalidArgument):
        is_open("初一", day)


@pytest.mark.parametrize(("text", "never_closed"), [("", True), ("7", False), ("Red", False), ("初一", False)])
def test_empty_rule_is_never_closed(text: str, never_closed: bool) -> None:
    assert parse_rest_days(text).never_closed is never_closed
