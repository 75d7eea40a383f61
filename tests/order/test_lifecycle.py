"""The lifecycle graph: random transition sequences never leave it, and every illegal move is refused.

Once on the pure module (many sequences, fast) and once through the real service (fewer, each an RPC chain).
"""

from __future__ import annotations

import grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from luckygas.customer.v1 import customer_pb2_grpc
from luckygas.order.v1 import order_pb2 as pb
from luckygas.order.v1 import order_pb2_grpc

from services.order.lifecycle import FINAL, OPEN, TRANSITIONS, OrderStatus, is_move
from services.platform.errors import FailedPrecondition
from tests.order.factories import create_customer, create_request, proof, request_id

# The graph of docs/domain.md#order-lifecycle, written out again independently of the code under test.
EDGES = {
    ("pending", "confirmed"),
    ("confirmed", "assigned"),
    ("assigned", "in_delivery"),
    ("in_delivery", "delivered"),
    ("pending", "cancelled"),
    ("confirmed", "cancelled"),
    ("assigned", "cancelled"),
    ("in_delivery", "failed"),
}
STATUSES = [status.value for status in OrderStatus]


def test_the_graph_is_domain_md_s() -> None:
    edges = {(source.value, target.value) for source, targets in TRANSITIONS.items() for target in targets}
    assert edges == EDGES
    assert {status.value for status in FINAL} == {"delivered", "cancelled", "failed"}
    assert {status.value for status in OPEN} == {"pending", "confirmed", "assigned", "in_delivery"}


@given(st.lists(st.sampled_from(STATUSES), max_size=20))
def test_random_requests_never_leave_the_graph(requests: list[str]) -> None:
    current = OrderStatus.PENDING
    for requested in requests:
        refusal: FailedPrecondition | None = None
        try:
            moved = is_move(current, OrderStatus(requested))
        except FailedPrecondition as error:
            refusal = error
        if refusal is not None:
            assert (current.value, requested) not in EDGES
            assert requested != current.value
            assert current.value in refusal.message
            assert requested in refusal.message
            continue
        if moved:
            assert (current.value, requested) in EDGES
            current = OrderStatus(requested)
        else:
            assert requested == current.value  # asking for the current state is not a move
    assert current.value in STATUSES


OPERATIONS = ["confirm", "assign", "start", "cancel", "deliver", "fail"]
TARGET = {
    "confirm": "confirmed",
    "assign": "assigned",
    "start": "in_delivery",
    "cancel": "cancelled",
    "deliver": "delivered",
    "fail": "failed",
}
PROTO_STATUS = {name.removeprefix("ORDER_STATUS_").lower(): value for name, value in pb.OrderStatus.items()}


async def _apply(orders: order_pb2_grpc.OrderServiceStub, order_id: str, operation: str) -> pb.Order:
    if operation == "deliver":
        return await orders.CompleteDelivery(
            pb.CompleteDeliveryRequest(id=order_id, proof=proof(), request_id=request_id(), actor="driver01")
        )
    if operation == "fail":
        return await orders.FailDelivery(
            pb.FailDeliveryRequest(id=order_id, reason="not_home", request_id=request_id(), actor="driver01")
        )
    target = PROTO_STATUS[TARGET[operation]]
    return await orders.TransitionOrder(
        pb.TransitionOrderRequest(id=order_id, target=target, reason="客戶取消", route_id="north-am", actor="office")
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations=st.lists(st.sampled_from(OPERATIONS), min_size=1, max_size=8))
async def test_random_operation_sequences_through_the_service_follow_the_graph(
    orders: order_pb2_grpc.OrderServiceStub,
    customers: customer_pb2_grpc.CustomerServiceStub,
    operations: list[str],
) -> None:
    customer = await create_customer(customers)
    order = await orders.CreateOrder(create_request(customer.id))
    expected, version = "pending", order.version
    for operation in operations:
        wanted = TARGET[operation]
        # Recording the visit of an assigned order first starts its delivery: two moves, two versions.
        set_off = expected == "assigned" and operation in ("deliver", "fail")
        legal = (expected, wanted) in EDGES or set_off
        # Asking again for the state an order is in returns it unchanged; a second visit record is refused.
        repeat = wanted == expected and operation not in ("deliver", "fail")
        refusal: grpc.aio.AioRpcError | None = None
        try:
            reply = await _apply(orders, order.id, operation)
        except grpc.aio.AioRpcError as error:
            refusal = error
        if refusal is not None:
            assert refusal.code() == grpc.StatusCode.FAILED_PRECONDITION, refusal.details()
            assert not legal
            assert not repeat
            assert expected in (refusal.details() or "")
            continue
        assert legal or repeat, f"{expected} → {wanted} was allowed"
        assert reply.status == PROTO_STATUS[wanted]
        assert reply.version == (version if repeat else version + 2 if set_off else version + 1)
        expected, version = wanted, reply.version
    final = await orders.GetOrder(pb.GetOrderRequest(id=order.id))
    assert final.status == PROTO_STATUS[expected]
