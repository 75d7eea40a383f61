"""Orders: REST bodies ↔ ``luckygas.order.v1`` messages."""

from __future__ import annotations

import base64
import binascii
from datetime import date

from luckygas.order.v1 import order_pb2 as pb

from services.gateway.mappers.common import timestamp
from services.gateway.schemas.orders import (
    CreditOverrideIn,
    DeliveryIn,
    DueCustomerOut,
    DueList,
    Item,
    OrderCreate,
    OrderItemOut,
    OrderOut,
    ProofOut,
    Window,
)
from services.platform.errors import InvalidArgument

STATUS_NAMES = {
    value: name.removeprefix("ORDER_STATUS_").lower()
    for name, value in pb.OrderStatus.items()
    if value != pb.ORDER_STATUS_UNSPECIFIED
}


STATUS_VALUES = {name: value for value, name in STATUS_NAMES.items()}


def items_in(items: list[Item]) -> list[pb.OrderItemInput]:
    return [pb.OrderItemInput(product=item.product, quantity=item.quantity) for item in items]


def items_out(items: object) -> list[Item]:
    return [Item(product=item.product, quantity=item.quantity) for item in items]  # type: ignore[attr-defined]


def order_out(order: pb.Order) -> OrderOut:
    proof = None
    if order.HasField("proof"):
        p = order.proof
        proof = ProofOut(
            recipient_name=p.recipient_name,
            has_signature=bool(p.signature_png) or bool(p.recipient_name),
            has_photo=bool(p.photo_content_type),
            delivered=items_out(p.delivered),
            empties_received=items_out(p.empties_received),
            residual_gas_kg=p.residual_gas_kg,
            cash_collected=p.cash_collected,
            delivered_at=timestamp(p.delivered_at) if p.HasField("delivered_at") else None,
        )
    override = None
    if order.HasField("credit_override") and order.credit_override.approved_by:
        override = CreditOverrideIn(approved_by=order.credit_override.approved_by, reason=order.credit_override.reason)
    return OrderOut(
        id=order.id,
        number=order.number,
        customer_id=order.customer_id,
        customer_code=order.customer_code,
        customer_zone=order.customer_zone,
        status=STATUS_NAMES.get(order.status, "unknown"),
        scheduled_date=order.scheduled_date,
        window=Window(start=order.window.start, end=order.window.end),
        items=[
            OrderItemOut(product=i.product, quantity=i.quantity, unit_price=i.unit_price, line_total=i.line_total)
            for i in order.items
        ],
        urgent=order.urgent,
        additional=order.additional,
        payment_method=order.payment_method,
        notes=order.notes,
        source=order.source,
        subtotal=order.subtotal,
        urgent_surcharge=order.urgent_surcharge,
        vat=order.vat,
        total=order.total,
        credit_override=override,
        cancel_reason=order.cancel_reason,
        failure_reason=order.failure_reason,
        route_id=order.route_id,
        proof=proof,
        created_at=timestamp(order.created_at),
        updated_at=timestamp(order.updated_at),
        version=order.version,
        created_by=order.created_by,
    )


def decoded_image(value: str, field: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as error:
        raise InvalidArgument.for_field(field, "is not valid base64") from error


def delivery_proof(body: DeliveryIn) -> pb.DeliveryProof:
    return pb.DeliveryProof(
        recipient_name=body.recipient_name,
        signature_png=decoded_image(body.signature_png, "signature_png"),
        photo=decoded_image(body.photo, "photo") if body.photo else b"",
        photo_content_type=body.photo_content_type or "",
        delivered=items_in(body.delivered),
        empties_received=items_in(body.empties_received),
        residual_gas_kg=body.residual_gas_kg,
        cash_collected=body.cash_collected,
    )


def order_input(body: OrderCreate) -> pb.OrderInput:
    built = pb.OrderInput(
        customer_id=body.customer_id,
        scheduled_date=body.scheduled_date.isoformat(),
        window=pb.DeliveryWindow(start=body.window.start, end=body.window.end),
        items=items_in(body.items),
        urgent=body.urgent,
        additional=body.additional,
        payment_method=body.payment_method,
        notes=body.notes,
        source=body.source,
    )
    if body.credit_override is not None:
        built.credit_override.CopyFrom(
            pb.CreditOverride(approved_by=body.credit_override.approved_by, reason=body.credit_override.reason)
        )
    return built


def due_list_out(due_date: date, reply: pb.ListDueResponse) -> DueList:
    return DueList(
        date=due_date,
        customers=[
            DueCustomerOut(
                customer_id=c.customer_id,
                customer_code=c.customer_code,
                short_name=c.short_name,
                zone=c.zone,
                reason=c.reason,
                explanation=c.explanation,
                due_date=c.due_date,
                days_overdue=c.days_overdue,
                slack_days=c.slack_days,
                deferrable=c.deferrable,
                suggested=items_out(c.suggested),
            )
            for c in reply.customers
        ],
    )
