"""The platform's records written back as legacy rows: the inverse of mapping.py, for new → legacy sync, repair
and rollback. A row written here maps back (mapping.map_customer / map_delivery) to the record it came from, field
for field on what the legacy sheet carries (tests/migration/test_reverse.py holds that round trip).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, time
from decimal import Decimal
from typing import Any

from services.migration import mapping
from services.migration.legacy_store import DELIVERY_KG_COLUMNS, DELIVERY_PRODUCT_COLUMNS, RETURN_COLUMNS
from services.platform.taiwan import date_to_roc

YES = "V"
# The legacy columns a customer row of the platform fills (every other column is left as the office has it).
_SEGMENT_LABELS = {segment: label for label, segment in mapping.SEGMENTS.items()}
_VEHICLE_CODES = {vehicle: code for code, vehicle in mapping.VEHICLES.items()}
_PRICING_LABELS = {"cylinder": "桶裝", "flow": "流量"}
_PAYMENT_LABELS = {"cash": "現金", "monthly": "月結"}
# A delivery's platform status (and failure reason) → the legacy status.
_LEGACY_STATUS = {platform: legacy for legacy, platform in mapping.STATUS_MAP.items()}
_PRODUCT_COLUMN = {product: column for column, product in mapping.DELIVERY_PRODUCT_COLUMNS.items()}
_KG_COLUMN = {product: column for column, product in mapping.DELIVERY_KG_COLUMNS.items()}
_RETURN_COLUMN = {size: column for column, size in mapping.RETURN_COLUMNS.items()}


def _customer_product_columns(pricing_method: str) -> dict[str, str]:
    """Product code → the customer sheet's column for it, for a customer priced by ``pricing_method``."""
    columns: dict[str, str] = {}
    for column, (size, grade) in mapping.CUSTOMER_PRODUCT_COLUMNS.items():
        columns.setdefault(mapping.product_code(size, grade, pricing_method), column)
    return columns


def legacy_phone(phone: str) -> str:
    """As the office's sheet keeps a phone: digits, the leading 0 dropped (Excel read it as a number)."""
    return phone[1:] if phone.startswith("0") else phone


def cylinders_text(cylinders: Mapping[str, int]) -> str:
    """Cylinders on site as the sheet's 系統上鋼瓶數量 writes them: size*count joined by +, largest first."""
    by_size = mapping.count_by_size(cylinders)
    return "+".join(f"{size}*{count}" for size, count in sorted(by_size.items(), reverse=True))


@dataclass(frozen=True)
class PlatformCustomer:
    """What a customer row needs from the platform's customer (customer.proto's CustomerFields + terminated)."""

    code: str
    short_name: str
    invoice_title: str
    tax_id: str
    phones: Sequence[str]
    address: str
    zone: str
    segment: str
    hourly_windows: Sequence[bool]
    slot_code: int | None
    rest_days: str
    vehicle_requirement: str
    cylinders: Mapping[str, int]
    consumption_kg_per_day: float
    max_cycle_days: int
    slip_days: int
    pricing_method: str
    payment_terms: str
    subscription: bool
    alert_device: bool
    terminated: bool

    def canonical_record(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def customer_row(customer: PlatformCustomer, zones: Mapping[str, str]) -> dict[str, Any]:
    """The legacy 客戶資料 row of a platform customer (every column the sheet carries)."""
    columns = _customer_product_columns(customer.pricing_method)
    products = {column: 0 for column in legacy_product_columns()}
    for product, count in customer.cylinders.items():
        products[columns[product]] += count
    windows = list(customer.hourly_windows) or [False] * len(mapping.WINDOW_COLUMNS)
    row: dict[str, Any] = {
        "客戶": customer.code,
        "客戶簡稱": customer.short_name,
        "電子發票抬頭": customer.invoice_title,
        "統一編號": customer.tax_id,
        "地址": customer.address,
        "電話": "/".join(legacy_phone(phone) for phone in customer.phones),
        "系統上鋼瓶數量": cylinders_text(customer.cylinders),
        **{column: count or None for column, count in products.items()},
        "計價方式": _PRICING_LABELS[customer.pricing_method],
        "結帳方式": _PAYMENT_LABELS[customer.payment_terms],
        **{column: int(open_) for column, open_ in zip(mapping.WINDOW_COLUMNS, windows, strict=True)},
        "時段早1午2晚3全天0": customer.slot_code,
        "公休日": customer.rest_days,
        "區域": f"{customer.zone}-{zones[customer.zone]}" if customer.zone in zones else customer.zone,
        "1汽車/2機車/0全部": _VEHICLE_CODES[customer.vehicle_requirement],
        "平均日使用": _number_text(customer.consumption_kg_per_day),
        "最大週期": str(customer.max_cycle_days),
        "可延後天數": str(customer.slip_days),
        "訂閱式會員": YES if customer.subscription else "",
        "發報": YES if customer.alert_device else "",
        "已解約": YES if customer.terminated else "",
        "類型": _SEGMENT_LABELS[customer.segment],
    }
    return row


def legacy_product_columns() -> tuple[str, ...]:
    return tuple(mapping.CUSTOMER_PRODUCT_COLUMNS)


def _number_text(value: float) -> str:
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


@dataclass(frozen=True)
class PlatformDelivery:
    """What a delivery row needs from an order of the platform."""

    customer_code: str
    day: date
    time: time | None
    salesperson: str
    status: str
    failure_reason: str
    items: Mapping[str, int]  # cylinder products → cylinders
    metered_kg: Mapping[str, float]  # flow products → kg
    empties: Mapping[int, int]  # cylinder size in kg → empties taken back


def delivery_row(delivery: PlatformDelivery) -> dict[str, Any]:
    """The legacy 配送紀錄 row of an order (without 序號: the legacy table numbers its rows)."""
    status_key = (delivery.status, delivery.failure_reason or None)
    legacy_status = _LEGACY_STATUS.get(status_key) or _LEGACY_STATUS[(delivery.status, None)]
    row: dict[str, Any] = {
        "日期": date_to_roc(delivery.day),
        "時間": delivery.time.strftime("%H:%M") if delivery.time is not None else None,
        "業務員": delivery.salesperson,
        "客戶": delivery.customer_code,
        "狀態": legacy_status,
        **{column: 0 for column in DELIVERY_PRODUCT_COLUMNS},
        **{column: Decimal(0) for column in DELIVERY_KG_COLUMNS},
        **{column: 0 for column in RETURN_COLUMNS},
    }
    for product, quantity in delivery.items.items():
        row[_PRODUCT_COLUMN[product]] += quantity
    for product, kg in delivery.metered_kg.items():
        row[_KG_COLUMN[product]] = Decimal(round(kg * 10)) / 10
    for size, count in delivery.empties.items():
        row[_RETURN_COLUMN[size]] += count
    return row
