"""The order service's own data shapes, free of gRPC and SQL types."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time

from services.order.lifecycle import OrderStatus


@dataclass(frozen=True)
class ItemInput:
    product: str
    quantity: int


@dataclass(frozen=True)
class CreditOverride:
    """A manager's approval to take an order past the credit check, recorded on the order."""

    approved_by: str
    reason: str


@dataclass(frozen=True)
class OrderInput:
    """An order as a client sends it (mirrors ``luckygas.order.v1.OrderInput``); validation makes an OrderDraft."""

    customer_id: str = ""
    scheduled_date: str = ""
    window_start: str = ""
    window_end: str = ""
    items: tuple[ItemInput, ...] = ()
    urgent: bool = False
    additional: bool = False
    payment_method: str = ""
    notes: str = ""
    credit_override: CreditOverride | None = None
    source: str = ""


@dataclass(frozen=True)
class OrderDraft:
    """A validated order, before the customer's state, credit and prices are applied."""

    customer_id: uuid.UUID
    scheduled_date: date
    window_start: time
    window_end: time
    items: tuple[ItemInput, ...]
    urgent: bool
    additional: bool
    payment_method: str  # "" means: the customer's own payment terms
    notes: str
    credit_override: CreditOverride | None
    source: str


@dataclass(frozen=True)
class CustomerInfo:
    """What the order service needs to know about a customer; read from the customer service, never stored."""

    id: uuid.UUID
    code: str
    short_name: str
    zone: str
    payment_terms: str
    credit_limit: int
    blocked: bool
    terminated: bool
    holdings: dict[str, int] = field(default_factory=dict)
    spare_cylinders: int = 0
    consumption_kg_per_day: float = 0.0
    max_cycle_days: int = 0
    slip_days: int = 0
    hourly_windows: tuple[bool, ...] = ()


@dataclass(frozen=True)
class PriceEntry:
    unit_price: int  # TWD excluding VAT, per cylinder (or per kg for flow products)
    deposit: int
    unit: str  # cylinder | kg


@dataclass(frozen=True)
class PriceList:
    id: int
    effective_from: date
    urgent_surcharge: int
    prices: dict[str, PriceEntry]


@dataclass(frozen=True)
class OrderLine:
    product: str
    quantity: int
    unit_price: int
    line_total: int


@dataclass(frozen=True)
class Totals:
    lines: tuple[OrderLine, ...]
    subtotal: int
    urgent_surcharge: int
    vat: int
    total: int


@dataclass(frozen=True)
class DeliveryProof:
    recipient_name: str
    signature_png: bytes
    photo: bytes
    photo_content_type: str
    delivered: tuple[ItemInput, ...]
    empties_received: tuple[ItemInput, ...]
    residual_gas_kg: float
    cash_collected: int
    delivered_at: datetime | None


@dataclass(frozen=True)
class OrderRecord:
    """A stored order as the service returns it."""

    id: uuid.UUID
    number: str
    customer_id: uuid.UUID
    customer_code: str
    customer_zone: str
    status: OrderStatus
    scheduled_date: date
    window_start: time
    window_end: time
    items: tuple[OrderLine, ...]
    urgent: bool
    additional: bool
    payment_method: str
    notes: str
    source: str
    subtotal: int
    urgent_surcharge: int
    vat: int
    total: int
    credit_override: CreditOverride | None
    cancel_reason: str
    failure_reason: str
    route_id: str
    proof: DeliveryProof | None
    created_at: datetime
    updated_at: datetime
    version: int
    created_by: str
    legacy_id: int | None = None


@dataclass(frozen=True)
class OrderFilter:
    scheduled_date: date | None = None
    statuses: tuple[OrderStatus, ...] = ()
    zones: tuple[str, ...] = ()
    customer_id: uuid.UUID | None = None


@dataclass
class OrderPage:
    orders: list[OrderRecord]
    next_page_token: str


# --------------------------------------------------------------------------------------- legacy migration


@dataclass(frozen=True)
class LegacyOrderInput:
    """One legacy delivery row as migration-sync sends it (mirrors ``luckygas.order.v1.LegacyOrder``)."""

    legacy_id: int
    customer_id: str
    customer_code: str
    customer_zone: str
    day: str
    time: str
    salesperson: str
    status: str
    failure_reason: str
    items: tuple[ItemInput, ...]
    metered_tenths: tuple[tuple[str, int], ...]  # (flow product, tenths of a kg)
    empties_by_size: tuple[tuple[int, int], ...]  # (size in kg, count)
    payment_method: str = ""


@dataclass(frozen=True)
class LegacyOrderDraft:
    """A validated legacy row, in the platform's types."""

    legacy_id: int
    customer_id: uuid.UUID
    customer_code: str
    customer_zone: str
    day: date
    window_start: time
    window_end: time
    salesperson: str
    status: OrderStatus
    failure_reason: str
    items: tuple[ItemInput, ...]
    metered_tenths: tuple[tuple[str, int], ...]
    empties_by_size: tuple[tuple[int, int], ...]
    payment_method: str


@dataclass(frozen=True)
class ImportedOrder:
    legacy_id: int
    order_id: uuid.UUID
    outcome: str  # created | updated | unchanged


@dataclass(frozen=True)
class KeyRange:
    """Legacy ids from ``start`` (included) to ``end`` (excluded)."""

    start: int
    end: int


@dataclass(frozen=True)
class RangeChecksum:
    range: KeyRange
    count: int
    digest_sum: int


@dataclass(frozen=True)
class CanonicalRows:
    rows: list[tuple[int, str]]  # (legacy id, canonical text), by key
    truncated: bool
