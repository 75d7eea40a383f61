"""Valid customer payloads to start tests from; each test changes only what it is about."""

from __future__ import annotations

import itertools
from typing import Any

from luckygas.customer.v1 import customer_pb2 as pb

_codes = itertools.count(2000001)


def next_code() -> str:
    return str(next(_codes))


def customer_fields(**overrides: Any) -> pb.CustomerFields:
    values: dict[str, Any] = {
        "code": next_code(),
        "short_name": "鐵花小吃",
        "invoice_title": "鐵花小吃有限公司",
        "tax_id": "04595257",
        "phones": ["089-322-123", "0912-345-678"],
        "address": "台東市新生路135巷26號",
        "postal_code": "950",
        "zone": "A",
        "latitude": 22.7569,
        "longitude": 121.1512,
        "segment": "night_market",
        "hourly_windows": [True] * 4 + [False] * 8,
        "slot_code": 1,
        "rest_days": "7",
        "vehicle_requirement": "car",
        "cylinders": [pb.CylinderHolding(product="cylinder-20-regular", quantity=3)],
        "spare_cylinders": 1,
        "consumption_kg_per_day": 4.6,
        "max_cycle_days": 11,
        "slip_days": 6,
        "pricing_method": "cylinder",
        "payment_terms": "cash",
        "alert_device": True,
        "credit_limit": 20000,
    }
    values.update(overrides)
    return pb.CustomerFields(**values)
