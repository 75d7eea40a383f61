"""The refill forecast's arithmetic, on one customer with round numbers.

The customer: three 20 kg cylinders (60 kg), 5 kg a day, at most 14 days between refills, 4 days of slip;
last delivered on 1 May. The gas runs out on 13 May (60 / 5 = 12 days), so they are due on 12 May.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date

from services.order.forecast import (
    DueCustomer,
    LastRefill,
    assess,
    depletion_date,
    due_date,
    due_list,
    kg_on_site,
    suggested_items,
)
from services.order.schemas import CustomerInfo, ItemInput

MAY_1 = date(2026, 5, 1)
CUSTOMER = CustomerInfo(
    id=uuid.UUID(int=1),
    code="1000001",
    short_name="鐵花小吃",
    zone="A",
    payment_terms="cash",
    credit_limit=0,
    blocked=False,
    terminated=False,
    holdings={"cylinder-20-regular": 3},
    consumption_kg_per_day=5.0,
    max_cycle_days=14,
    slip_days=4,
)
REFILL = LastRefill(MAY_1, 60.0)


def on(day: int) -> DueCustomer | None:
    return assess(CUSTOMER, REFILL, date(2026, 5, day))


def test_kg_on_site_is_full_capacity_with_spares_at_the_main_products_size() -> None:
    assert kg_on_site({"cylinder-20-regular": 3}) == 60
    assert kg_on_site({"cylinder-20-regular": 3}, spare_cylinders=1) == 80
    assert kg_on_site({"cylinder-50-regular": 2, "happy-4": 1}, spare_cylinders=1) == 154
    assert kg_on_site({}) == 0


def test_depletion_is_last_delivery_plus_whole_days_of_gas() -> None:
    assert depletion_date(MAY_1, 60, 5.0) == date(2026, 5, 13)
    assert depletion_date(MAY_1, 60, 4.6) == date(2026, 5, 14)  # 13.04 days, rounded down
    assert depletion_date(MAY_1, 60, 0) is None


def test_due_the_day_before_the_gas_runs_out() -> None:
    assert due_date(CUSTOMER, REFILL) == date(2026, 5, 12)


def test_due_at_the_cycle_end_when_that_comes_first() -> None:
    assert due_date(replace(CUSTOMER, max_cycle_days=10), REFILL) == date(2026, 5, 11)


def test_not_due_before_the_due_date() -> None:
    assert on(11) is None


def test_due_on_the_due_date_with_a_day_of_slack_left() -> None:
    entry = on(12)

    assert entry is not None
    assert (entry.reason, entry.due_date, entry.days_overdue) == ("forecast", date(2026, 5, 12), 0)
    assert (entry.slack_days, entry.deferrable) == (1, True)  # slip allows 4, the gas only 1 more day
    assert entry.suggested == (ItemInput("cylinder-20-regular", 3),)
    assert "05/01" in entry.explanation
    assert "05/13 用完" in entry.explanation


def test_no_slack_on_the_day_the_gas_runs_out() -> None:
    entry = on(13)

    assert entry is not None
    assert (entry.days_overdue, entry.slack_days, entry.deferrable) == (1, 0, False)


def test_overdue_when_the_days_since_delivery_exceed_the_cycle() -> None:
    # A light user: the gas would last 60 days, but 14 days is the longest between refills.
    light = replace(CUSTOMER, consumption_kg_per_day=1.0)

    at_cycle_end = assess(light, REFILL, date(2026, 5, 15))
    after = assess(light, REFILL, date(2026, 5, 17))

    assert at_cycle_end is not None
    assert (at_cycle_end.reason, at_cycle_end.slack_days) == ("forecast", 4)
    assert after is not None
    assert (after.reason, after.due_date, after.days_overdue) == ("overdue", date(2026, 5, 15), 2)
    assert (after.slack_days, after.deferrable) == (2, True)  # 4 days of slip, 2 used
    assert "逾期 2 天" in after.explanation


def test_slip_days_used_up_means_not_deferrable() -> None:
    light = replace(CUSTOMER, consumption_kg_per_day=1.0)

    entry = assess(light, REFILL, date(2026, 5, 25))

    assert entry is not None
    assert (entry.days_overdue, entry.slack_days, entry.deferrable) == (10, 0, False)


def test_unknown_consumption_leaves_only_the_cycle() -> None:
    assert due_date(replace(CUSTOMER, consumption_kg_per_day=0), REFILL) == date(2026, 5, 15)


def test_never_delivered_customers_are_not_forecast() -> None:
    assert assess(CUSTOMER, None, date(2026, 5, 30)) is None


def test_without_cylinders_on_record_the_last_delivery_stands_in() -> None:
    bare = replace(CUSTOMER, holdings={})

    assert due_date(bare, LastRefill(MAY_1, 40.0)) == date(2026, 5, 8)  # 40 kg last 8 days: empty on the 9th
    assert suggested_items(bare, LastRefill(MAY_1, 40.0)) == (ItemInput("cylinder-20-regular", 2),)


def test_due_list_puts_the_least_slack_first_then_the_longest_overdue() -> None:
    long_overdue = replace(CUSTOMER, id=uuid.UUID(int=2), code="1000002", consumption_kg_per_day=1.0)
    no_slip = replace(CUSTOMER, id=uuid.UUID(int=3), code="1000003", slip_days=0)
    with_slack = replace(CUSTOMER, id=uuid.UUID(int=4), code="1000004")
    not_yet = replace(CUSTOMER, id=uuid.UUID(int=5), code="1000005")
    refills = {
        long_overdue.id: LastRefill(date(2026, 4, 20), 60.0),  # cycle ended 4 May: 8 days overdue, slip used up
        no_slip.id: REFILL,
        with_slack.id: REFILL,
        not_yet.id: LastRefill(date(2026, 5, 10), 60.0),
    }

    listed = due_list([with_slack, not_yet, no_slip, long_overdue], refills, date(2026, 5, 12))

    assert [(entry.customer.code, entry.slack_days, entry.days_overdue) for entry in listed] == [
        ("1000002", 0, 8),
        ("1000003", 0, 0),
        ("1000004", 1, 0),
    ]
