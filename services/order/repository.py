"""SQL for orders and their deliveries. Repositories flush, never commit: the session scope owns the transaction."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer, selectinload

from services.order.lifecycle import OPEN, OrderStatus
from services.order.models import (
    DeliveryRow,
    OrderItemRow,
    OrderRow,
    PriceListRow,
)
from services.order.schemas import (
    CreditOverride,
    CustomerInfo,
    DeliveryProof,
    ItemInput,
    OrderDraft,
    OrderFilter,
    OrderLine,
    OrderRecord,
    Totals,
)


def _items(pairs: Iterable[Any]) -> tuple[ItemInput, ...]:
    return tuple(ItemInput(str(product), int(quantity)) for product, quantity in pairs)


def _proof(row: DeliveryRow | None, *, with_images: bool) -> DeliveryProof | None:
    if row is None or row.outcome != "delivered":
        return None
    return DeliveryProof(
        recipient_name=row.recipient_name,
        signature_png=(row.signature_png or b"") if with_images else b"",
        photo=(row.photo or b"") if with_images else b"",
        photo_content_type=row.photo_content_type,
        delivered=_items(row.delivered),
        empties_received=_items(row.empties_received),
        residual_gas_kg=row.residual_gas_kg,
        cash_collected=row.cash_collected,
        delivered_at=row.occurred_at,
    )


def to_record(row: OrderRow, *, with_images: bool) -> OrderRecord:
    override = None
    if row.credit_override_by:
        override = CreditOverride(row.credit_override_by, row.credit_override_reason or "")
    return OrderRecord(
        id=row.id,
        number=row.number,
        customer_id=row.customer_id,
        customer_code=row.customer_code,
        customer_zone=row.customer_zone,
        status=OrderStatus(row.status),
        scheduled_date=row.scheduled_date,
        window_start=row.window_start,
        window_end=row.window_end,
        items=tuple(OrderLine(i.product, i.quantity, i.unit_price, i.line_total) for i in row.items),
        urgent=row.urgent,
        additional=row.additional,
        payment_method=row.payment_method,
        notes=row.notes,
        source=row.source,
        subtotal=row.subtotal,
        urgent_surcharge=row.urgent_surcharge,
        vat=row.vat,
        total=row.total,
        credit_override=override,
        cancel_reason=row.cancel_reason,
        failure_reason=row.failure_reason,
        route_id=row.route_id,
        proof=_proof(row.delivery, with_images=with_images),
        created_at=row.created_at,
        updated_at=row.updated_at,
        version=row.version,
        created_by=row.created_by,
        legacy_id=row.legacy_id,
    )


# OrderRepository.assign_number: the counter bumped, the order and its order.created event numbered, in one statement.
_ASSIGN_NUMBER = text(
    """
    WITH counter AS (
        INSERT INTO "order".order_number_counters AS c (day, last_number) VALUES (:day, 1)
        ON CONFLICT (day) DO UPDATE SET last_number = c.last_number + 1
        RETURNING c.last_number
    ), numbered AS (
        UPDATE "order".orders AS o
        SET number = :prefix || lpad(counter.last_number::text, greatest(4, length(counter.last_number::text)), '0')
        FROM counter
        WHERE o.id = :order_id
        RETURNING o.number
    ), announced AS (
        UPDATE "order".outbox AS e
        SET payload = jsonb_set(e.payload, '{number}', to_jsonb(numbered.number))
        FROM numbered
        WHERE e.id = :event_id
    )
    SELECT number FROM numbered
    """
)


@dataclass(frozen=True)
class EarlierCreate:
    """The order an idempotency key already made, and the digest of the request that made it."""

    order_id: uuid.UUID
    number: str
    fingerprint: str


@dataclass(frozen=True)
class CreateContext:
    earlier: EarlierCreate | None
    price_list_id: int | None
    open_order: str | None  # the number of the customer's open order on the day, if any
    outstanding_monthly: int  # open plus delivered-but-unpaid monthly orders, TWD


@dataclass(frozen=True)
class DeliveryOutcome:
    """The recorded visit of an order, enough to recognise a repeated request."""

    outcome: str
    request_id: str
    fingerprint: str


class OrderRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # ------------------------------------------------------------------------------------------------ orders

    async def lock(self, *keys: str) -> None:
        """Transaction-scoped advisory locks, taken in the order given (callers keep one order: no deadlocks);
        concurrent holders of a key wait for each other's commit."""
        await self.session.execute(select(*(func.pg_advisory_xact_lock(func.hashtext(key)) for key in keys)))

    async def create_context(self, request_id: str, customer_id: uuid.UUID, day: date) -> CreateContext:
        """What a create checks, read in one round trip: an earlier create with the key, the price list in force,
        the customer's open order that day and their monthly account's outstanding total."""
        earlier = select(OrderRow.id, OrderRow.number, OrderRow.create_fingerprint).where(
            OrderRow.create_request_id == request_id
        )
        open_statuses = [status.value for status in OPEN]
        row = (
            await self.session.execute(
                select(
                    earlier.with_only_columns(OrderRow.id).scalar_subquery().label("earlier_id"),
                    earlier.with_only_columns(OrderRow.number).scalar_subquery().label("earlier_number"),
                    earlier.with_only_columns(OrderRow.create_fingerprint).scalar_subquery().label("earlier_digest"),
                    select(PriceListRow.id)
                    .where(PriceListRow.effective_from <= day)
                    .order_by(PriceListRow.effective_from.desc())
                    .limit(1)
                    .scalar_subquery()
                    .label("price_list_id"),
                    select(OrderRow.number)
                    .where(
                        OrderRow.customer_id == customer_id,
                        OrderRow.scheduled_date == day,
                        OrderRow.status.in_(open_statuses),
                    )
                    .order_by(OrderRow.number)
                    .limit(1)
                    .scalar_subquery()
                    .label("open_order"),
                    select(func.coalesce(func.sum(OrderRow.total), 0))
                    .where(
                        OrderRow.customer_id == customer_id,
                        OrderRow.payment_method == "monthly",
                        or_(
                            OrderRow.status.in_(open_statuses),
                            and_(OrderRow.status == OrderStatus.DELIVERED.value, OrderRow.paid_at.is_(None)),
                        ),
                    )
                    .scalar_subquery()
                    .label("outstanding"),
                )
            )
        ).one()
        return CreateContext(
            earlier=(EarlierCreate(row.earlier_id, row.earlier_number, row.earlier_digest) if row.earlier_id else None),
            price_list_id=row.price_list_id,
            open_order=row.open_order,
            outstanding_monthly=int(row.outstanding),
        )

    async def find_request(self, request_id: str) -> EarlierCreate | None:
        """The order an idempotency key made, if any: one indexed lookup, the full order is read only on a hit."""
        row = (
            await self.session.execute(
                select(OrderRow.id, OrderRow.number, OrderRow.create_fingerprint).where(
                    OrderRow.create_request_id == request_id
                )
            )
        ).first()
        return None if row is None else EarlierCreate(row.id, row.number, row.create_fingerprint)

    async def assign_number(self, order_id: uuid.UUID, event_id: uuid.UUID, day: date, prefix: str) -> str:
        """Give the order (added with ``placeholder_number``) the day's next number, and its order.created event
        the same, in one statement: the counter row is bumped here and stays locked until the transaction ends, so
        no two transactions ever get the same number and a rolled-back one gives its number back (no gaps).

        Called last, just before the commit: the counter row is what serialises every create of the day, and it is
        now held for this one round trip and the commit's, not for the order's other statements. The number is
        ``prefix`` and the sequence, at least four digits (``service.format_number``)."""
        parameters = {"day": day, "prefix": prefix, "order_id": order_id, "event_id": event_id}
        return str((await self.session.execute(_ASSIGN_NUMBER, parameters)).scalar_one())

    async def add(
        self,
        *,
        number: str,
        draft: OrderDraft,
        customer: CustomerInfo,
        payment_method: str,
        price_list_id: int,
        totals: Totals,
        request_id: str,
        fingerprint: str,
        actor: str,
    ) -> OrderRecord:
        values: dict[str, Any] = {
            "id": uuid.uuid4(),
            "number": number,
            "customer_id": customer.id,
            "customer_code": customer.code,
            "customer_zone": customer.zone,
            "status": OrderStatus.PENDING.value,
            "scheduled_date": draft.scheduled_date,
            "window_start": draft.window_start,
            "window_end": draft.window_end,
            "urgent": draft.urgent,
            "additional": draft.additional,
            "payment_method": payment_method,
            "notes": draft.notes,
            "source": draft.source,
            "price_list_id": price_list_id,
            "subtotal": totals.subtotal,
            "urgent_surcharge": totals.urgent_surcharge,
            "vat": totals.vat,
            "total": totals.total,
            "credit_override_by": draft.credit_override.approved_by if draft.credit_override else None,
            "credit_override_reason": draft.credit_override.reason if draft.credit_override else None,
            "cancel_reason": "",
            "failure_reason": "",
            "route_id": "",
            "create_request_id": request_id,
            "create_fingerprint": fingerprint,
            "created_by": actor,
            "version": 1,
        }
        # Core statements: a new order is two INSERTs, its timestamps come back with the first.
        stamps = (
            await self.session.execute(
                insert(OrderRow).values(values).returning(OrderRow.created_at, OrderRow.updated_at)
            )
        ).one()
        await self.session.execute(
            insert(OrderItemRow).values(
                [
                    {
                        "order_id": values["id"],
                        "position": position,
                        "product": line.product,
                        "quantity": line.quantity,
                        "unit_price": line.unit_price,
                        "line_total": line.line_total,
                    }
                    for position, line in enumerate(totals.lines)
                ]
            )
        )
        override = draft.credit_override
        return OrderRecord(
            id=values["id"],
            number=number,
            customer_id=customer.id,
            customer_code=customer.code,
            customer_zone=customer.zone,
            status=OrderStatus.PENDING,
            scheduled_date=draft.scheduled_date,
            window_start=draft.window_start,
            window_end=draft.window_end,
            items=totals.lines,
            urgent=draft.urgent,
            additional=draft.additional,
            payment_method=payment_method,
            notes=draft.notes,
            source=draft.source,
            subtotal=totals.subtotal,
            urgent_surcharge=totals.urgent_surcharge,
            vat=totals.vat,
            total=totals.total,
            credit_override=CreditOverride(override.approved_by, override.reason) if override else None,
            cancel_reason="",
            failure_reason="",
            route_id="",
            proof=None,
            created_at=stamps.created_at,
            updated_at=stamps.updated_at,
            version=1,
            created_by=actor,
        )

    def _select(self, *, with_images: bool) -> Any:
        delivery = selectinload(OrderRow.delivery)
        if not with_images:
            delivery = delivery.options(defer(DeliveryRow.signature_png), defer(DeliveryRow.photo))
        return (
            select(OrderRow).options(selectinload(OrderRow.items), delivery).execution_options(populate_existing=True)
        )

    async def get(self, order_id: uuid.UUID, *, with_images: bool = True) -> OrderRecord | None:
        row = await self.session.scalar(self._select(with_images=with_images).where(OrderRow.id == order_id))
        return None if row is None else to_record(row, with_images=with_images)

    async def get_by_number(self, number: str) -> OrderRecord | None:
        row = await self.session.scalar(self._select(with_images=True).where(OrderRow.number == number))
        return None if row is None else to_record(row, with_images=True)

    async def search(self, search: OrderFilter, *, after: tuple[date, str] | None, limit: int) -> list[OrderRecord]:
        """Orders by (scheduled date, number), after the keyset cursor ``after``."""
        statement = self._select(with_images=False)
        if search.scheduled_date is not None:
            statement = statement.where(OrderRow.scheduled_date == search.scheduled_date)
        if search.statuses:
            statement = statement.where(OrderRow.status.in_([status.value for status in search.statuses]))
        if search.zones:
            statement = statement.where(OrderRow.customer_zone.in_(search.zones))
        if search.customer_id is not None:
            statement = statement.where(OrderRow.customer_id == search.customer_id)
        if after is not None:
            last_date, last_number = after
            statement = statement.where(
                or_(
                    OrderRow.scheduled_date > last_date,
                    and_(OrderRow.scheduled_date == last_date, OrderRow.number > last_number),
                )
            )
        rows = await self.session.scalars(statement.order_by(OrderRow.scheduled_date, OrderRow.number).limit(limit))
        return [to_record(row, with_images=False) for row in rows]

    async def update_if_version(self, order_id: uuid.UUID, expected_version: int, changes: dict[str, Any]) -> bool:
        """Apply ``changes`` only if the order is still at ``expected_version`` (optimistic concurrency)."""
        result = await self.session.execute(
            update(OrderRow)
            .where(OrderRow.id == order_id, OrderRow.version == expected_version)
            .values(**changes, version=OrderRow.version + 1, updated_at=func.now())
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def customers_with_open_orders(self, *, since: date, until: date) -> set[uuid.UUID]:
        rows = await self.session.scalars(
            select(OrderRow.customer_id)
            .where(
                OrderRow.scheduled_date.between(since, until),
                OrderRow.status.in_([status.value for status in OPEN]),
            )
            .distinct()
        )
        return set(rows)

    # -------------------------------------------------------------------------------------------- deliveries

    async def delivery_outcome(self, order_id: uuid.UUID) -> DeliveryOutcome | None:
        row = (
            await self.session.execute(
                select(DeliveryRow.outcome, DeliveryRow.request_id, DeliveryRow.fingerprint).where(
                    DeliveryRow.order_id == order_id
                )
            )
        ).first()
        return None if row is None else DeliveryOutcome(row.outcome, row.request_id, row.fingerprint)

    async def add_delivery(
        self,
        order_id: uuid.UUID,
        *,
        outcome: str,
        request_id: str,
        fingerprint: str,
        occurred_at: datetime,
        actor: str,
        proof: DeliveryProof | None = None,
        failure_reason: str = "",
        notes: str = "",
    ) -> None:
        row = DeliveryRow(
            order_id=order_id,
            outcome=outcome,
            request_id=request_id,
            fingerprint=fingerprint,
            occurred_at=occurred_at,
            recorded_by=actor,
            failure_reason=failure_reason,
            notes=notes,
        )
        if proof is not None:
            row.recipient_name = proof.recipient_name
            row.signature_png = proof.signature_png
            row.photo = proof.photo or None
            row.photo_content_type = proof.photo_content_type
            row.delivered = [[i.product, i.quantity] for i in proof.delivered]
            row.empties_received = [[i.product, i.quantity] for i in proof.empties_received]
            row.residual_gas_kg = proof.residual_gas_kg
            row.cash_collected = proof.cash_collected
        self.session.add(row)
        await self.session.flush()
