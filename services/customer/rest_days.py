"""Parses the legacy rest-day language ("7", "6.7", "Red", "7(初一十五)", "10.20.30") into a rule."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import NoReturn, Protocol

from lunardate import LunarDate

from services.customer.holidays import HolidayCalendar
from services.platform.errors import InvalidArgument

FIELD = "rest_days"
WEEKDAYS = range(1, 8)
MONTH_DAYS = range(1, 32)
LUNAR_DAYS = range(1, 31)
HIGHEST_WEEKDAY = 7

# The lunar calendar the lunardate package knows; outside it, it returns nonsense rather than failing.
LUNAR_CALENDAR_RANGE = (date(1900, 1, 31), date(2099, 12, 31))

PUBLIC_HOLIDAY_TEXT = "Red"
PUBLIC_HOLIDAY_WORDS_LATIN = frozenset({"red"})
PUBLIC_HOLIDAY_WORDS_CHINESE = ("見紅休", "见红休")
MONTH_DAY_SUFFIXES = "日號号"
SEPARATORS = frozenset(".,、;()[] \t")

_DIGITS = ("", "一", "二", "三", "四", "五", "六", "七", "八", "九", "十")
# Canonical names of lunar days, as a calendar prints them: 初一-初十, 十一-十九, 二十, 廿一-廿九, 三十.
LUNAR_DAY_NAMES: dict[int, str] = {
    **{day: "初" + _DIGITS[day] for day in range(1, 11)},
    **{day: "十" + _DIGITS[day - 10] for day in range(11, 20)},
    20: "二十",
    **{day: "廿" + _DIGITS[day - 20] for day in range(21, 30)},
    30: "三十",
}
# Longest first so that 二十一 is read as 21, not as 二十 followed by a stray 一.
_LUNAR_NAMES_LONGEST_FIRST: tuple[tuple[str, int], ...] = tuple(
    sorted(
        [(name, day) for day, name in LUNAR_DAY_NAMES.items()]
        + [("二十" + _DIGITS[day - 20], day) for day in range(21, 30)],
        key=lambda item: len(item[0]),
        reverse=True,
    )
)
_NUMBER = re.compile(rf"([0-9]+)([{MONTH_DAY_SUFFIXES}]?)")
_LATIN_WORD = re.compile(r"[A-Za-z]+")


class HasRestDays(Protocol):
    """Anything carrying rest-day text, such as a customer."""

    @property
    def rest_days(self) -> str: ...


def _reject(field: str, reason: str) -> NoReturn:
    raise InvalidArgument.for_field(field, reason)


@dataclass(frozen=True)
class RestDayRule:
    """When a customer is closed: weekdays (ISO, 7 = Sunday), days of the month, public holidays, lunar days."""

    weekdays: frozenset[int] = frozenset()
    month_days: frozenset[int] = frozenset()
    public_holidays: bool = False
    lunar_days: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        for name, values, allowed in (
            ("weekday", self.weekdays, WEEKDAYS),
            ("day of the month", self.month_days, MONTH_DAYS),
            ("lunar day", self.lunar_days, LUNAR_DAYS),
        ):
            for value in values:
                if value not in allowed:
                    _reject(FIELD, f"{name} must be {allowed.start}-{allowed.stop - 1}, got {value}")

    @property
    def never_closed(self) -> bool:
        return not (self.weekdays or self.month_days or self.public_holidays or self.lunar_days)

    def to_text(self) -> str:
        """The canonical text of this rule; ``parse_rest_days(rule.to_text()) == rule``."""
        parts = [str(weekday) for weekday in sorted(self.weekdays)]
        # Bare numbers read as days of the month only when one of them is above 7 and no weekday is bare
        # beside them; otherwise they need the 日 suffix.
        bare_month_days = not self.weekdays and max(self.month_days, default=0) > HIGHEST_WEEKDAY
        parts += [f"{day}" if bare_month_days else f"{day}日" for day in sorted(self.month_days)]
        if self.public_holidays:
            parts.append(PUBLIC_HOLIDAY_TEXT)
        names = [LUNAR_DAY_NAMES[day] for day in sorted(self.lunar_days)]
        # Lunar names are written side by side (初一十五), except where that reads as another day:
        # 二十 then 三十 would read as 二十三 (23) and a stray 十, so those two are separated.
        lunar = "".join(
            name if index == 0 or not _extends(names[index - 1], name) else "、" + name
            for index, name in enumerate(names)
        )
        if not lunar:
            return ".".join(parts)
        return f"{'.'.join(parts)}({lunar})" if parts else lunar

    def is_rest_day(self, day: date, calendar: HolidayCalendar | None = None) -> bool:
        """Whether the customer is closed on ``day``; ``calendar`` defaults to Taiwan's national holidays."""
        if day.isoweekday() in self.weekdays or day.day in self.month_days:
            return True
        if self.lunar_days and lunar_day_of_month(day) in self.lunar_days:
            return True
        if self.public_holidays:
            return (calendar if calendar is not None else HolidayCalendar.load_default()).is_holiday(day)
        return False


def lunar_day_of_month(day: date, *, field: str = "date") -> int:
    """The day of the lunar month (1-30) on which a Gregorian date falls: 2026-02-17 → 1 (Lunar New Year)."""
    first, last = LUNAR_CALENDAR_RANGE
    if not first <= day <= last:
        _reject(field, f"the lunar calendar is only known from {first.isoformat()} to {last.isoformat()}")
    return int(LunarDate.from_solar_date(day.year, day.month, day.day).day)


def parse_rest_days(text: str, *, field: str = FIELD) -> RestDayRule:
    """Read rest-day text such as "6.7", "Red", "7(初一十五)" or "10.20.30"; raise InvalidArgument if it is not.

    The language, as the office writes it in the legacy sheets:

    - numbers separated by ``.``, ``,``, ``，`` or ``、`` (full-width digits are fine);
    - bare numbers 1-7 are ISO weekdays, 7 = Sunday ("6.7" = weekends);
    - but if any bare number in the text is above 7, every bare number is a day of the month ("10.20.30",
      and also "1.15" = the 1st and the 15th); that is how the legacy data tells the two apart;
    - a number followed by 日 or 號 is always a day of the month ("7.15日" = Sundays and the 15th), which lets
      ``to_text`` write any rule unambiguously;
    - ``Red`` (any case) or ``見紅休``: closed on national public holidays (see ``holidays``);
    - lunar days by their Chinese names, in parentheses or not: ``初一``, ``十五``, ``7(初一十五)``;
    - the empty string: never closed.
    """
    return _parse(text, field)


@lru_cache(maxsize=1024)
def _parse(text: str, field: str) -> RestDayRule:
    # NFKC folds full-width digits, letters, commas, full stops and parentheses to ASCII; 、 stays as it is.
    text = unicodedata.normalize("NFKC", text).strip()
    bare_numbers: list[int] = []
    month_days: set[int] = set()
    lunar_days: set[int] = set()
    public_holidays = False
    position = 0
    while position < len(text):
        if text[position] in SEPARATORS:
            position += 1
            continue
        if number := _NUMBER.match(text, position):
            digits = number.group(1).lstrip("0") or "0"
            if len(digits) > 2:
                _reject(field, f"{digits} is neither a weekday (1-7, 7 = Sunday) nor a day of the month (1-31)")
            value = int(digits)
            if number.group(2):
                if value not in MONTH_DAYS:
                    _reject(field, f"a day of the month must be 1-31, got {number.group(0)}")
                month_days.add(value)
            else:
                bare_numbers.append(value)
            position = number.end()
        elif word := _LATIN_WORD.match(text, position):
            if word.group(0).casefold() not in PUBLIC_HOLIDAY_WORDS_LATIN:
                _reject(field, _unknown(word.group(0)))
            public_holidays = True
            position = word.end()
        elif chinese_word := next((w for w in PUBLIC_HOLIDAY_WORDS_CHINESE if text.startswith(w, position)), None):
            public_holidays = True
            position += len(chinese_word)
        elif lunar := next((item for item in _LUNAR_NAMES_LONGEST_FIRST if text.startswith(item[0], position)), None):
            lunar_days.add(lunar[1])
            position += len(lunar[0])
        else:
            _reject(field, _unknown(_token_at(text, position)))

    for value in bare_numbers:
        if value not in MONTH_DAYS:
            _reject(field, f"{value} is neither a weekday (1-7, 7 = Sunday) nor a day of the month (1-31)")
    if any(value > HIGHEST_WEEKDAY for value in bare_numbers):
        month_days.update(bare_numbers)
        weekdays: set[int] = set()
    else:
        weekdays = set(bare_numbers)
    return RestDayRule(frozenset(weekdays), frozenset(month_days), public_holidays, frozenset(lunar_days))


def _extends(previous: str, following: str) -> bool:
    """Whether ``previous`` written directly before ``following`` starts a longer lunar name."""
    joined = previous + following
    return any(len(name) > len(previous) and joined.startswith(name) for name, _ in _LUNAR_NAMES_LONGEST_FIRST)


def _token_at(text: str, position: int) -> str:
    end = position
    while end < len(text) and text[end] not in SEPARATORS:
        end += 1
    return text[position:end]


def _unknown(token: str) -> str:
    return f"unknown rest day {token!r}; use weekdays 1-7, days of the month, Red/見紅休 or lunar days (初一, 十五)"


def is_open(
    rule: RestDayRule | str | HasRestDays,
    day: date,
    calendar: HolidayCalendar | None = None,
) -> bool:
    """Whether a customer (or a rule, or rest-day text) takes deliveries on ``day``."""
    if isinstance(rule, str):
        rule = parse_rest_days(rule)
    elif not isinstance(rule, RestDayRule):
        rule = parse_rest_days(rule.rest_days)
    return not rule.is_rest_day(day, calendar)
