"""Recording visits: delivery with proof (checked, stored, idempotent) and failure at the door."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from luckygas.customer.v1 import customer_pb2_grpc
from luckygas.order.v1 import order_pb2 as pb
from luckygas.order.v1 import order_pb2_grpc
from sqlalchemy import text

from services.platform.clock import utc_now
from services.platform.database import Database
from tests.order.factories import JPEG, PNG, count, create_customer, create_request, items, proof, violations

Orders = order_pb2_grpc.OrderServiceStub
Customers = customer_pb2_grpc.CustomerServiceStub


async def order_on_its_way(orders: Orders, customers: Customers, **customer_fields: Any) -> pb.Order:
    customer = await create_customer(customers, **customer_fields)
    order = await orders.CreateOrder(create_request(customer.id))
    for target, extra in (
        (pb.ORDER_STATUS_CONFIRMED, {}),
        (pb.ORDER_STATUS_ASSIGNED, {"route_id": "south-am"}),
        (pb.ORDER_STATUS_IN_DELIVERY, {}),
    ):
        order = await orders.TransitionOrder(pb.TransitionOrderRequest(id=order.id, target=target, **extra))
    return order


async def assigned_order(orders: Orders, customers: Customers) -> pb.Order:
    """An order on a driver's route that the driver has not started: the visit is recorded straight from here."""
    customer = await create_customer(customers)
    order = await orders.CreateOrder(create_request(customer.id))
    for target, extra in ((pb.ORDER_STATUS_CONFIRMED, {}), (pb.ORDER_STATUS_ASSIGNED, {"route_id": "south-am"})):
        order = await orders.TransitionOrder(pb.TransitionOrderRequest(id=order.id, target=target, **extra))
    return order


async def events_after(database: Database, order: pb.Order) -> list[tuple[str, int, dict[str, Any]]]:
    """The order's outbox entries recorded after the given version of it: (type, version, payload)."""
    async with database.session() as session:
        rows = await session.execute(
            text(
                'SELECT type, aggregate_version, payload FROM "order".outbox'
                " WHERE aggregate_id = :id AND aggregate_version > :version ORDER BY position"
            ),
            {"id": order.id, "version": order.version},
        )
        return [(row.type, row.aggregate_version, row.payload) for row in rows]


def complete(order: pb.Order, key: str = "pod-1", **proof_fields: Any) -> pb.CompleteDeliveryRequest:
    return pb.CompleteDeliveryRequest(id=order.id, proof=proof(**proof_fields), request_id=key, actor="driver01")


async def test_completing_records_the_proof(orders: Orders, customers: Customers) -> None:
    order = await order_on_its_way(orders, customers)

    delivered = await orders.CompleteDelivery(complete(order, photo=JPEG, photo_content_type="image/jpeg"))

    assert delivered.status == pb.ORDER_STATUS_DELIVERED
    assert delivered.version == order.version + 1
    assert delivered.proof.recipient_name == "林小姐"
    assert [(i.product, i.quantity) for i in delivered.proof.delivered] == [("cylinder-20-regular", 2)]
    assert (delivered.proof.residual_gas_kg, delivered.proof.cash_collected) == (1.5, 1596)
    assert delivered.proof.HasField("delivered_at")
    fetched = await orders.GetOrder(pb.GetOrderRequest(id=order.id))
    assert (fetched.proof.signature_png, fetched.proof.photo) == (PNG, JPEG)


async def test_list_results_carry_the_proof_without_image_bytes(orders: Orders, customers: Customers) -> None:
    order = await order_on_its_way(orders, customers)
    await orders.CompleteDelivery(complete(order, photo=PNG, photo_content_type="image/png"))

    listed = (await orders.ListOrders(pb.ListOrdersRequest(statuses=[pb.ORDER_STATUS_DELIVERED]))).orders

    assert [o.id for o in listed] == [order.id]
    assert listed[0].proof.recipient_name == "林小姐"
    assert listed[0].proof.photo_content_type == "image/png"
    assert (listed[0].proof.signature_png, listed[0].proof.photo) == (b"", b"")


async def test_completing_twice_with_the_same_request_is_a_no_op(
    orders: Orders, customers: Customers, database: Database
) -> None:
    order = await order_on_its_way(orders, customers)
    first = await orders.CompleteDelivery(complete(order))

    again = await orders.CompleteDelivery(complete(order))

    assert again == first
    assert await count(database, "deliveries") == 1
    assert await count(database, "outbox", "type = 'delivery.completed'") == 1


async def test_concurrent_identical_completions_record_one_delivery(
    orders: Orders, customers: Customers, database: Database
) -> None:
    order = await order_on_its_way(orders, customers)

    replies = await asyncio.gather(*(orders.CompleteDelivery(complete(order), timeout=10) for _ in range(10)))

    assert {reply.version for reply in replies} == {order.version + 1}
    assert await count(database, "deliveries") == 1


async def test_same_request_id_with_another_proof_is_already_exists(orders: Orders, customers: Customers) -> None:
    order = await order_on_its_way(orders, customers)
    await orders.CompleteDelivery(complete(order))

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await orders.CompleteDelivery(complete(order, recipient_name="陳先生"))

    assert raised.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert "request_id" in violations(raised.value)


async def test_another_completion_of_a_delivered_order_is_failed_precondition(
    orders: Orders, customers: Customers
) -> None:
    order = await order_on_its_way(orders, customers)
    await orders.CompleteDelivery(complete(order, key="pod-1"))

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await orders.CompleteDelivery(complete(order, key="pod-2"))

    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "delivered" in (raised.value.details() or "")


async def test_an_order_not_on_its_way_cannot_be_completed(orders: Orders, customers: Customers) -> None:
    customer = await create_customer(customers)
    order = await orders.CreateOrder(create_request(customer.id))

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await orders.CompleteDelivery(complete(order))

    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "pending" in (raised.value.details() or "")
    assert "delivered" in (raised.value.details() or "")


def _timestamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


@pytest.mark.parametrize(
    ("proof_fields", "field"),
    [
        ({"recipient_name": " "}, "proof.recipient_name"),
        ({"signature_png": b""}, "proof.signature_png"),
        ({"signature_png": JPEG}, "proof.signature_png"),
        ({"signature_png": PNG + b"\x00" * (200 * 1024)}, "proof.signature_png"),
        ({"photo": JPEG, "photo_content_type": "image/png"}, "proof.photo"),
        ({"photo": b"GIF89a" + b"\x00" * 10, "photo_content_type": "image/gif"}, "proof.photo_content_type"),
        ({"photo": JPEG + b"\x00" * (2 * 1024 * 1024), "photo_content_type": "image/jpeg"}, "proof.photo"),
        ({"photo_content_type": "image/jpeg"}, "proof.photo_content_type"),
        ({"delivered": []}, "proof.delivered"),
        ({"delivered": items(("cylinder-20-regular", 0))}, "proof.delivered[0].quantity"),
        ({"empties_received": items(("mystery-gas", 1))}, "proof.empties_received[0].product"),
        ({"residual_gas_kg": -0.5}, "proof.residual_gas_kg"),
        ({"residual_gas_kg": float("nan")}, "proof.residual_gas_kg"),
        ({"cash_collected": -1}, "proof.cash_collected"),
        ({"delivered_at": _timestamp(utc_now() + timedelta(days=1))}, "proof.delivered_at"),
    ],
)
async def test_bad_proof_is_invalid_argument_and_the_order_stays_on_its_way(
    orders: Orders, customers: Customers, database: Database, proof_fields: dict[str, Any], field: str
) -> None:
    order = await order_on_its_way(orders, customers)

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await orders.CompleteDelivery(complete(order, **proof_fields))

    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in violations(raised.value), violations(raised.value)
    assert (await orders.GetOrder(pb.GetOrderRequest(id=order.id))).status == pb.ORDER_STATUS_IN_DELIVERY
    assert await count(database, "deliveries") == 0


async def test_completion_records_the_refill_the_forecast_starts_from(
    orders: Orders, customers: Customers, database: Database
) -> None:
    order = await order_on_its_way(orders, customers)
    # 23:30 UTC on 3 May is 07:30 on 4 May in Taipei.
    delivered_at = datetime(2026, 5, 3, 23, 30, tzinfo=UTC)

    await orders.CompleteDelivery(
        complete(
            order, delivered=items(("cylinder-20-regular", 2), ("happy-4", 1)), delivered_at=_timestamp(delivered_at)
        )
    )

    async with database.session() as session:
        row = (
            await session.execute(
                text('SELECT last_delivered_on, kg_delivered FROM "order".customer_refills WHERE customer_id = :id'),
                {"id": order.customer_id},
            )
        ).one()
    assert (row.last_delivered_on.isoformat(), row.kg_delivered) == ("2026-05-04", 44.0)


async def test_failure_at_the_door_records_the_reason(orders: Orders, customers: Customers) -> None:
    order = await order_on_its_way(orders, customers)

    failed = await orders.FailDelivery(
        pb.FailDeliveryRequest(id=order.id, reason="not_home", notes="按門鈴無人應", request_id="visit-1")
    )

    assert failed.status == pb.ORDER_STATUS_FAILED
    assert failed.failure_reason == "not_home"
    assert not failed.HasField("proof")
    repeated = await orders.FailDelivery(
        pb.FailDeliveryRequest(id=order.id, reason="not_home", notes="按門鈴無人應", request_id="visit-1")
    )
    assert repeated == failed


async def test_failure_needs_a_known_reason(orders: Orders, customers: Customers) -> None:
    order = await order_on_its_way(orders, customers)

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await orders.FailDelivery(pb.FailDeliveryRequest(id=order.id, reason="dog"))

    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "reason" in violations(raised.value)


async def test_a_delivered_order_cannot_fail(orders: Orders, customers: Customers) -> None:
    order = await order_on_its_way(orders, customers)
    await orders.CompleteDelivery(complete(order))

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await orders.FailDelivery(pb.FailDeliveryRequest(id=order.id, reason="refused", request_id="late"))

    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_completing_an_assigned_order_starts_and_completes_its_delivery_in_one_request(
    orders: Orders, customers: Customers, database: Database
) -> None:
    order = await assigned_order(orders, customers)

    delivered = await orders.CompleteDelivery(complete(order))

    assert delivered.status == pb.ORDER_STATUS_DELIVERED
    assert delivered.version == order.version + 2
    assert delivered.proof.recipient_name == "林小姐"
    events = await events_after(database, order)
    assert [(kind, version) for kind, version, _ in events] == [
        ("order.delivery_started", order.version + 1),
        ("delivery.completed", order.version + 2),
    ]
    started, completed = events[0][2], events[1][2]
    assert (started["status"], started["previous_status"], started["actor"]) == ("in_delivery", "assigned", "driver01")
    assert (completed["status"], completed["route_id"], completed["cash_collected"]) == ("delivered", "south-am", 1596)


async def test_failing_an_assigned_order_starts_and_fails_its_delivery_in_one_request(
    orders: Orders, customers: Customers, database: Database
) -> None:
    order = await assigned_order(orders, customers)
    request = pb.FailDeliveryRequest(id=order.id, reason="not_home", notes="鐵門拉下", request_id="visit-1", actor="d1")

    failed = await orders.FailDelivery(request)

    assert (failed.status, failed.failure_reason) == (pb.ORDER_STATUS_FAILED, "not_home")
    assert failed.version == order.version + 2
    events = await events_after(database, order)
    assert [(kind, version) for kind, version, _ in events] == [
        ("order.delivery_started", order.version + 1),
        ("delivery.failed", order.version + 2),
    ]
    assert (events[0][2]["previous_status"], events[0][2]["actor"]) == ("assigned", "d1")
    assert (events[1][2]["reason"], events[1][2]["notes"]) == ("not_home", "鐵門拉下")


async def test_retrying_the_visit_of_an_assigned_order_records_nothing_more(
    orders: Orders, customers: Customers, database: Database
) -> None:
    order = await assigned_order(orders, customers)
    first = await orders.CompleteDelivery(complete(order))

    again = await orders.CompleteDelivery(complete(order))

    assert again == first
    assert await count(database, "deliveries") == 1
    assert [kind for kind, _, _ in await events_after(database, order)] == [
        "order.delivery_started",
        "delivery.completed",
    ]


async def test_concurrent_completions_of_an_assigned_order_start_it_once(
    orders: Orders, customers: Customers, database: Database
) -> None:
    order = await assigned_order(orders, customers)

    replies = await asyncio.gather(*(orders.CompleteDelivery(complete(order), timeout=10) for _ in range(10)))

    assert {reply.version for reply in replies} == {order.version + 2}
    assert await count(database, "deliveries") == 1
    assert await count(database, "outbox", "type = 'order.delivery_started'") == 1


async def test_a_refused_completion_leaves_an_assigned_order_assigned(
    orders: Orders, customers: Customers, database: Database
) -> None:
    order = await assigned_order(orders, customers)

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await orders.CompleteDelivery(complete(order, recipient_name=" "))

    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert await orders.GetOrder(pb.GetOrderRequest(id=order.id)) == order
    assert await events_after(database, order) == []
