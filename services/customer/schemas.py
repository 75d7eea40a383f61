"""The customer service's own data shapes, free of gRPC and SQL types."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, fields
from datetime import datetime

HOURLY_WINDOW_COUNT = 12  # 08-09 .. 19-20


@dataclass
class CustomerFields:
    """Everything a client may set on a customer (mirrors ``luckygas.customer.v1.CustomerFields``)."""

    code: str = ""
    short_name: str = ""
    invoice_title: str = ""
    tax_id: str = ""
    phones: list[str] = field(default_factory=list)
    address: str = ""
    postal_code: str = ""
    zone: str = ""
    latitude: float | None = None
    longitude: float | None = None
    segment: str = ""
    hourly_windows: list[bool] = field(default_factory=list)
    slot_code: int | None = None
    rest_days: str = ""
    vehicle_requirement: str = ""
    cylinders: dict[str, int] = field(default_factory=dict)
    spare_cylinders: int = 0
    manifolded_cylinders: int = 0
    consumption_kg_per_day: float = 0.0
    max_cycle_days: int = 0
    slip_days: int = 0
    pricing_method: str = ""
    payment_terms: str = ""
    subscription: bool = False
    alert_device: bool = False
    credit_limit: int = 0
    blocked: bool = False
    notes: str = ""


FIELD_NAMES: frozenset[str] = frozenset(f.name for f in fields(CustomerFields))


@dataclass
class CustomerRecord:
    """A stored customer as the service returns it."""

    id: uuid.UUID
    fields: CustomerFields
    terminated: bool
    termination_reason: str
    created_at: datetime
    updated_at: datetime
    terminated_at: datetime | None
    version: int


@dataclass(frozen=True)
class SearchFilter:
    query: str = ""
    zones: tuple[str, ...] = ()
    segments: tuple[str, ...] = ()
    terminated: bool | None = None


@dataclass
class SearchPage:
    customers: list[CustomerRecord]
    next_page_token: str
