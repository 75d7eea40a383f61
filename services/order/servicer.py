"""The gRPC transport of the order service: proto in, service call, proto out. No SQL here."""

from __future__ import annotations

from collections.abc import Callable

import grpc
from luckygas.order.v1 import order_pb2 as pb
from luckygas.order.v1 import order_pb2_grpc

from services.order.deliveries import DeliveryService
from services.order.due import DueService
from services.order.forecast import DueCustomer
from services.order.legacy_orders import LegacyOrderService
from services.order.lifecycle import OrderStatus
from services.order.price_lists import PriceLists
from services.order.schemas import (
    CreditOverride,
    DeliveryProof,
    ItemInput,
    KeyRange,
    LegacyOrderInput,
    OrderFilter,
    OrderInput,
    OrderRecord,
    PriceList,
)
from services.order.service import OrderService
from services.platform.errors import InvalidArgument
from services.platform.proto_values import datetime_field, optional_timestamp, parse_date, parse_uuid, timestamp

STATUS_TO_PROTO: dict[OrderStatus, pb.OrderStatus.ValueType] = {
    OrderStatus.PENDING: pb.ORDER_STATUS_PENDING,
    OrderStatus.CONFIRMED: pb.ORDER_STATUS_CONFIRMED,
    OrderStatus.ASSIGNED: pb.ORDER_STATUS_ASSIGNED,
    OrderStatus.IN_DELIVERY: pb.ORDER_STATUS_IN_DELIVERY,
    OrderStatus.DELIVERED: pb.ORDER_STATUS_DELIVERED,
    OrderStatus.CANCELLED: pb.ORDER_STATUS_CANCELLED,
    OrderStatus.FAILED: pb.ORDER_STATUS_FAILED,
}
STATUS_FROM_PROTO: dict[int, OrderStatus] = {value: status for status, value in STATUS_TO_PROTO.items()}


def _items_from_proto(items: object) -> tuple[ItemInput, ...]:
    return tuple(ItemInput(item.product, item.quantity) for item in items)  # type: ignore[attr-defined]


def _items_to_proto(items: tuple[ItemInput, ...]) -> list[pb.OrderItemInput]:
    return [pb.OrderItemInput(product=item.product, quantity=item.quantity) for item in items]


def input_from_proto(message: pb.OrderInput) -> OrderInput:
    override = None
    if message.HasField("credit_override") and (message.credit_override.approved_by or message.credit_override.reason):
        override = CreditOverride(message.credit_override.approved_by, message.credit_override.reason)
    return OrderInput(
        customer_id=message.customer_id,
        scheduled_date=message.scheduled_date,
        window_start=message.window.start,
        window_end=message.window.end,
        items=_items_from_proto(message.items),
        urgent=message.urgent,
        additional=message.additional,
        payment_method=message.payment_method,
        notes=message.notes,
        credit_override=override,
        source=message.source,
    )


def proof_from_proto(message: pb.DeliveryProof) -> DeliveryProof:
    return DeliveryProof(
        recipient_name=message.recipient_name,
        signature_png=message.signature_png,
        photo=message.photo,
        photo_content_type=message.photo_content_type,
        delivered=_items_from_proto(message.delivered),
        empties_received=_items_from_proto(message.empties_received),
        residual_gas_kg=message.residual_gas_kg,
        cash_collected=message.cash_collected,
        delivered_at=datetime_field(message, "delivered_at"),
    )


def proof_to_proto(proof: DeliveryProof) -> pb.DeliveryProof:
    return pb.DeliveryProof(
        recipient_name=proof.recipient_name,
        signature_png=proof.signature_png,
        photo=proof.photo,
        photo_content_type=proof.photo_content_type,
        delivered=_items_to_proto(proof.delivered),
        empties_received=_items_to_proto(proof.empties_received),
        residual_gas_kg=proof.residual_gas_kg,
        cash_collected=proof.cash_collected,
        delivered_at=optional_timestamp(proof.delivered_at),
    )


def order_to_proto(record: OrderRecord) -> pb.Order:
    return pb.Order(
        id=str(record.id),
        number=record.number,
        customer_id=str(record.customer_id),
        customer_code=record.customer_code,
        customer_zone=record.customer_zone,
        status=STATUS_TO_PROTO[record.status],
        scheduled_date=record.scheduled_date.isoformat(),
        window=pb.DeliveryWindow(start=f"{record.window_start:%H:%M}", end=f"{record.window_end:%H:%M}"),
        items=[
            pb.OrderItem(
                product=line.product, quantity=line.quantity, unit_price=line.unit_price, line_total=line.line_total
            )
            for line in record.items
        ],
        urgent=record.urgent,
        additional=record.additional,
        payment_method=record.payment_method,
        notes=record.notes,
        source=record.source,
        subtotal=record.subtotal,
        urgent_surcharge=record.urgent_surcharge,
        vat=record.vat,
        total=record.total,
        credit_override=(
            pb.CreditOverride(approved_by=record.credit_override.approved_by, reason=record.credit_override.reason)
            if record.credit_override
            else None
        ),
        cancel_reason=record.cancel_reason,
        failure_reason=record.failure_reason,
        route_id=record.route_id,
        proof=proof_to_proto(record.proof) if record.proof else None,
        created_at=timestamp(record.created_at),
        updated_at=timestamp(record.updated_at),
        version=record.version,
        created_by=record.created_by,
        legacy_id=record.legacy_id or 0,
    )


def due_to_proto(entry: DueCustomer) -> pb.DueCustomer:
    return pb.DueCustomer(
        customer_id=str(entry.customer.id),
        customer_code=entry.customer.code,
        short_name=entry.customer.short_name,
        zone=entry.customer.zone,
        reason=entry.reason,
        explanation=entry.explanation,
        due_date=entry.due_date.isoformat(),
        days_overdue=entry.days_overdue,
        slack_days=entry.slack_days,
        deferrable=entry.deferrable,
        suggested=_items_to_proto(entry.suggested),
    )


def price_list_to_proto(price_list: PriceList) -> pb.PriceList:
    return pb.PriceList(
        effective_from=price_list.effective_from.isoformat(),
        prices=[
            pb.Price(product=product, unit_price=entry.unit_price, deposit=entry.deposit, unit=entry.unit)
            for product, entry in sorted(price_list.prices.items())
        ],
        urgent_surcharge=price_list.urgent_surcharge,
    )


IMPORT_OUTCOMES: dict[str, pb.ImportOutcome.ValueType] = {
    "created": pb.IMPORT_OUTCOME_CREATED,
    "updated": pb.IMPORT_OUTCOME_UPDATED,
    "unchanged": pb.IMPORT_OUTCOME_UNCHANGED,
}


def legacy_order_from_proto(message: pb.LegacyOrder) -> LegacyOrderInput:
    return LegacyOrderInput(
        legacy_id=message.legacy_id,
        customer_id=message.customer_id,
        customer_code=message.customer_code,
        customer_zone=message.customer_zone,
        day=message.day,
        time=message.time,
        salesperson=message.salesperson,
        status=message.status,
        failure_reason=message.failure_reason,
        items=_items_from_proto(message.items),
        metered_tenths=tuple((entry.product, entry.tenths_kg) for entry in message.metered),
        empties_by_size=tuple((entry.size_kg, entry.count) for entry in message.empties),
        payment_method=message.payment_method,
    )


def _key_range(message: pb.KeyRange) -> KeyRange:
    return KeyRange(message.start, message.end)


def _status(value: int, field: str) -> OrderStatus:
    status = STATUS_FROM_PROTO.get(value)
    if status is None:
        raise InvalidArgument.for_field(field, f"{value} is not an order status")
    return status


class OrderServicer(order_pb2_grpc.OrderServiceServicer):
    def __init__(
        self,
        orders: OrderService,
        deliveries: DeliveryService,
        due: DueService,
        price_lists: PriceLists,
        legacy: LegacyOrderService,
    ) -> None:
        self.orders = orders
        self.price_lists = price_lists
        self.deliveries = deliveries
        self.due = due
        self.legacy = legacy

    async def CreateOrder(self, request: pb.CreateOrderRequest, context: grpc.aio.ServicerContext) -> pb.Order:
        record = await self.orders.create(input_from_proto(request.order), request.request_id, request.actor)
        return order_to_proto(record)

    async def GetOrder(self, request: pb.GetOrderRequest, context: grpc.aio.ServicerContext) -> pb.Order:
        if request.WhichOneof("key") == "number":
            record = await self.orders.get_by_number(request.number)
        else:
            record = await self.orders.get(request.id)
        return order_to_proto(record)

    async def ListOrders(
        self, request: pb.ListOrdersRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListOrdersResponse:
        search = OrderFilter(
            scheduled_date=None if not request.scheduled_date else parse_date(request.scheduled_date, "scheduled_date"),
            statuses=tuple(_status(value, "statuses") for value in request.statuses),
            zones=tuple(request.zones),
            customer_id=(
                parse_uuid(request.customer_id, "customer_id", "a customer id") if request.customer_id else None
            ),
        )
        page = await self.orders.search(search, request.page_size, request.page_token)
        return pb.ListOrdersResponse(
            orders=[order_to_proto(record) for record in page.orders], next_page_token=page.next_page_token
        )

    async def TransitionOrder(self, request: pb.TransitionOrderRequest, context: grpc.aio.ServicerContext) -> pb.Order:
        record = await self.orders.transition(
            request.id,
            STATUS_FROM_PROTO.get(request.target),
            reason=request.reason,
            route_id=request.route_id,
            actor=request.actor,
        )
        return order_to_proto(record)

    async def CompleteDelivery(
        self, request: pb.CompleteDeliveryRequest, context: grpc.aio.ServicerContext
    ) -> pb.Order:
        record = await self.deliveries.complete(
            request.id, proof_from_proto(request.proof), request.request_id, request.actor
        )
        return order_to_proto(record)

    async def FailDelivery(self, request: pb.FailDeliveryRequest, context: grpc.aio.ServicerContext) -> pb.Order:
        record = await self.deliveries.fail(
            request.id, request.reason, request.notes, request.request_id, request.actor
        )
        return order_to_proto(record)

    async def ListDue(self, request: pb.ListDueRequest, context: grpc.aio.ServicerContext) -> pb.ListDueResponse:
        entries = await self.due.list_due(request.date, list(request.zones))
        return pb.ListDueResponse(customers=[due_to_proto(entry) for entry in entries])

    async def CreateOrdersFromDue(
        self, request: pb.CreateOrdersFromDueRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateOrdersFromDueResponse:
        orders, skipped = await self.due.create_orders(
            request.date, list(request.customer_ids), request.request_id, request.actor
        )
        return pb.CreateOrdersFromDueResponse(orders=[order_to_proto(record) for record in orders], skipped=skipped)

    async def GetPriceList(self, request: pb.GetPriceListRequest, context: grpc.aio.ServicerContext) -> pb.PriceList:
        on = parse_date(request.date, "date") if request.date else self.orders.today()
        return price_list_to_proto(await self.price_lists.on(on))

    async def ImportLegacyOrders(
        self, request: pb.ImportLegacyOrdersRequest, context: grpc.aio.ServicerContext
    ) -> pb.ImportLegacyOrdersResponse:
        imported = await self.legacy.import_orders([legacy_order_from_proto(order) for order in request.orders])
        return pb.ImportLegacyOrdersResponse(
            orders=[
                pb.ImportedOrder(
                    legacy_id=entry.legacy_id, order_id=str(entry.order_id), outcome=IMPORT_OUTCOMES[entry.outcome]
                )
                for entry in imported
            ]
        )

    async def LinkLegacyOrder(self, request: pb.LinkLegacyOrderRequest, context: grpc.aio.ServicerContext) -> pb.Order:
        return order_to_proto(await self.legacy.link(request.order_id, request.legacy_id))

    async def ChecksumLegacyOrders(
        self, request: pb.ChecksumLegacyOrdersRequest, context: grpc.aio.ServicerContext
    ) -> pb.ChecksumLegacyOrdersResponse:
        checksums = await self.legacy.checksums([_key_range(key_range) for key_range in request.ranges])
        return pb.ChecksumLegacyOrdersResponse(
            checksums=[
                pb.RangeChecksum(
                    range=pb.KeyRange(start=entry.range.start, end=entry.range.end),
                    count=entry.count,
                    digest_sum=str(entry.digest_sum),
                )
                for entry in checksums
            ]
        )

    async def ListCanonicalLegacyOrders(
        self, request: pb.ListCanonicalLegacyOrdersRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListCanonicalLegacyOrdersResponse:
        found = await self.legacy.canonical(_key_range(request.range), request.limit)
        return pb.ListCanonicalLegacyOrdersResponse(
            rows=[pb.CanonicalRow(key=key, canonical=canonical) for key, canonical in found.rows],
            truncated=found.truncated,
        )


def registrar(
    orders: OrderService,
    deliveries: DeliveryService,
    due: DueService,
    price_lists: PriceLists,
    legacy: LegacyOrderService,
) -> Callable[[grpc.aio.Server], None]:
    def register(server: grpc.aio.Server) -> None:
        order_pb2_grpc.add_OrderServiceServicer_to_server(
            OrderServicer(orders, deliveries, due, price_lists, legacy), server
        )

    return register


SERVICE_NAME = pb.DESCRIPTOR.services_by_name["OrderService"].full_name
