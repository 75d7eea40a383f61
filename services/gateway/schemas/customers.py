"""Bodies of ``/api/v1/customers``."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from services.gateway.schemas.common import Strict, Text, example


class CustomerBase(Strict):
    invoice_title: Text = ""
    tax_id: str = Field("", description="統一編號, 8 digits; empty for households", examples=["04595257"])
    phones: list[str] = Field(default_factory=list, examples=[["089-322-123", "0912-345-678"]])
    address: Text = ""
    postal_code: str = ""
    latitude: float | None = None
    longitude: float | None = None
    hourly_windows: list[bool] = Field(
        default_factory=list, description="12 one-hour windows 08-09 … 19-20; empty means all allowed"
    )
    slot_code: int | None = Field(None, description="0 all day, 1 morning, 2 afternoon, 3 evening; null = unset")
    rest_days: str = Field("", description='Rest days: "7", "6.7", "Red", "7(初一十五)", "10.20.30"')
    cylinders: dict[str, int] = Field(default_factory=dict, examples=[{"cylinder-20-regular": 3}])
    spare_cylinders: int = 0
    manifolded_cylinders: int = 0
    consumption_kg_per_day: float = 0.0
    max_cycle_days: int = 0
    slip_days: int = 0
    subscription: bool = False
    alert_device: bool = False
    credit_limit: int = Field(0, description="TWD")
    blocked: bool = False
    notes: Text = ""


class CustomerCreate(CustomerBase):
    model_config = example(
        {
            "code": "9000001",
            "short_name": "鐵花小吃",
            "tax_id": "04595257",
            "phones": ["089-322-123"],
            "address": "台東市新生路135巷26號",
            "latitude": 22.7553,
            "longitude": 121.1504,
            "zone": "A",
            "segment": "night_market",
            "rest_days": "7",
            "vehicle_requirement": "car",
            "pricing_method": "cylinder",
            "payment_terms": "cash",
            "cylinders": {"cylinder-20-regular": 3},
        }
    )

    code: str = Field(description="7-digit customer code", examples=["1000001"])
    short_name: Text = Field(examples=["鐵花小吃"])
    zone: str = Field(examples=["A"])
    segment: str = Field(examples=["night_market"])
    vehicle_requirement: str = Field(examples=["car"])
    pricing_method: str = Field(examples=["cylinder"])
    payment_terms: str = Field(examples=["cash"])


class CustomerPatch(Strict):
    """Only the fields present are changed."""

    model_config = example({"slot_code": 2, "notes": "後門進出"})

    code: str | None = None
    short_name: Text | None = None
    invoice_title: Text | None = None
    tax_id: str | None = None
    phones: list[str] | None = None
    address: Text | None = None
    postal_code: str | None = None
    zone: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    segment: str | None = None
    hourly_windows: list[bool] | None = None
    slot_code: int | None = None
    rest_days: str | None = None
    vehicle_requirement: str | None = None
    cylinders: dict[str, int] | None = None
    spare_cylinders: int | None = None
    manifolded_cylinders: int | None = None
    consumption_kg_per_day: float | None = None
    max_cycle_days: int | None = None
    slip_days: int | None = None
    pricing_method: str | None = None
    payment_terms: str | None = None
    subscription: bool | None = None
    alert_device: bool | None = None
    credit_limit: int | None = None
    blocked: bool | None = None
    notes: Text | None = None


class CustomerOut(CustomerCreate):
    model_config = ConfigDict(extra="ignore", json_schema_extra=None)  # a response: not the request's example

    id: str
    version: int
    terminated: bool
    termination_reason: str
    created_at: datetime
    updated_at: datetime
    terminated_at: datetime | None


class CustomerPage(BaseModel):
    items: list[CustomerOut]
    next_page_token: str | None


class Termination(Strict):
    model_config = example({"reason": "歇業"})

    reason: Text = Field("", examples=["shop closed"])
