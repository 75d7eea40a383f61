"""The "to deliver" list through the real services: who is due, and orders made from it idempotently."""

from __future__ import annotations

import uuid
from datetime import timedelta

import grpc
import pytest
from luckygas.customer.v1 import customer_pb2, customer_pb2_grpc
from luckygas.order.v1 import order_pb2 as pb
from luckygas.order.v1 import order_pb2_grpc

from services.order.refills import RefillRepository
from services.platform.database import Database
from tests.order.factories import count, create_customer, create_request, day, today, violations

Orders = order_pb2_grpc.OrderServiceStub
Customers = customer_pb2_grpc.CustomerServiceStub
# 3 × 20 kg at 5 kg a day lasts 12 days; the cycle is 14 days: due 11 days after a delivery.
PROFILE = {
    "cylinders": [customer_pb2.CylinderHolding(product="cylinder-20-regular", quantity=3)],
    "spare_cylinders": 0,
    "consumption_kg_per_day": 5.0,
    "max_cycle_days": 14,
    "slip_days": 4,
}


async def delivered_days_ago(database: Database, customer: customer_pb2.Customer, days: int) -> None:
    async with database.session() as session:
        await RefillRepository(session).add_if_missing(
            [(uuid.UUID(customer.id), today() - timedelta(days=days), 60.0)], "delivery"
        )


async def test_due_list_has_the_due_customers_with_reasons(
    orders: Orders, customers: Customers, database: Database
) -> None:
    due = await create_customer(customers, short_name="該送了", **PROFILE)
    overdue = await create_customer(
        customers, short_name="逾期", zone="B", **{**PROFILE, "consumption_kg_per_day": 1.0}
    )
    fresh = await create_customer(customers, short_name="剛送過", **PROFILE)
    gone = await create_customer(customers, short_name="已結束", **PROFILE)
    never = await create_customer(customers, short_name="沒送過", **PROFILE)
    await delivered_days_ago(database, due, 11)
    await delivered_days_ago(database, overdue, 16)
    await delivered_days_ago(database, fresh, 2)
    await delivered_days_ago(database, gone, 30)
    await customers.TerminateCustomer(customer_pb2.TerminateCustomerRequest(id=gone.id, reason="歇業"))

    reply = await orders.ListDue(pb.ListDueRequest(date=day(0)))

    listed = {entry.short_name: entry for entry in reply.customers}
    assert set(listed) == {"該送了", "逾期"}
    assert never.id not in {entry.customer_id for entry in reply.customers}
    assert (listed["該送了"].reason, listed["該送了"].due_date, listed["該送了"].slack_days) == ("forecast", day(0), 1)
    assert (listed["逾期"].reason, listed["逾期"].days_overdue, listed["逾期"].zone) == ("overdue", 2, "B")
    assert [(i.product, i.quantity) for i in listed["該送了"].suggested] == [("cylinder-20-regular", 3)]
    assert listed["該送了"].explanation
    in_zone_b = await orders.ListDue(pb.ListDueRequest(date=day(0), zones=["B"]))
    assert [entry.short_name for entry in in_zone_b.customers] == ["逾期"]
    tomorrow = await orders.ListDue(pb.ListDueRequest(date=day(1)))
    assert {entry.short_name for entry in tomorrow.customers} == {"該送了", "逾期"}


async def test_a_customer_with_an_open_order_is_not_listed(
    orders: Orders, customers: Customers, database: Database
) -> None:
    customer = await create_customer(customers, **PROFILE)
    await delivered_days_ago(database, customer, 11)
    await orders.CreateOrder(create_request(customer.id, scheduled_date=day(0)))

    reply = await orders.ListDue(pb.ListDueRequest(date=day(0)))

    assert reply.customers == []


async def test_orders_from_the_due_list_are_made_once(orders: Orders, customers: Customers, database: Database) -> None:
    cash = await create_customer(
        customers, **PROFILE, hourly_windows=[False, True, True, True] + [False] * 8, payment_terms="cash"
    )
    monthly = await create_customer(customers, **PROFILE, payment_terms="monthly", credit_limit=50_000)
    blocked = await create_customer(customers, **PROFILE, blocked=True)
    for customer in (cash, monthly, blocked):
        await delivered_days_ago(database, customer, 11)
    request = pb.CreateOrdersFromDueRequest(
        date=day(0), customer_ids=[cash.id, monthly.id, blocked.id], request_id="due-run-1", actor="dispatcher"
    )

    first = await orders.CreateOrdersFromDue(request)
    again = await orders.CreateOrdersFromDue(request)

    made = {order.customer_id: order for order in first.orders}
    assert set(made) == {cash.id, monthly.id}
    assert [entry.split(":")[0] for entry in first.skipped] == [blocked.id]
    assert "blocked" in first.skipped[0]
    assert (made[cash.id].window.start, made[cash.id].window.end) == ("09:00", "12:00")
    assert (made[cash.id].payment_method, made[monthly.id].payment_method) == ("cash", "monthly")
    assert [(i.product, i.quantity) for i in made[cash.id].items] == [("cylinder-20-regular", 3)]
    assert {order.source for order in first.orders} == {"forecast"}
    assert {order.status for order in first.orders} == {pb.ORDER_STATUS_PENDING}
    assert sorted(order.id for order in again.orders) == sorted(order.id for order in first.orders)
    assert await count(database, "orders") == 2
    remaining = await orders.ListDue(pb.ListDueRequest(date=day(0)))
    assert [entry.customer_id for entry in remaining.customers] == [blocked.id]


async def test_orders_from_due_need_a_request_id(orders: Orders, customers: Customers) -> None:
    customer = await create_customer(customers, **PROFILE)

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await orders.CreateOrdersFromDue(pb.CreateOrdersFromDueRequest(date=day(0), customer_ids=[customer.id]))

    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "request_id" in violations(raised.value)
