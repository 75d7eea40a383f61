"""The order service as migration-sync sees it: legacy deliveries imported as historical orders, orders read back
for the legacy tables, and the link between an order and its legacy row. gRPC errors are translated here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, time

import grpc
from luckygas.order.v1 import order_pb2 as pb
from luckygas.order.v1 import order_pb2_grpc

from services.migration.mapping import MappedDelivery, count_by_size
from services.migration.reverse import PlatformDelivery
from services.platform.canonical import RangeSummary
from services.platform.downstream import downstream_error, has_status
from services.platform.products import PRODUCTS

ORDER_SERVICE = pb.DESCRIPTOR.services_by_name["OrderService"]
STATUS_NAMES = {
    pb.ORDER_STATUS_PENDING: "pending",
    # The legacy system has no "confirmed": a confirmed order is still to be delivered, PENDING there.
    pb.ORDER_STATUS_CONFIRMED: "pending",
    pb.ORDER_STATUS_ASSIGNED: "assigned",
    pb.ORDER_STATUS_IN_DELIVERY: "in_delivery",
    pb.ORDER_STATUS_DELIVERED: "delivered",
    pb.ORDER_STATUS_CANCELLED: "cancelled",
    pb.ORDER_STATUS_FAILED: "failed",
}
LEGACY_FAILURE_REASONS = frozenset({"not_home", "refused"})
PAGE_SIZE = 200
MAX_RANGES = 1000  # ChecksumLegacyOrders' limit


@dataclass(frozen=True)
class Imported:
    legacy_id: int
    order_id: str
    outcome: str  # created | updated | unchanged


def to_legacy_order(delivery: MappedDelivery, customer_id: str, zone: str) -> pb.LegacyOrder:
    assert delivery.legacy_id is not None
    empties = count_by_size(delivery.empties)
    return pb.LegacyOrder(
        legacy_id=delivery.legacy_id,
        customer_id=customer_id,
        customer_code=delivery.customer_code,
        customer_zone=zone,
        day=delivery.day.isoformat(),
        time=delivery.time.strftime("%H:%M") if delivery.time is not None else "",
        salesperson=delivery.salesperson[:64],
        status=delivery.status,
        failure_reason=delivery.failure_reason or "",
        items=[pb.OrderItemInput(product=product, quantity=count) for product, count in delivery.items.items()],
        metered=[
            pb.MeteredGas(product=product, tenths_kg=round(kg * 10)) for product, kg in delivery.metered_kg.items()
        ],
        empties=[pb.EmptiesBySize(size_kg=size, count=count) for size, count in sorted(empties.items())],
    )


def to_platform_delivery(order: pb.Order) -> PlatformDelivery:
    """An order as a legacy row sees it: flow products' kg from the delivery proof's residual-free reading is not
    recorded by the platform for orders it took itself, so those carry their cylinders' nominal kg."""
    status = STATUS_NAMES[order.status]
    items: dict[str, int] = {}
    metered: dict[str, float] = {}
    # What was handed over, for a delivered order; what was ordered, otherwise (the order service's canonical rule).
    lines = order.proof.delivered if status == "delivered" and order.proof.delivered else order.items
    for item in lines:
        product = PRODUCTS[item.product]
        if item.product.startswith("flow-"):
            metered[item.product] = metered.get(item.product, 0.0) + float(product.size_kg * item.quantity)
        else:
            items[item.product] = items.get(item.product, 0) + item.quantity
    empties: dict[int, int] = {}
    for empty in order.proof.empties_received:
        size = PRODUCTS[empty.product].size_kg
        empties[size] = empties.get(size, 0) + empty.quantity
    start = order.window.start
    return PlatformDelivery(
        customer_code=order.customer_code,
        day=date.fromisoformat(order.scheduled_date),
        time=time.fromisoformat(start) if start and start != "08:00" else None,
        salesperson=order.created_by[:20],
        status=status,
        failure_reason=order.failure_reason if order.failure_reason in LEGACY_FAILURE_REASONS else "",
        items=items,
        metered_kg=metered,
        empties=empties if status in ("delivered", "failed") else {},
    )


_OUTCOMES = {
    pb.IMPORT_OUTCOME_CREATED: "created",
    pb.IMPORT_OUTCOME_UPDATED: "updated",
    pb.IMPORT_OUTCOME_UNCHANGED: "unchanged",
}


class OrderBook:
    """Orders of the new platform, as migration-sync reads and writes them; each call carries the deadline."""

    def __init__(self, channel: grpc.aio.Channel, *, deadline_seconds: float) -> None:
        self._stub = order_pb2_grpc.OrderServiceStub(channel)
        self._deadline = deadline_seconds

    @property
    def stub(self) -> order_pb2_grpc.OrderServiceStub:
        return self._stub

    async def import_legacy(self, orders: Sequence[pb.LegacyOrder]) -> list[Imported]:
        if not orders:
            return []
        try:
            reply = await self._stub.ImportLegacyOrders(
                pb.ImportLegacyOrdersRequest(orders=list(orders)), timeout=self._deadline
            )
        except grpc.aio.AioRpcError as error:
            raise downstream_error("order", error, pass_on={grpc.StatusCode.INVALID_ARGUMENT}) from error
        return [Imported(row.legacy_id, row.order_id, _OUTCOMES[row.outcome]) for row in reply.orders]

    async def get(self, order_id: str) -> pb.Order | None:
        try:
            order: pb.Order = await self._stub.GetOrder(pb.GetOrderRequest(id=order_id), timeout=self._deadline)
        except grpc.aio.AioRpcError as error:
            if has_status(error, grpc.StatusCode.NOT_FOUND):
                return None
            raise downstream_error("order", error) from error
        return order

    async def of_customer(self, customer_id: str) -> list[pb.Order]:
        """Every order of a customer (paging through ListOrders)."""
        orders: list[pb.Order] = []
        token = ""  # nosec B105 # a page token, empty for the first page
        while True:
            try:
                reply = await self._stub.ListOrders(
                    pb.ListOrdersRequest(customer_id=customer_id, page_size=PAGE_SIZE, page_token=token),
                    timeout=self._deadline,
                )
            except grpc.aio.AioRpcError as error:
                raise downstream_error("order", error) from error
            orders.extend(reply.orders)
            token = reply.next_page_token
            if not token:
                return orders

    async def link(self, order_id: str, legacy_id: int) -> None:
        try:
            await self._stub.LinkLegacyOrder(
                pb.LinkLegacyOrderRequest(order_id=order_id, legacy_id=legacy_id), timeout=self._deadline
            )
        except grpc.aio.AioRpcError as error:
            raise downstream_error("order", error, pass_on={grpc.StatusCode.FAILED_PRECONDITION}) from error


class OrderServiceSide:
    """The order service's legacy-keyed orders as one side of a reconcile (services/migration/reconcile.py)."""

    # 序號 of the legacy table: a bigserial, far below this.
    KEY_SPAN = (0, 2**40)
    PAGE = 10_000  # the most ListCanonicalLegacyOrders returns at once

    def __init__(self, stub: order_pb2_grpc.OrderServiceStub) -> None:
        self.stub = stub

    async def key_span(self) -> tuple[int, int] | None:
        return self.KEY_SPAN

    async def checksum(self, ranges: Sequence[tuple[int, int]]) -> list[RangeSummary]:
        try:
            reply = await self.stub.ChecksumLegacyOrders(
                pb.ChecksumLegacyOrdersRequest(ranges=[pb.KeyRange(start=start, end=end) for start, end in ranges])
            )
        except grpc.aio.AioRpcError as error:
            raise downstream_error("order", error) from error
        return [
            RangeSummary(summary.range.start, summary.range.end, summary.count, int(summary.digest_sum))
            for summary in reply.checksums
        ]

    async def rows(self, start: int, end: int, limit: int) -> list[tuple[int, str]]:
        rows: list[tuple[int, str]] = []
        while len(rows) < limit:
            try:
                reply = await self.stub.ListCanonicalLegacyOrders(
                    pb.ListCanonicalLegacyOrdersRequest(
                        range=pb.KeyRange(start=start, end=end), limit=min(self.PAGE, limit - len(rows))
                    )
                )
            except grpc.aio.AioRpcError as error:
                raise downstream_error("order", error) from error
            rows.extend((row.key, row.canonical) for row in reply.rows)
            if not reply.truncated or not reply.rows:
                break
            start = reply.rows[-1].key + 1
        return rows


async def legacy_digests(stub: order_pb2_grpc.OrderServiceStub, legacy_ids: Sequence[int]) -> dict[int, int]:
    """The digest of each legacy-keyed order among ``legacy_ids`` (as the order service renders it); an id
    without an order is absent. One range per id, at most 1,000 a call."""
    found: dict[int, int] = {}
    ids = sorted(set(legacy_ids))
    for start in range(0, len(ids), MAX_RANGES):
        side = OrderServiceSide(stub)
        for summary in await side.checksum([(key, key + 1) for key in ids[start : start + MAX_RANGES]]):
            if summary.count:
                found[summary.start] = summary.digest_sum
    return found


async def legacy_text(stub: order_pb2_grpc.OrderServiceStub, legacy_id: int) -> str | None:
    """The canonical text of the order with this legacy id, as the order service renders it; None if none."""
    rows = await OrderServiceSide(stub).rows(legacy_id, legacy_id + 1, 1)
    return rows[0][1] if rows else None
