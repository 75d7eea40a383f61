"""The order and customer services as the routing service sees them: gRPC clients speaking plain records.

gRPC errors are translated here, at the adapter boundary: a service that does not answer is Unavailable (the
caller may retry); an order that moved on is FailedPrecondition.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import grpc
from luckygas.customer.v1 import customer_pb2 as customer_pb
from luckygas.customer.v1 import customer_pb2_grpc
from luckygas.order.v1 import order_pb2 as order_pb
from luckygas.order.v1 import order_pb2_grpc

from services.platform.downstream import downstream_error
from services.platform.errors import DomainError, InvalidArgument, NotFound

CUSTOMER_SERVICE = customer_pb.DESCRIPTOR.services_by_name["CustomerService"]
ORDER_SERVICE = order_pb.DESCRIPTOR.services_by_name["OrderService"]
PAGE_SIZE = 200
BATCH_SIZE = 500  # the customer service's BatchGetCustomers limit
# Order assignments in flight at once when a plan is published.
ASSIGN_CONCURRENCY = 8
# What a failed order or customer call passes on as this service's own error; any other is Unavailable.
_PASS_ON = (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION)


def _translate(service: str, error: grpc.aio.AioRpcError) -> DomainError:
    return downstream_error(service, error, pass_on=_PASS_ON)


@dataclass(frozen=True)
class OrderLine:
    product: str
    quantity: int


@dataclass(frozen=True)
class OrderInfo:
    id: str
    number: str
    customer_id: str
    customer_code: str
    status: str  # confirmed | assigned | ...
    scheduled_date: str
    window_start: str  # "HH:MM"
    window_end: str
    items: tuple[OrderLine, ...]
    urgent: bool
    route_id: str


@dataclass(frozen=True)
class CustomerInfo:
    id: str
    code: str
    name: str
    address: str
    latitude: float | None
    longitude: float | None
    hourly_windows: tuple[bool, ...]
    vehicle_requirement: str  # car | motorcycle | either
    terminated: bool


def _status_name(status: int) -> str:
    return order_pb.OrderStatus.Name(status).removeprefix("ORDER_STATUS_").lower()  # type: ignore[arg-type]


def to_order(order: order_pb.Order) -> OrderInfo:
    return OrderInfo(
        id=order.id,
        number=order.number,
        customer_id=order.customer_id,
        customer_code=order.customer_code,
        status=_status_name(order.status),
        scheduled_date=order.scheduled_date,
        window_start=order.window.start,
        window_end=order.window.end,
        items=tuple(OrderLine(item.product, item.quantity) for item in order.items),
        urgent=order.urgent,
        route_id=order.route_id,
    )


def to_customer(customer: customer_pb.Customer) -> CustomerInfo:
    fields = customer.fields
    return CustomerInfo(
        id=customer.id,
        code=fields.code,
        name=fields.short_name,
        address=fields.address,
        latitude=fields.latitude if fields.HasField("latitude") else None,
        longitude=fields.longitude if fields.HasField("longitude") else None,
        hourly_windows=tuple(fields.hourly_windows),
        vehicle_requirement=fields.vehicle_requirement or "either",
        terminated=customer.terminated,
    )


class OrderDirectory:
    """Reads confirmed orders and assigns them to routes, through the order service."""

    def __init__(self, channel: grpc.aio.Channel, *, deadline_seconds: float) -> None:
        self._stub = order_pb2_grpc.OrderServiceStub(channel)
        self._deadline = deadline_seconds

    async def list_for_date(self, day: str, statuses: Sequence[str]) -> list[OrderInfo]:
        wanted = [order_pb.OrderStatus.Value(f"ORDER_STATUS_{status.upper()}") for status in statuses]
        orders: list[OrderInfo] = []
        token = ""  # nosec B105 # a page token, empty for the first page
        while True:
            request = order_pb.ListOrdersRequest(
                scheduled_date=day, statuses=wanted, page_size=PAGE_SIZE, page_token=token
            )
            try:
                reply = await self._stub.ListOrders(request, timeout=self._deadline)
            except grpc.aio.AioRpcError as error:
                raise _translate("order", error) from error
            orders += map(to_order, reply.orders)
            token = reply.next_page_token
            if not token:
                return orders

    async def get(self, order_id: str) -> OrderInfo:
        try:
            reply = await self._stub.GetOrder(order_pb.GetOrderRequest(id=order_id), timeout=self._deadline)
        except grpc.aio.AioRpcError as error:
            if error.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                raise NotFound(f"order {order_id} does not exist") from error
            raise _translate("order", error) from error
        return to_order(reply)

    async def assign(self, assignments: Iterable[tuple[str, str]], actor: str) -> None:
        """(order id, route id) pairs; each is idempotent, so a retried publish repeats them harmlessly."""
        limit = asyncio.Semaphore(ASSIGN_CONCURRENCY)

        async def assign_one(order_id: str, route_id: str) -> None:
            request = order_pb.TransitionOrderRequest(
                id=order_id, target=order_pb.ORDER_STATUS_ASSIGNED, route_id=route_id, actor=actor
            )
            async with limit:
                try:
                    await self._stub.TransitionOrder(request, timeout=self._deadline)
                except grpc.aio.AioRpcError as error:
                    raise _translate("order", error) from error

        await asyncio.gather(*(assign_one(order_id, route_id) for order_id, route_id in assignments))


class CustomerDirectory:
    """Reads customers (location, hours, vehicle needs, rest days) from the customer service."""

    def __init__(self, channel: grpc.aio.Channel, *, deadline_seconds: float) -> None:
        self._stub = customer_pb2_grpc.CustomerServiceStub(channel)
        self._deadline = deadline_seconds

    async def get_many(self, customer_ids: Iterable[str], day: str) -> tuple[dict[str, CustomerInfo], set[str]]:
        """The customers found, by id, and the ids of those resting on ``day``."""
        ids = list(dict.fromkeys(customer_ids))
        found: dict[str, CustomerInfo] = {}
        resting: set[str] = set()
        for start in range(0, len(ids), BATCH_SIZE):
            request = customer_pb.BatchGetCustomersRequest(ids=ids[start : start + BATCH_SIZE], resting_on=day)
            try:
                reply = await self._stub.BatchGetCustomers(request, timeout=self._deadline)
            except grpc.aio.AioRpcError as error:
                if error.code() == grpc.StatusCode.INVALID_ARGUMENT:
                    raise InvalidArgument(error.details() or "invalid customer ids") from error
                raise _translate("customer", error) from error
            found.update((customer.id, customer) for customer in map(to_customer, reply.customers))
            resting.update(reply.resting_ids)
        return found, resting
