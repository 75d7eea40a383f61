"""A realistic Lucky Gas delivery day, made through the gateway like the office would: about 165 confirmed
orders for one date, picked from the demo customers (docs/domain.md: zones, segments, windows and vehicle needs).

Each order's window follows the customer's slot code (all day, morning, afternoon, evening); it carries one or
two of the customer's main cylinder (one for motorcycle-only customers: a motorcycle carries few). Customers
closed that weekday are skipped, as the office would. Orders are created with an Idempotency-Key made of the
date and customer, so running it twice for one date makes no more orders.

Used by the end-to-end routing test and by ``make bench-routing``.
"""

from __future__ import annotations

import random
from datetime import date
from typing import Any

import httpx

ORDERS_PER_DAY = 165
SLOT_WINDOWS = {0: ("08:00", "18:00"), 1: ("08:00", "12:00"), 2: ("13:00", "17:00"), 3: ("16:00", "20:00")}
ALL_DAY = ("08:00", "18:00")
PAGE_SIZE = 200


def list_customers(client: httpx.Client, headers: dict[str, str]) -> list[dict[str, Any]]:
    customers: list[dict[str, Any]] = []
    token = ""  # nosec B105 # a page token, empty for the first page
    while True:
        params: dict[str, Any] = {"page_size": PAGE_SIZE, "terminated": "false"}
        if token:
            params["page_token"] = token
        page = client.get("/api/v1/customers", params=params, headers=headers)
        page.raise_for_status()
        customers += page.json()["items"]
        token = page.json().get("next_page_token") or ""
        if not token:
            return customers


def closed_on(customer: dict[str, Any], day: date) -> bool:
    """The simple rest-day rules (weekdays such as "7" or "6.7"); the routing service checks all of them."""
    weekdays = {part for part in str(customer.get("rest_days") or "").replace("(", ".").split(".") if part.isdigit()}
    return str(day.isoweekday()) in weekdays


def main_product(customer: dict[str, Any]) -> str:
    held = customer.get("cylinders") or {}
    cylinders = {product: count for product, count in held.items() if not product.startswith("flow-")}
    if cylinders:
        return str(max(sorted(cylinders), key=lambda product: cylinders[product]))
    # Flow (metered) customers still get full cylinders of their size on the truck.
    return next(iter(sorted(held)), "cylinder-20-regular").replace("flow-", "cylinder-")


def order_body(customer: dict[str, Any], day: date, rng: random.Random) -> dict[str, Any]:
    start, end = SLOT_WINDOWS.get(customer.get("slot_code"), ALL_DAY)  # type: ignore[arg-type]
    quantity = 1 if customer["vehicle_requirement"] == "motorcycle" else rng.choice((1, 1, 2))
    return {
        "customer_id": customer["id"],
        "scheduled_date": day.isoformat(),
        "window": {"start": start, "end": end},
        "items": [{"product": main_product(customer), "quantity": quantity}],
        "payment_method": "monthly" if customer["payment_terms"] == "monthly" else "cash",
        "source": "forecast",
    }


def make_day(
    client: httpx.Client, headers: dict[str, str], day: date, count: int = ORDERS_PER_DAY, seed: int = 20261127
) -> list[dict[str, Any]]:
    """Creates and confirms ``count`` orders for ``day``; returns them (confirmed)."""
    rng = random.Random(seed)  # nosec B311 # a seeded, repeatable day of orders
    candidates = [c for c in list_customers(client, headers) if not c["blocked"] and not closed_on(c, day)]
    chosen = rng.sample(candidates, min(count, len(candidates)))
    orders = []
    for customer in chosen:
        key = f"realistic-day-{day.isoformat()}-{customer['code']}"
        created = client.post(
            "/api/v1/orders", json=order_body(customer, day, rng), headers={**headers, "Idempotency-Key": key}
        )
        if created.status_code == 409 and "credit" in created.text:
            continue  # over the credit limit: the office would call the customer first
        created.raise_for_status()
        order = created.json()
        if order["status"] == "pending":
            confirmed = client.post(f"/api/v1/orders/{order['id']}/confirm", headers=headers)
            confirmed.raise_for_status()
            order = confirmed.json()
        orders.append(order)
    return orders
