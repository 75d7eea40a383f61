"""Order and delivery events: written in the same transaction as the change, published to ``events.order``."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
import redis.asyncio as aioredis
from luckygas.customer.v1 import customer_pb2_grpc
from luckygas.order.v1 import order_pb2 as pb
from luckygas.order.v1 import order_pb2_grpc
from sqlalchemy import text

from services.order.models import OUTBOX
from services.platform.database import Database
from services.platform.outbox import EventEnvelope, OutboxRelay
from tests.order.factories import create_customer, create_request, day, proof

Orders = order_pb2_grpc.OrderServiceStub
Customers = customer_pb2_grpc.CustomerServiceStub


async def recorded(database: Database) -> list[dict[str, Any]]:
    async with database.session() as session:
        rows = await session.execute(
            text('SELECT type, aggregate_id, aggregate_version, payload FROM "order".outbox ORDER BY position')
        )
        return [dict(row) for row in rows.mappings()]


async def test_each_change_records_one_event_with_the_order_version(
    orders: Orders, customers: Customers, database: Database
) -> None:
    customer = await create_customer(customers)
    order = await orders.CreateOrder(create_request(customer.id))
    for target, extra in (
        (pb.ORDER_STATUS_CONFIRMED, {}),
        (pb.ORDER_STATUS_CONFIRMED, {}),  # a repeat changes nothing and records nothing
        (pb.ORDER_STATUS_ASSIGNED, {"route_id": "north-pm"}),
        (pb.ORDER_STATUS_IN_DELIVERY, {}),
    ):
        await orders.TransitionOrder(pb.TransitionOrderRequest(id=order.id, target=target, **extra))
    await orders.CompleteDelivery(pb.CompleteDeliveryRequest(id=order.id, proof=proof(), request_id="pod"))

    events = await recorded(database)

    assert [(e["type"], e["aggregate_version"]) for e in events] == [
        ("order.created", 1),
        ("order.confirmed", 2),
        ("order.assigned", 3),
        ("order.delivery_started", 4),
        ("delivery.completed", 5),
    ]
    assert {e["aggregate_id"] for e in events} == {order.id}
    assert events[0]["payload"]["number"] == order.number
    assert events[0]["payload"]["items"] == [{"product": "cylinder-20-regular", "quantity": 2, "unit_price": 760}]
    assert events[2]["payload"]["route_id"] == "north-pm"
    assert events[4]["payload"]["cash_collected"] == 1596


async def test_a_refused_change_records_no_event(orders: Orders, customers: Customers, database: Database) -> None:
    customer = await create_customer(customers)
    with pytest.raises(grpc.aio.AioRpcError):
        await orders.CreateOrder(create_request(customer.id, scheduled_date=day(-1)))
    order = await orders.CreateOrder(create_request(customer.id))
    with pytest.raises(grpc.aio.AioRpcError):
        await orders.TransitionOrder(pb.TransitionOrderRequest(id=order.id, target=pb.ORDER_STATUS_IN_DELIVERY))

    assert [e["type"] for e in await recorded(database)] == ["order.created"]


async def test_the_relay_publishes_order_events_to_their_stream(
    orders: Orders, customers: Customers, database: Database, redis_client: aioredis.Redis
) -> None:
    customer = await create_customer(customers)
    order = await orders.CreateOrder(create_request(customer.id))
    await orders.TransitionOrder(
        pb.TransitionOrderRequest(id=order.id, target=pb.ORDER_STATUS_CANCELLED, reason="客戶改天")
    )

    published = await OutboxRelay(database, OUTBOX, redis_client).publish_pending()

    entries = await redis_client.xrange("events.order")
    events = [EventEnvelope.from_fields(fields) for _, fields in entries]
    assert published == 2
    assert [(e.type, e.aggregate_id) for e in events] == [("order.created", order.id), ("order.cancelled", order.id)]
    assert events[1].payload["reason"] == "客戶改天"
