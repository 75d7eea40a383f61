"""The daily "to deliver" list from the refill forecast, and turning chosen entries into pending orders."""

from __future__ import annotations

import asyncio
import uuid
from datetime import time, timedelta

from services.order.customers import CustomerDirectory
from services.order.forecast import DueCustomer, assess, due_list, suggested_items
from services.order.refills import RefillRepository
from services.order.repository import OrderRepository
from services.order.schemas import CustomerInfo, OrderDraft, OrderRecord
from services.order.service import OrderService, check_actor, check_request_id, fingerprint
from services.order.validation import CLOSING, MAX_DAYS_AHEAD, OPENING
from services.platform.database import Database
from services.platform.errors import DomainError, FailedPrecondition, InvalidArgument
from services.platform.proto_values import parse_date, parse_uuid
from services.platform.zones import load_zones

MAX_CUSTOMERS = 500
# Orders older than this that never got delivered are stale; they no longer hide a customer from the list.
OPEN_ORDER_LOOKBACK_DAYS = 30
# Creates from one request run a few at a time: each is its own transaction, and one failing skips only it.
CREATE_CONCURRENCY = 4


def window_for(customer: CustomerInfo) -> tuple[time, time]:
    """From the first to the end of the last hourly window the customer accepts (08:00-20:00 when unset)."""
    allowed = [OPENING.hour + index for index, ok in enumerate(customer.hourly_windows) if ok]
    if not allowed:
        return OPENING, CLOSING
    return time(min(allowed)), time(min(max(allowed) + 1, CLOSING.hour))


class DueService:
    def __init__(self, database: Database, customers: CustomerDirectory, orders: OrderService) -> None:
        self.database = database
        self.customers = customers
        self.orders = orders

    async def list_due(self, day: str, zones: list[str]) -> list[DueCustomer]:
        """Customers due on ``day`` (not terminated, without an open order by then), the most urgent first."""
        on = parse_date(day, "date") if day else self.orders.today()
        unknown = [zone for zone in zones if zone not in load_zones()]
        if unknown:
            raise InvalidArgument.for_field("zones", f"unknown: {', '.join(unknown)}")
        async with self.database.read_session() as session:
            repository = OrderRepository(session)
            refills = await RefillRepository(session).last_refills()
            busy = await repository.customers_with_open_orders(
                since=on - timedelta(days=OPEN_ORDER_LOOKBACK_DAYS), until=on
            )
        # Only a customer with a delivery on record before the day can be due (forecast.assess), so only those are
        # read from the customer service, by id and in concurrent batches, instead of paging through every customer.
        candidates = [
            customer_id
            for customer_id, refill in refills.items()
            if customer_id not in busy and refill.delivered_on < on
        ]
        found = await self.customers.get_many(candidates)
        wanted = set(zones)
        active = [c for c in found.values() if not c.terminated and (not wanted or c.zone in wanted)]
        return due_list(active, refills, on)

    async def create_orders(
        self, day: str, customer_ids: list[str], request_id: str, actor: str = ""
    ) -> tuple[list[OrderRecord], list[str]]:
        """A pending order per chosen customer, with their usual cylinders in their hours, paid their usual way.

        Idempotent per (request_id, customer): a repeat returns the orders made the first time. A customer
        that cannot take an order (terminated, blocked, over the credit limit, already has one) is skipped
        with the reason.
        """
        check_request_id(request_id)
        check_actor(actor)
        on = parse_date(day, "date")
        if not customer_ids:
            raise InvalidArgument.for_field("customer_ids", "name at least one customer")
        if len(customer_ids) > MAX_CUSTOMERS:
            raise InvalidArgument.for_field("customer_ids", f"at most {MAX_CUSTOMERS}")
        today = self.orders.today()
        if not today <= on <= today + timedelta(days=MAX_DAYS_AHEAD):
            raise InvalidArgument.for_field("date", f"must be from {today} to {today + timedelta(days=MAX_DAYS_AHEAD)}")
        ids = list(dict.fromkeys(parse_uuid(value, "customer_ids", "a customer id") for value in customer_ids))
        known = await self.customers.get_many(ids)
        async with self.database.read_session() as session:
            refills = await RefillRepository(session).last_refills(ids)
        limit = asyncio.Semaphore(CREATE_CONCURRENCY)

        async def create(customer_id: uuid.UUID) -> OrderRecord | str:
            customer = known.get(customer_id)
            if customer is None:
                return f"{customer_id}: no such customer"
            if customer.terminated:
                return f"{customer_id}: customer {customer.code} is terminated"
            refill = refills.get(customer_id)
            items = suggested_items(customer, refill)
            if not items:
                return f"{customer_id}: customer {customer.code} has no cylinders on record to bring"
            entry = assess(customer, refill, on)
            start, end = window_for(customer)
            draft = OrderDraft(
                customer_id=customer_id,
                scheduled_date=on,
                window_start=start,
                window_end=end,
                items=items,
                urgent=False,
                additional=False,
                payment_method=customer.payment_terms,
                notes="",
                credit_override=None,
                source=entry.reason if entry is not None else "forecast",
            )
            async with limit:
                try:
                    return await self.orders.create_validated(
                        draft,
                        customer,
                        request_id=f"{request_id}:{customer_id}",
                        digest=fingerprint({"from_due": on.isoformat(), "customer_id": str(customer_id)}),
                        actor=actor,
                    )
                except (InvalidArgument, FailedPrecondition) as error:
                    return f"{customer_id}: {error.message}"

        results = await asyncio.gather(*(create(customer_id) for customer_id in ids), return_exceptions=True)
        orders, skipped = [], []
        for result in results:
            if isinstance(result, OrderRecord):
                orders.append(result)
            elif isinstance(result, str):
                skipped.append(result)
            elif isinstance(result, DomainError):
                raise result  # e.g. the request_id was used for another date: the whole request is wrong
            else:
                raise result
        return orders, skipped
