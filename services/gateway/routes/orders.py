"""``/api/v1/orders``: taking orders, moving them along their lifecycle, deliveries, the refill list."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, date, datetime
from typing import Annotated

import grpc
from fastapi import APIRouter, Depends, Header, Query, Response, status
from google.protobuf.timestamp_pb2 import Timestamp
from luckygas.order.v1 import order_pb2 as pb
from luckygas.routing.v1 import routing_pb2 as routing_pb
from pydantic import BaseModel, Field

from services.gateway.context import GatewayContext, get_context
from services.gateway.schemas import Base64, Strict, Text
from services.gateway.security import CUSTOMER, DISPATCHER, DRIVER, Allow
from services.gateway.tokens import AccessClaims
from services.platform.errors import InvalidArgument, NotFound

router = APIRouter(prefix="/api/v1/orders", tags=["orders"])

Context = Annotated[GatewayContext, Depends(get_context)]
Office = Annotated[AccessClaims, Depends(Allow(DISPATCHER))]
Readers = Annotated[AccessClaims, Depends(Allow(DISPATCHER, CUSTOMER))]
Field_ = Annotated[AccessClaims, Depends(Allow(DISPATCHER, DRIVER))]
IdempotencyKey = Annotated[str, Header(min_length=1, max_length=100, description="makes a retried create safe")]

STATUS_NAMES = {
    value: name.removeprefix("ORDER_STATUS_").lower()
    for name, value in pb.OrderStatus.items()
    if value != pb.ORDER_STATUS_UNSPECIFIED
}
STATUS_VALUES = {name: value for value, name in STATUS_NAMES.items()}


class Window(Strict):
    start: str = Field(examples=["09:00"], description="HH:MM, Asia/Taipei")
    end: str = Field(examples=["12:00"])


class Item(Strict):
    product: str = Field(examples=["cylinder-20-regular"])
    quantity: int = Field(examples=[2])


class CreditOverrideIn(Strict):
    approved_by: str = Field(max_length=64)
    reason: Text


class OrderCreate(Strict):
    customer_id: str
    scheduled_date: date
    window: Window
    items: list[Item] = Field(max_length=50)
    urgent: bool = False
    additional: bool = Field(False, description="a second open order for the customer that day")
    payment_method: str = Field(examples=["cash"], description="cash | monthly")
    notes: Text = ""
    credit_override: CreditOverrideIn | None = None
    source: str = Field("call_in", description="call_in | forecast | alert | overdue")


class OrderItemOut(BaseModel):
    product: str
    quantity: int
    unit_price: int
    line_total: int


class ProofOut(BaseModel):
    recipient_name: str
    has_signature: bool
    has_photo: bool
    delivered: list[Item]
    empties_received: list[Item]
    residual_gas_kg: float
    cash_collected: int
    delivered_at: datetime | None


class OrderOut(BaseModel):
    id: str
    number: str
    customer_id: str
    customer_code: str
    customer_zone: str
    status: str
    scheduled_date: str
    window: Window
    items: list[OrderItemOut]
    urgent: bool
    additional: bool
    payment_method: str
    notes: str
    source: str
    subtotal: int
    urgent_surcharge: int
    vat: int
    total: int
    credit_override: CreditOverrideIn | None
    cancel_reason: str
    failure_reason: str
    route_id: str
    proof: ProofOut | None
    created_at: datetime
    updated_at: datetime
    version: int
    created_by: str


class OrderPage(BaseModel):
    items: list[OrderOut]
    next_page_token: str | None


class Cancellation(Strict):
    reason: Text = Field(min_length=1)


class Assignment(Strict):
    route_id: str = Field(min_length=1, max_length=100)


class DeliveryIn(Strict):
    recipient_name: str = Field(min_length=1, max_length=100)
    signature_png: Base64 = Field(description="base64 PNG of the recipient's signature")
    photo: Base64 | None = Field(None, description="base64 JPEG or PNG, optional")
    photo_content_type: str | None = Field(None, examples=["image/jpeg"])
    delivered: list[Item]
    empties_received: list[Item] = Field(default_factory=list)
    residual_gas_kg: float = 0.0
    cash_collected: int = 0


class DeliveryFailure(Strict):
    reason: str = Field(description="not_home | refused | wrong_address")
    notes: Text = ""


class DueCustomerOut(BaseModel):
    customer_id: str
    customer_code: str
    short_name: str
    zone: str
    reason: str
    explanation: str
    due_date: str
    days_overdue: int
    slack_days: int
    deferrable: bool
    suggested: list[Item]


class DueList(BaseModel):
    date: date
    customers: list[DueCustomerOut]


class DueOrdersCreate(Strict):
    date: date
    customer_ids: list[str] = Field(min_length=1, max_length=500)


class DueOrdersCreated(BaseModel):
    orders: list[OrderOut]
    skipped: list[str]


def _items(items: list[Item]) -> list[pb.OrderItemInput]:
    return [pb.OrderItemInput(product=item.product, quantity=item.quantity) for item in items]


def _items_out(items: object) -> list[Item]:
    return [Item(product=item.product, quantity=item.quantity) for item in items]  # type: ignore[attr-defined]


def _time(stamp: Timestamp) -> datetime:
    return stamp.ToDatetime(tzinfo=UTC)


def to_out(order: pb.Order) -> OrderOut:
    proof = None
    if order.HasField("proof"):
        p = order.proof
        proof = ProofOut(
            recipient_name=p.recipient_name,
            has_signature=bool(p.signature_png) or bool(p.recipient_name),
            has_photo=bool(p.photo_content_type),
            delivered=_items_out(p.delivered),
            empties_received=_items_out(p.empties_received),
            residual_gas_kg=p.residual_gas_kg,
            cash_collected=p.cash_collected,
            delivered_at=_time(p.delivered_at) if p.HasField("delivered_at") else None,
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
        created_at=_time(order.created_at),
        updated_at=_time(order.updated_at),
        version=order.version,
        created_by=order.created_by,
    )


def _decode_image(value: str, field: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as error:
        raise InvalidArgument.for_field(field, "is not valid base64") from error


def delivery_proof(body: DeliveryIn) -> pb.DeliveryProof:
    return pb.DeliveryProof(
        recipient_name=body.recipient_name,
        signature_png=_decode_image(body.signature_png, "signature_png"),
        photo=_decode_image(body.photo, "photo") if body.photo else b"",
        photo_content_type=body.photo_content_type or "",
        delivered=_items(body.delivered),
        empties_received=_items(body.empties_received),
        residual_gas_kg=body.residual_gas_kg,
        cash_collected=body.cash_collected,
    )


def _visible_to(claims: AccessClaims, order: pb.Order) -> pb.Order:
    """Customers see only their own orders; a foreign order looks exactly like a missing one."""
    if claims.role == CUSTOMER and order.customer_code != claims.customer_code:
        raise NotFound(f"order {order.id} does not exist")
    return order


@router.post("", status_code=status.HTTP_201_CREATED, response_model=OrderOut)
async def create_order(
    body: OrderCreate, context: Context, claims: Office, response: Response, idempotency_key: IdempotencyKey
) -> OrderOut:
    """Take an order. The Idempotency-Key header is required: a retry with the same key and body returns
    the same order; the same key with another body is 409."""
    order_input = pb.OrderInput(
        customer_id=body.customer_id,
        scheduled_date=body.scheduled_date.isoformat(),
        window=pb.DeliveryWindow(start=body.window.start, end=body.window.end),
        items=_items(body.items),
        urgent=body.urgent,
        additional=body.additional,
        payment_method=body.payment_method,
        notes=body.notes,
        source=body.source,
    )
    if body.credit_override is not None:
        order_input.credit_override.CopyFrom(
            pb.CreditOverride(approved_by=body.credit_override.approved_by, reason=body.credit_override.reason)
        )
    created = await context.orders.CreateOrder(
        pb.CreateOrderRequest(order=order_input, request_id=idempotency_key, actor=claims.username)
    )
    response.headers["Location"] = f"{router.prefix}/{created.id}"
    return to_out(created)


@router.get("", response_model=OrderPage)
async def list_orders(
    context: Context,
    claims: Office,
    scheduled_date: Annotated[date | None, Query(alias="date")] = None,
    order_status: Annotated[list[str] | None, Query(alias="status")] = None,
    zone: Annotated[list[str] | None, Query()] = None,
    customer_id: Annotated[str, Query(max_length=64)] = "",
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
    page_token: Annotated[str, Query(max_length=500)] = "",
) -> OrderPage:
    unknown = [name for name in order_status or [] if name not in STATUS_VALUES]
    if unknown:
        raise InvalidArgument.for_field("status", f"unknown: {', '.join(unknown)}; one of {', '.join(STATUS_VALUES)}")
    page = await context.orders.ListOrders(
        pb.ListOrdersRequest(
            scheduled_date=scheduled_date.isoformat() if scheduled_date else "",
            statuses=[STATUS_VALUES[name] for name in order_status or []],
            zones=zone or [],
            customer_id=customer_id,
            page_size=page_size,
            page_token=page_token,
        )
    )
    return OrderPage(items=[to_out(o) for o in page.orders], next_page_token=page.next_page_token or None)


@router.get("/due", response_model=DueList)
async def due_list(
    context: Context,
    claims: Office,
    due_date: Annotated[date, Query(alias="date")],
    zone: Annotated[list[str] | None, Query()] = None,
) -> DueList:
    """The "to deliver" list: customers due for a refill on the date, with why and what to bring."""
    reply = await context.orders.ListDue(pb.ListDueRequest(date=due_date.isoformat(), zones=zone or []))
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
                suggested=_items_out(c.suggested),
            )
            for c in reply.customers
        ],
    )


@router.post("/due/orders", status_code=status.HTTP_201_CREATED, response_model=DueOrdersCreated)
async def create_due_orders(
    body: DueOrdersCreate, context: Context, claims: Office, idempotency_key: IdempotencyKey
) -> DueOrdersCreated:
    """Create pending orders for chosen due customers; repeating the call with the same key changes nothing."""
    reply = await context.orders.CreateOrdersFromDue(
        pb.CreateOrdersFromDueRequest(
            date=body.date.isoformat(),
            customer_ids=body.customer_ids,
            request_id=idempotency_key,
            actor=claims.username,
        )
    )
    return DueOrdersCreated(orders=[to_out(o) for o in reply.orders], skipped=list(reply.skipped))


@router.get("/{order_id}", response_model=OrderOut)
async def get_order(order_id: str, context: Context, claims: Readers) -> OrderOut:
    return to_out(_visible_to(claims, await context.orders.GetOrder(pb.GetOrderRequest(id=order_id))))


async def _transition(
    context: GatewayContext, claims: AccessClaims, order_id: str, target: int, *, reason: str = "", route_id: str = ""
) -> OrderOut:
    order = await context.orders.TransitionOrder(
        pb.TransitionOrderRequest(id=order_id, target=target, reason=reason, route_id=route_id, actor=claims.username)
    )
    return to_out(order)


@router.post("/{order_id}/confirm", response_model=OrderOut)
async def confirm_order(order_id: str, context: Context, claims: Office) -> OrderOut:
    return await _transition(context, claims, order_id, pb.ORDER_STATUS_CONFIRMED)


@router.post("/{order_id}/cancel", response_model=OrderOut)
async def cancel_order(order_id: str, body: Cancellation, context: Context, claims: Office) -> OrderOut:
    return await _transition(context, claims, order_id, pb.ORDER_STATUS_CANCELLED, reason=body.reason)


@router.post("/{order_id}/assign", response_model=OrderOut)
async def assign_order(order_id: str, body: Assignment, context: Context, claims: Office) -> OrderOut:
    """Put a confirmed order on a route (the routing service will do this when it plans a day)."""
    return await _transition(context, claims, order_id, pb.ORDER_STATUS_ASSIGNED, route_id=body.route_id)


async def _in_the_field(context: GatewayContext, claims: AccessClaims, order_id: str) -> None:
    """A driver acts only on orders of their own published route (the route of the order's date, so an offline
    backlog of an earlier day still syncs); another driver's order looks like a missing one. The office acts on any."""
    if claims.role != DRIVER:
        return
    order = await context.orders.GetOrder(pb.GetOrderRequest(id=order_id))
    try:
        route = await context.routing.GetDriverRoute(
            routing_pb.GetDriverRouteRequest(driver=claims.username, date=order.scheduled_date)
        )
    except grpc.aio.AioRpcError as error:
        if error.code() != grpc.StatusCode.NOT_FOUND:  # no published route of theirs that day
            raise
        route = None
    if route is None or all(stop.order_id != order_id for stop in route.stops):
        raise NotFound(f"order {order_id} does not exist")


@router.post("/{order_id}/start-delivery", response_model=OrderOut)
async def start_delivery(order_id: str, context: Context, claims: Field_) -> OrderOut:
    await _in_the_field(context, claims, order_id)
    return await _transition(context, claims, order_id, pb.ORDER_STATUS_IN_DELIVERY)


@router.post("/{order_id}/delivery", response_model=OrderOut)
async def complete_delivery(
    order_id: str, body: DeliveryIn, context: Context, claims: Field_, idempotency_key: IdempotencyKey
) -> OrderOut:
    """Record a delivery with proof. Repeating the request with the same Idempotency-Key is a no-op."""
    await _in_the_field(context, claims, order_id)
    order = await context.orders.CompleteDelivery(
        pb.CompleteDeliveryRequest(
            id=order_id, proof=delivery_proof(body), request_id=idempotency_key, actor=claims.username
        )
    )
    return to_out(order)


@router.post("/{order_id}/failure", response_model=OrderOut)
async def fail_delivery(
    order_id: str, body: DeliveryFailure, context: Context, claims: Field_, idempotency_key: IdempotencyKey
) -> OrderOut:
    """Record a failed visit at the door: not_home, refused or wrong_address."""
    await _in_the_field(context, claims, order_id)
    order = await context.orders.FailDelivery(
        pb.FailDeliveryRequest(
            id=order_id, reason=body.reason, notes=body.notes, request_id=idempotency_key, actor=claims.username
        )
    )
    return to_out(order)
