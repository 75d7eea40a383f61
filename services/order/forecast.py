"""The refill forecast: which customers are due on a date, why, and what to bring. Pure functions, no I/O.

For a customer last delivered on L, with K kg on site when full and a consumption of C kg a day:

- depletion date  D = L + floor(K / C) days: the day the gas is forecast to run out;
- forecast due    D − LEAD_DAYS: deliver the day before it runs out (never earlier than L + 1);
- cycle end       L + max_cycle_days: the longest the customer may go between refills;
- due date        the earlier of the two. A customer is due on any date from the due date on;
- overdue         when the days since the last delivery exceed max_cycle_days (the reason says so);
- slack           how many more days the delivery may slip: slip_days minus the days already past the due date,
                  and never past the depletion date (at most D − date); deferrable while slack > 0.

K is the full capacity of the customer's cylinders on site, spares included (counted at the size of their main
product): the exchange leaves every cylinder full. When the customer record holds no cylinders, the kg of the
last delivery stands in. D is rounded down to whole days, so delivering on D still beats the empty cylinder.
Customers never delivered by this service have no L and are not forecast (call-ins and alerts bring them in).
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import date, timedelta

from services.order.schemas import CustomerInfo, ItemInput
from services.platform.products import PRODUCTS

LEAD_DAYS = 1
FALLBACK_PRODUCT = "cylinder-20-regular"
MAX_SUGGESTED_QUANTITY = 100


@dataclass(frozen=True)
class LastRefill:
    """The latest delivery to a customer (the ``customer_refills`` row)."""

    delivered_on: date
    kg_delivered: float


@dataclass(frozen=True)
class DueCustomer:
    customer: CustomerInfo
    reason: str  # forecast | overdue
    explanation: str
    due_date: date
    days_overdue: int
    slack_days: int
    deferrable: bool
    suggested: tuple[ItemInput, ...]


def kg_on_site(holdings: dict[str, int], spare_cylinders: int = 0) -> float:
    """Full capacity of the cylinders at the customer's site in kg of gas; spares count at the main product's size."""
    known = {product: quantity for product, quantity in holdings.items() if product in PRODUCTS and quantity > 0}
    if not known:
        return 0.0
    main = max(known, key=lambda product: (PRODUCTS[product].size_kg * known[product], product))
    spare_kg = PRODUCTS[main].size_kg * max(0, spare_cylinders)
    return float(sum(PRODUCTS[product].size_kg * quantity for product, quantity in known.items()) + spare_kg)


def depletion_date(last_delivered_on: date, kg: float, consumption_kg_per_day: float) -> date | None:
    if kg <= 0 or consumption_kg_per_day <= 0:
        return None
    return last_delivered_on + timedelta(days=math.floor(kg / consumption_kg_per_day))


def cycle_end(last_delivered_on: date, max_cycle_days: int) -> date | None:
    return last_delivered_on + timedelta(days=max_cycle_days) if max_cycle_days > 0 else None


def due_date(customer: CustomerInfo, refill: LastRefill) -> date | None:
    """The first day the customer is due after ``refill``; None when nothing predicts it."""
    candidates = []
    depletion = depletion_date(refill.delivered_on, _kg(customer, refill), customer.consumption_kg_per_day)
    if depletion is not None:
        candidates.append(max(depletion - timedelta(days=LEAD_DAYS), refill.delivered_on + timedelta(days=1)))
    cycle = cycle_end(refill.delivered_on, customer.max_cycle_days)
    if cycle is not None:
        candidates.append(cycle)
    return min(candidates) if candidates else None


def suggested_items(customer: CustomerInfo, refill: LastRefill | None) -> tuple[ItemInput, ...]:
    """Their usual cylinders: everything on site exchanged; else 20 kg cylinders for the last delivery's kg."""
    items = tuple(
        ItemInput(product, min(quantity, MAX_SUGGESTED_QUANTITY))
        for product, quantity in sorted(customer.holdings.items())
        if product in PRODUCTS and quantity > 0
    )
    if items or refill is None or refill.kg_delivered <= 0:
        return items
    count = math.ceil(refill.kg_delivered / PRODUCTS[FALLBACK_PRODUCT].size_kg)
    return (ItemInput(FALLBACK_PRODUCT, min(count, MAX_SUGGESTED_QUANTITY)),)


def assess(customer: CustomerInfo, refill: LastRefill | None, on: date) -> DueCustomer | None:
    """The customer's entry in the due list for ``on``, or None when they are not due."""
    if refill is None:
        return None
    due = due_date(customer, refill)
    if due is None or on < due:
        return None
    kg = _kg(customer, refill)
    depletion = depletion_date(refill.delivered_on, kg, customer.consumption_kg_per_day)
    cycle = cycle_end(refill.delivered_on, customer.max_cycle_days)
    overdue = cycle is not None and on > cycle
    days_overdue = (on - due).days
    slack = customer.slip_days - days_overdue
    if depletion is not None:
        slack = min(slack, (depletion - on).days)
    slack = max(0, slack)
    return DueCustomer(
        customer=customer,
        reason="overdue" if overdue else "forecast",
        explanation=explain(customer, refill, on, kg=kg, depletion=depletion, cycle=cycle, slack=slack),
        due_date=due,
        days_overdue=days_overdue,
        slack_days=slack,
        deferrable=slack > 0,
        suggested=suggested_items(customer, refill),
    )


def explain(
    customer: CustomerInfo,
    refill: LastRefill,
    on: date,
    *,
    kg: float,
    depletion: date | None,
    cycle: date | None,
    slack: int,
) -> str:
    """One sentence in Traditional Chinese (the office's language) with the numbers behind the decision."""
    since = (on - refill.delivered_on).days
    parts = [f"上次送氣 {refill.delivered_on:%m/%d}（{since} 天前）"]
    if depletion is not None:
        parts.append(f"現場約 {kg:g} kg、每日用量 {customer.consumption_kg_per_day:g} kg，預計 {depletion:%m/%d} 用完")
    if cycle is not None and on > cycle:
        parts.append(f"已超過最長送氣週期 {customer.max_cycle_days} 天（逾期 {(on - cycle).days} 天）")
    elif cycle is not None:
        parts.append(f"最長送氣週期 {customer.max_cycle_days} 天（{cycle:%m/%d} 到期）")
    tail = f"可再延後 {slack} 天" if slack > 0 else "不可再延後"
    return "，".join(parts) + "；" + tail + "。"


def due_list(customers: list[CustomerInfo], refills: dict[uuid.UUID, LastRefill], on: date) -> list[DueCustomer]:
    """Every due customer on ``on``, the most urgent first (least slack, then longest past due, then code)."""
    found = [entry for customer in customers if (entry := assess(customer, refills.get(customer.id), on)) is not None]
    found.sort(key=lambda entry: (entry.slack_days, -entry.days_overdue, entry.customer.code))
    return found


def _kg(customer: CustomerInfo, refill: LastRefill) -> float:
    return kg_on_site(customer.holdings, customer.spare_cylinders) or refill.kg_delivered
