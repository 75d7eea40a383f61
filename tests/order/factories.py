"""Valid order payloads and customers to start tests from; each test changes only what it is about."""

from __future__ import annotations

import itertools
import json
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Any, TypeVar

import grpc
from luckygas.customer.v1 import customer_pb2, customer_pb2_grpc
from luckygas.order.v1 import order_pb2 as pb
from sqlalchemy import text

from services.platform.clock import taipei_today
from services.platform.database import Database
from services.platform.interceptors import VIOLATIONS_METADATA_KEY
from tests.customer.factories import customer_fields

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
_keys = itertools.count(1)
T = TypeVar("T")


# The test's today, fixed when it starts (tests/conftest.py), so that every date a test computes agrees even when
# midnight passes while it runs; None outside a test (while tests are collected).
_today: date | None = None


def today() -> date:
    """Today in Taipei, as of the start of the running test."""
    return _today or taipei_today()


def start_the_day() -> date:
    """Fix the test's today to the platform clock's (at the start of each test, and by ``on_one_day``)."""
    global _today
    _today = taipei_today()
    return _today


def end_the_day() -> None:
    global _today
    _today = None


def day(offset: int) -> str:
    """Today in Taipei plus ``offset`` days, as the API spells dates."""
    return (today() + timedelta(days=offset)).isoformat()


class DaysSpanned:
    """The Taipei dates a block ran on: one, or two when midnight passed while it ran (the suite runs at any hour).

    with DaysSpanned() as days:
        created = await orders.CreateOrder(...)
    assert number_parts(created.number)[0] in days.dates
    """

    def __enter__(self) -> DaysSpanned:
        self.dates = {taipei_today()}
        return self

    def __exit__(self, *_: object) -> None:
        self.dates.add(taipei_today())


async def on_one_day(attempt: Callable[[], Awaitable[T]]) -> T:
    """``attempt`` (which reads today's date itself, e.g. orders for ``day(0)``), again if midnight passed while it
    ran: an edge of the rules checked as the day turned tests one day's date against the next day's rules. Midnight
    comes once a day, so a second attempt always runs on one day. (The edges on chosen dates: test_validation.py.)"""
    for _ in range(2):
        before = start_the_day()
        try:
            result = await attempt()
        except Exception:
            if taipei_today() != before:
                continue
            raise
        if taipei_today() == before:
            return result
    raise AssertionError("the Taipei date changed during both attempts")


def number_parts(number: str) -> tuple[date, int]:
    """``LG-YYYYMMDD-NNNN`` → (the day it was taken, its place in that day's intake)."""
    match = re.fullmatch(r"LG-(\d{4})(\d{2})(\d{2})-(\d{4})", number)
    assert match, number
    year, month, day_of_month, sequence = (int(part) for part in match.groups())
    return date(year, month, day_of_month), sequence


def request_id() -> str:
    return f"test-{next(_keys)}-{uuid.uuid4().hex[:8]}"


async def create_customer(customers: customer_pb2_grpc.CustomerServiceStub, **overrides: Any) -> customer_pb2.Customer:
    return await customers.CreateCustomer(customer_pb2.CreateCustomerRequest(customer=customer_fields(**overrides)))


def items(*pairs: tuple[str, int]) -> list[pb.OrderItemInput]:
    return [pb.OrderItemInput(product=product, quantity=quantity) for product, quantity in pairs]


def order_input(customer_id: str, **overrides: Any) -> pb.OrderInput:
    values: dict[str, Any] = {
        "customer_id": customer_id,
        "scheduled_date": day(1),
        "window": pb.DeliveryWindow(start="09:00", end="12:00"),
        "items": items(("cylinder-20-regular", 2)),
        "payment_method": "cash",
        "notes": "送貨前請先來電",
        "source": "call_in",
    }
    values.update(overrides)
    return pb.OrderInput(**values)


def create_request(customer_id: str, key: str | None = None, **overrides: Any) -> pb.CreateOrderRequest:
    return pb.CreateOrderRequest(
        order=order_input(customer_id, **overrides), request_id=key or request_id(), actor="dispatcher"
    )


def proof(**overrides: Any) -> pb.DeliveryProof:
    values: dict[str, Any] = {
        "recipient_name": "林小姐",
        "signature_png": PNG,
        "delivered": items(("cylinder-20-regular", 2)),
        "empties_received": items(("cylinder-20-regular", 2)),
        "residual_gas_kg": 1.5,
        "cash_collected": 1596,
    }
    values.update(overrides)
    return pb.DeliveryProof(**values)


def violations(error: grpc.aio.AioRpcError) -> dict[str, str]:
    """The field violations an error carries in its trailing metadata: field → reason."""
    for key, value in error.trailing_metadata() or ():
        if key == VIOLATIONS_METADATA_KEY:
            return {item["field"]: item["reason"] for item in json.loads(value)}
    return {}


async def count(database: Database, table: str, where: str = "TRUE") -> int:
    async with database.session() as session:
        return int((await session.execute(text(f'SELECT count(*) FROM "order".{table} WHERE {where}'))).scalar_one())
