"""Whatever a caller inside the cluster sends the order service, it is refused or answered, never a crash."""

from __future__ import annotations

from luckygas.customer.v1 import customer_pb2_grpc
from luckygas.order.v1 import order_pb2 as pb
from luckygas.order.v1 import order_pb2_grpc

from tests.order.conftest import ORDER_SERVICE
from tests.order.factories import create_customer, create_request, day, items, proof
from tests.platform.grpc_inputs import bad_values_are_named, no_request_crashes, one_field_off


async def test_no_request_crashes_the_order_service(order_server: int) -> None:
    await no_request_crashes(order_server, ORDER_SERVICE)


async def test_one_field_off_in_a_good_request_is_refused_not_a_crash(
    order_server: int, customers: customer_pb2_grpc.CustomerServiceStub, orders: order_pb2_grpc.OrderServiceStub
) -> None:
    customer = await create_customer(customers)
    order = await orders.CreateOrder(create_request(customer.id))
    await one_field_off(
        order_server,
        ORDER_SERVICE,
        {
            "CreateOrder": lambda: create_request(customer.id, items=items(("cylinder-20-regular", 2))),
            "ListOrders": lambda: pb.ListOrdersRequest(customer_id=customer.id, scheduled_date=day(1), zones=["A"]),
            "CompleteDelivery": lambda: pb.CompleteDeliveryRequest(id=order.id, proof=proof(), request_id="fuzz"),
            "ListDue": lambda: pb.ListDueRequest(date=day(1), zones=["A"]),
        },
    )


async def test_a_control_character_or_non_finite_number_is_refused_naming_its_field(order_server: int) -> None:
    await bad_values_are_named(order_server, ORDER_SERVICE)
