"""REST bodies to start gateway tests from."""

from __future__ import annotations

import base64
import struct
import zlib
from typing import Any

from fastapi.routing import APIRoute

from services.gateway.security import Allow
from tests.customer.factories import next_code
from tests.order.factories import day


def customer_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "code": next_code(),
        "short_name": "四維早餐店",
        "invoice_title": "四維早餐店",
        "tax_id": "22099131",
        "phones": ["0932-123-456"],
        "address": "台東市四維路二段88號",
        "postal_code": "950",
        "zone": "B",
        "latitude": 22.752,
        "longitude": 121.15,
        "segment": "ordinary",
        "hourly_windows": [True] * 12,
        "slot_code": 0,
        "rest_days": "6.7",
        "vehicle_requirement": "motorcycle",
        "cylinders": {"cylinder-20-regular": 2, "cylinder-16-lucky": 1},
        "consumption_kg_per_day": 6.5,
        "max_cycle_days": 9,
        "slip_days": 3,
        "pricing_method": "cylinder",
        "payment_terms": "monthly",
        "credit_limit": 30000,
    }
    body.update(overrides)
    return body


def order_body(customer_id: str, **overrides: Any) -> dict[str, Any]:
    """A valid OrderCreate: two 20 kg cylinders tomorrow morning, paid in cash (NT$1,520 + 5% VAT = NT$1,596)."""
    body: dict[str, Any] = {
        "customer_id": customer_id,
        "scheduled_date": day(1),
        "window": {"start": "09:00", "end": "12:00"},
        "items": [{"product": "cylinder-20-regular", "quantity": 2}],
        "payment_method": "cash",
        "notes": "送貨前請先來電",
    }
    body.update(overrides)
    return body


def png(width: int = 4, height: int = 2) -> bytes:
    """A small but complete PNG (8-bit greyscale, all white): signature, IHDR, IDAT and IEND with their CRCs."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    scanlines = b"".join(b"\x00" + b"\xff" * width for _ in range(height))  # filter type 0, then the pixels
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(scanlines)) + chunk(b"IEND", b"")
    )


def delivery_body(**overrides: Any) -> dict[str, Any]:
    """A valid DeliveryIn for order_body's order: signed for, two full cylinders in, two empties out, cash paid."""
    body: dict[str, Any] = {
        "recipient_name": "林小姐",
        "signature_png": base64.b64encode(png()).decode(),
        "delivered": [{"product": "cylinder-20-regular", "quantity": 2}],
        "empties_received": [{"product": "cylinder-20-regular", "quantity": 2}],
        "residual_gas_kg": 1.5,
        "cash_collected": 1596,
    }
    body.update(overrides)
    return body


def declared_roles(route: APIRoute) -> frozenset[str] | None:
    """The roles a route declares with its Allow dependency (directly or one level down); None when it declares none."""
    declared = [d.call for d in route.dependant.dependencies if isinstance(d.call, Allow)]
    declared += [
        sub.call for d in route.dependant.dependencies for sub in d.dependencies if isinstance(sub.call, Allow)
    ]
    assert len(declared) <= 1, f"{route.path} declares its roles more than once"
    return declared[0].roles if declared else None
