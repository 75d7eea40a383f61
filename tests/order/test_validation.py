"""The scheduling window of an order (today to today + 30 days, Asia/Taipei) on days the test chooses: the edges of
months and years, a leap day, a Sunday, a holiday. The servers' own tests cannot pin these: they run on today."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from services.order.schemas import ItemInput, OrderInput
from services.order.validation import validate_order

CUSTOMER = "7d4c1b1e-2f6a-4d8e-9a51-0b6f2c3d4e5f"
TODAYS = [
    date(2026, 12, 31),  # the year ends
    date(2027, 1, 1),  # New Year's Day, a holiday
    date(2027, 1, 31),  # a 31-day month ends into February
    date(2027, 2, 28),  # February ends in a common year; Peace Memorial Day, a Sunday
    date(2028, 2, 29),  # a leap day
    date(2027, 3, 14),  # a Sunday
]


def scheduled_on(day: date) -> OrderInput:
    return OrderInput(
        customer_id=CUSTOMER,
        scheduled_date=day.isoformat(),
        window_start="09:00",
        window_end="12:00",
        items=(ItemInput("cylinder-20-regular", 2),),
        payment_method="cash",
        source="call_in",
    )


def refused_fields(order: OrderInput, today: date) -> list[str]:
    draft, violations = validate_order(order, today)
    assert (draft is None) == bool(violations)
    return [violation.field for violation in violations]


@pytest.mark.parametrize("today", TODAYS, ids=str)
@pytest.mark.parametrize("offset", [0, 1, 29, 30])
def test_today_to_thirty_days_ahead_is_accepted(today: date, offset: int) -> None:
    assert refused_fields(scheduled_on(today + timedelta(days=offset)), today) == []


@pytest.mark.parametrize("today", TODAYS, ids=str)
@pytest.mark.parametrize("offset", [-1, -365, 31, 400])
def test_the_past_and_more_than_thirty_days_ahead_are_refused(today: date, offset: int) -> None:
    assert refused_fields(scheduled_on(today + timedelta(days=offset)), today) == ["scheduled_date"]
