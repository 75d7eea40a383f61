"""``/api/v1/orders``: taking orders, moving them along their lifecycle, deliveries, the refill list."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import grpc
from fastapi import APIRouter, Depends, Header, Query, Response, status
from luckygas.order.v1 import order_pb2 as pb
from luckygas.routing.v1 import routing_pb2 as routing_pb

from services.gateway.context import GatewayContext, get_context
from services.gateway.mappers.orders import STATUS_VALUES, delivery_proof, due_list_out, order_input, order_out
from services.gateway.schemas.orders import (
    Assignment,
    Cancellation,
    DeliveryFailure,
    DeliveryIn,
    DueList,
    DueOrdersCreate,
    DueOrdersCreated,
    OrderCreate,
    OrderOut,
    OrderPage,
)
from services.gateway.security import CUSTOMER, DISPATCHER, DRIVER, Allow
from services.gateway.tokens import AccessClaims
from services.platform.errors import InvalidArgument, NotFound

router = APIRouter(prefix="/api/v1/orders", tags=["orders"])

Context = Annotated[GatewayContext, Depends(get_context)]
Office = Annotated[AccessClaims, Depends(Allow(DISPATCHER))]
Readers = Annotated[AccessClaims, Depends(Allow(DISPATCHER, CUSTOMER))]
Field_ = Annotated[AccessClaims, Depends(Allow(DISPATCHER, DRIVER))]
IdempotencyKey = Annotated[str, Header(min_length=1, max_length=100, description="makes a retried create safe")]


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
    created = await context.orders.CreateOrder(
        pb.CreateOrderRequest(order=order_input(body), request_id=idempotency_key, actor=claims.username)
    )
    response.headers["Location"] = f"{router.prefix}/{created.id}"
    return order_out(created)


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
    """Orders by date, status, zone or customer, newest first, a page at a time (next_page_token continues)."""
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
    return OrderPage(items=[order_out(o) for o in page.orders], next_page_token=page.next_page_token or None)


@router.get("/due", response_model=DueList)
async def due_list(
    context: Context,
    claims: Office,
    due_date: Annotated[date, Query(alias="date")],
    zone: Annotated[list[str] | None, Query()] = None,
) -> DueList:
    """The "to deliver" list: customers due for a refill on the date, with why and what to bring."""
    reply = await context.orders.ListDue(pb.ListDueRequest(date=due_date.isoformat(), zones=zone or []))
    return due_list_out(due_date, reply)


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
    return DueOrdersCreated(orders=[order_out(o) for o in reply.orders], skipped=list(reply.skipped))


@router.get("/{order_id}", response_model=OrderOut)
async def get_order(order_id: str, context: Context, claims: Readers) -> OrderOut:
    """One order with its items, prices, status and, once delivered, its proof. A customer sees only their own."""
    return order_out(_visible_to(claims, await context.orders.GetOrder(pb.GetOrderRequest(id=order_id))))


async def _transition(
    context: GatewayContext,
    claims: AccessClaims,
    order_id: str,
    target: pb.OrderStatus.ValueType,
    *,
    reason: str = "",
    route_id: str = "",
) -> OrderOut:
    order = await context.orders.TransitionOrder(
        pb.TransitionOrderRequest(id=order_id, target=target, reason=reason, route_id=route_id, actor=claims.username)
    )
    return order_out(order)


@router.post("/{order_id}/confirm", response_model=OrderOut)
async def confirm_order(order_id: str, context: Context, claims: Office) -> OrderOut:
    """Confirm a pending order (the office has checked it). Confirming it again changes nothing."""
    return await _transition(context, claims, order_id, pb.ORDER_STATUS_CONFIRMED)


@router.post("/{order_id}/cancel", response_model=OrderOut)
async def cancel_order(order_id: str, body: Cancellation, context: Context, claims: Office) -> OrderOut:
    """Cancel an order that is not out for delivery yet (pending, confirmed or assigned); the reason is recorded."""
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
    """Mark an assigned order as out for delivery (the driver has set off for it)."""
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
    return order_out(order)


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
    return order_out(order)
