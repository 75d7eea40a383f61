"""Business rules for orders: validation, credit, pricing, idempotent create, numbering, the lifecycle, events."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import asdict, replace
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.order.customers import CustomerDirectory
from services.order.lifecycle import OrderStatus, is_move
from services.order.models import OUTBOX
from services.order.price_lists import PriceListRepository, PriceLists
from services.order.pricing import price_order
from services.order.repository import EarlierCreate, OrderRepository
from services.order.schemas import (
    CustomerInfo,
    OrderDraft,
    OrderFilter,
    OrderInput,
    OrderPage,
    OrderRecord,
)
from services.order.validation import (
    MAX_NAME,
    MAX_REASON,
    MAX_REQUEST_ID,
    MAX_ROUTE_ID,
    validate_order,
)
from services.platform.clock import Clock, taipei_date, utc_now
from services.platform.database import Database
from services.platform.errors import (
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    VersionConflict,
)
from services.platform.outbox import EventEnvelope, record_event
from services.platform.paging import decode_page_token, encode_page_token, page_limit, token_field
from services.platform.proto_values import parse_uuid

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
# Optimistic updates retry this often against a fresh read before answering ABORTED.
UPDATE_ATTEMPTS = 5
# What TransitionOrder may ask for, and the event each move records (docs/events.md, stream events.order).
TRANSITION_EVENTS = {
    OrderStatus.CONFIRMED: "order.confirmed",
    OrderStatus.ASSIGNED: "order.assigned",
    OrderStatus.IN_DELIVERY: "order.delivery_started",
    OrderStatus.CANCELLED: "order.cancelled",
}


def fingerprint(value: Any) -> str:
    """A digest of a request body: the same body always gives the same digest."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


def number_prefix(day: date) -> str:
    """``LG-YYYYMMDD-``: what every number of the day starts with (``format_number``)."""
    return f"LG-{day:%Y%m%d}-"


def placeholder_number() -> str:
    """What a new order's number is until ``OrderRepository.assign_number`` gives it the real one, in the same
    transaction (so nobody else ever sees it): unique, and never a valid order number."""
    return f"pending-{uuid.uuid4().hex[:22]}"


def format_number(day: date, sequence: int) -> str:
    """``LG-YYYYMMDD-NNNN``: the day the order was taken (Asia/Taipei) and its place in that day's intake.

    The intake day rather than the delivery day: a number must never change, and a rescheduled order would
    otherwise carry a date it is no longer delivered on. Past 9,999 orders a day the sequence simply widens.
    """
    return f"{number_prefix(day)}{sequence:04d}"


def check_request_id(request_id: str, *, required: bool = True) -> None:
    if required and not request_id:
        raise InvalidArgument.for_field("request_id", "is required: an idempotency key chosen by the client")
    if len(request_id) > MAX_REQUEST_ID:
        raise InvalidArgument.for_field("request_id", f"at most {MAX_REQUEST_ID} characters")


def check_actor(actor: str) -> None:
    if len(actor) > MAX_NAME:
        raise InvalidArgument.for_field("actor", f"at most {MAX_NAME} characters")


def page_token_after(last: OrderRecord) -> str:
    return encode_page_token({"date": last.scheduled_date.isoformat(), "number": last.number})


def _read_position(document: Any) -> tuple[date, str]:
    return date.fromisoformat(token_field(document, "date", str)), token_field(document, "number", str)


def order_payload(record: OrderRecord, **extra: Any) -> dict[str, Any]:
    """What every order event carries: enough for a live board to show the order without asking for it."""
    return {
        "order_id": str(record.id),
        "number": record.number,
        "customer_id": str(record.customer_id),
        "customer_code": record.customer_code,
        "customer_zone": record.customer_zone,
        "status": record.status.value,
        "scheduled_date": record.scheduled_date.isoformat(),
        "window": {"start": f"{record.window_start:%H:%M}", "end": f"{record.window_end:%H:%M}"},
        "urgent": record.urgent,
        "total": record.total,
        "route_id": record.route_id,
        **extra,
    }


async def record_order_event(
    session: AsyncSession, event_type: str, record: OrderRecord, **extra: Any
) -> EventEnvelope:
    """Record one domain event in the caller's transaction (the outbox); the relay publishes it after commit.

    Every order and delivery event goes to the ``events.order`` stream, keyed by the order, so a consumer sees
    one order's events in the order they happened.
    """
    return await record_event(
        session,
        OUTBOX,
        aggregate="order",
        type=event_type,
        aggregate_id=str(record.id),
        aggregate_version=record.version,
        payload=order_payload(record, **extra),
    )


class OrderService:
    def __init__(
        self, database: Database, customers: CustomerDirectory, price_lists: PriceLists, *, clock: Clock = utc_now
    ) -> None:
        self.database = database
        self.customers = customers
        self.price_lists = price_lists
        self.clock = clock

    def today(self) -> date:
        return taipei_date(self.clock())

    # ------------------------------------------------------------------------------------------------ create

    async def create(self, order: OrderInput, request_id: str, actor: str = "") -> OrderRecord:
        """Take an order; the same ``request_id`` with the same body returns the same order."""
        check_request_id(request_id)
        check_actor(actor)
        digest = fingerprint(asdict(order))
        # A retry is answered from what is stored, even if the customer service is down or the date has passed.
        async with self.database.read_session() as session:
            repository = OrderRepository(session)
            earlier = await _replay(repository, await repository.find_request(request_id), digest)
        if earlier is not None:
            return earlier

        draft, violations = validate_order(order, self.today())
        customer = None
        customer_id = _maybe_uuid(order.customer_id)
        if customer_id is not None:
            customer = await self.customers.get(customer_id)
            if customer is None:
                violations.append(FieldViolation("customer_id", f"no customer has the id {customer_id}"))
            elif customer.terminated:
                # Like an unknown customer, a terminated one is a bad reference in the input: INVALID_ARGUMENT on
                # customer_id, reported together with every other bad field.
                violations.append(FieldViolation("customer_id", f"customer {customer.code} is terminated"))
        if violations or draft is None or customer is None:
            raise InvalidArgument.from_violations(violations)
        return await self.create_validated(draft, customer, request_id=request_id, digest=digest, actor=actor)

    async def create_validated(
        self, draft: OrderDraft, customer: CustomerInfo, *, request_id: str, digest: str, actor: str
    ) -> OrderRecord:
        """Store a validated order for a known customer, unless ``request_id`` made one already."""
        async with self.database.session() as session:
            repository = OrderRepository(session)
            # Concurrent creates with one key queue here (the unique constraint is the last line of defence), and
            # one customer's creates queue too, so two of them cannot both pass the open-order and credit checks.
            await repository.lock(f"order-create:{request_id}", f"order-customer:{customer.id}")
            context = await repository.create_context(request_id, customer.id, draft.scheduled_date)
            earlier = await _replay(repository, context.earlier, digest)
            if earlier is not None:
                return earlier
            payment_method = draft.payment_method or customer.payment_terms
            if context.price_list_id is None:
                raise FailedPrecondition(f"no price list is in force on {draft.scheduled_date}")
            price_list = await PriceListRepository(session, self.price_lists.known).load(context.price_list_id)
            totals = price_order(draft.items, price_list, urgent=draft.urgent)
            refusals = []
            if not draft.additional and context.open_order is not None:
                refusals.append(
                    FieldViolation(
                        "additional",
                        f"customer {customer.code} already has open order {context.open_order} on "
                        f"{draft.scheduled_date}; mark this one additional to take a second",
                    )
                )
            refusals += credit_refusals(draft, customer, payment_method, totals.total, context.outstanding_monthly)
            if refusals:
                raise FailedPrecondition("; ".join(f"{v.field}: {v.reason}" for v in refusals), refusals)
            today = self.today()
            record = await repository.add(
                number=placeholder_number(),
                draft=draft,
                customer=customer,
                payment_method=payment_method,
                price_list_id=price_list.id,
                totals=totals,
                request_id=request_id,
                fingerprint=digest,
                actor=actor,
            )
            created = await record_order_event(
                session,
                "order.created",
                record,
                source=record.source,
                created_by=actor,
                items=[
                    {"product": line.product, "quantity": line.quantity, "unit_price": line.unit_price}
                    for line in record.items
                ],
            )
            # Last: from here to the commit the day's counter row is locked (repository.assign_number).
            number = await repository.assign_number(record.id, created.id, today, number_prefix(today))
            return replace(record, number=number)

    # ------------------------------------------------------------------------------------------------- reads

    async def get(self, order_id: str) -> OrderRecord:
        parsed = parse_uuid(order_id, "id", "an order id")
        async with self.database.read_session() as session:
            record = await OrderRepository(session).get(parsed)
        if record is None:
            raise NotFound(f"order {order_id} does not exist")
        return record

    async def get_by_number(self, number: str) -> OrderRecord:
        async with self.database.read_session() as session:
            record = await OrderRepository(session).get_by_number(number)
        if record is None:
            raise NotFound(f"order {number} does not exist")
        return record

    async def search(self, search: OrderFilter, page_size: int, page_token: str) -> OrderPage:
        """Orders by scheduled date, then number (the day's intake order); a keyset cursor pages through them."""
        limit = page_limit(page_size, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        bad_zones = [zone for zone in search.zones if not (zone.isascii() and zone.isalpha() and len(zone) <= 2)]
        if bad_zones:
            raise InvalidArgument.for_field("zones", f"not zone codes: {', '.join(bad_zones)}")
        after = decode_page_token(page_token, _read_position)
        async with self.database.read_session() as session:
            records = await OrderRepository(session).search(search, after=after, limit=limit + 1)
        has_more = len(records) > limit
        records = records[:limit]
        return OrderPage(records, page_token_after(records[-1]) if has_more else "")

    # --------------------------------------------------------------------------------------------- lifecycle

    async def transition(
        self, order_id: str, target: OrderStatus | None, *, reason: str = "", route_id: str = "", actor: str = ""
    ) -> OrderRecord:
        """Move an order along the graph; asking for its current state returns it unchanged.

        An assigned order asked to be assigned to another route moves to that route (re-planning).
        """
        parsed = parse_uuid(order_id, "id", "an order id")
        check_actor(actor)
        if target in (OrderStatus.DELIVERED, OrderStatus.FAILED):
            rpc = "CompleteDelivery" if target == OrderStatus.DELIVERED else "FailDelivery"
            raise InvalidArgument.for_field("target", f"{target} is recorded by {rpc}, which takes the visit's details")
        if target not in TRANSITION_EVENTS:
            raise InvalidArgument.for_field("target", f"must be one of {', '.join(TRANSITION_EVENTS)}")
        reason, route_id = reason.strip(), route_id.strip()
        if target == OrderStatus.CANCELLED and not reason:
            raise InvalidArgument.for_field("reason", "is required to cancel")
        if len(reason) > MAX_REASON:
            raise InvalidArgument.for_field("reason", f"at most {MAX_REASON} characters")
        if target == OrderStatus.ASSIGNED and not route_id:
            raise InvalidArgument.for_field("route_id", "is required to assign")
        if len(route_id) > MAX_ROUTE_ID:
            raise InvalidArgument.for_field("route_id", f"at most {MAX_ROUTE_ID} characters")

        async with self.database.session() as session:
            repository = OrderRepository(session)
            for _ in range(UPDATE_ATTEMPTS):
                current = await repository.get(parsed, with_images=False)
                if current is None:
                    raise NotFound(f"order {order_id} does not exist")
                moving = is_move(current.status, target)
                reassigning = target == OrderStatus.ASSIGNED and not moving and route_id != current.route_id
                if not moving and not reassigning:
                    return await self._full(repository, current)
                changes: dict[str, Any] = {"status": target.value}
                if target == OrderStatus.CANCELLED:
                    changes["cancel_reason"] = reason
                if target == OrderStatus.ASSIGNED:
                    changes["route_id"] = route_id
                if await repository.update_if_version(current.id, current.version, changes):
                    record = await self._full(repository, current)
                    extra: dict[str, Any] = {"previous_status": current.status.value, "actor": actor}
                    if target == OrderStatus.CANCELLED:
                        extra["reason"] = reason
                    await record_order_event(session, TRANSITION_EVENTS[target], record, **extra)
                    return record
        raise VersionConflict(f"order {order_id} kept changing while it was being updated; retry")

    @staticmethod
    async def _full(repository: OrderRepository, current: OrderRecord) -> OrderRecord:
        record = await repository.get(current.id)
        if record is None:
            raise NotFound(f"order {current.id} does not exist")
        return record


def credit_refusals(
    draft: OrderDraft, customer: CustomerInfo, payment_method: str, total: int, outstanding: int
) -> list[FieldViolation]:
    """The credit check: a blocked account takes no order; a monthly order must fit in the credit limit.

    ``outstanding`` is what the monthly account owes or will owe (open plus delivered-but-unpaid monthly orders).
    Cash orders are paid at the door, so only the blocked flag applies to them (cash customers have a credit
    limit of 0). A manager's credit_override passes both checks and is recorded on the order.
    """
    if draft.credit_override is not None:
        return []
    if customer.blocked:
        return [
            FieldViolation(
                "customer_id", f"customer {customer.code}'s account is blocked; a manager's credit_override is needed"
            )
        ]
    if payment_method != "monthly" or outstanding + total <= customer.credit_limit:
        return []
    return [
        FieldViolation(
            "credit_override",
            f"needed: outstanding NT${outstanding:,} + this order NT${total:,} exceeds customer {customer.code}'s "
            f"credit limit NT${customer.credit_limit:,}",
        )
    ]


async def _replay(repository: OrderRepository, earlier: EarlierCreate | None, digest: str) -> OrderRecord | None:
    """The order an idempotency key made, when this is a retry of that request; refused when the body differs."""
    if earlier is None:
        return None
    if earlier.fingerprint != digest:
        raise AlreadyExists(
            f"this request_id was used for another request (order {earlier.number})",
            [FieldViolation("request_id", "reused with a different request body")],
        )
    record = await repository.get(earlier.order_id)
    if record is None:  # orders are never deleted
        raise NotFound(f"order {earlier.number} does not exist")
    return record


def _maybe_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except (ValueError, TypeError):
        return None
