"""REST bodies to start gateway tests from."""

from __future__ import annotations

from typing import Any

from tests.customer.factories import next_code


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
