"""Bodies of ``/api/v1/orders`` (and of the driver's delivery calls, which send the same proofs)."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from services.gateway.schemas.common import Base64, Strict, Text, example

# A one-pixel PNG: what a phone sends is larger, base64 all the same.
SIGNATURE_EXAMPLE = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGP4DwABAQEAsTj2FAAAAABJRU5ErkJggg=="


class Window(Strict):
    start: str = Field(examples=["09:00"], description="HH:MM, Asia/Taipei")
    end: str = Field(examples=["12:00"])


class Item(Strict):
    product: str = Field(examples=["cylinder-20-regular"])
    quantity: int = Field(examples=[2])


class CreditOverrideIn(Strict):
    approved_by: str = Field(max_length=64)
    reason: Text


class OrderCreate(Strict):
    model_config = example(
        {
            "customer_id": "8652f0cd-d20b-426e-9769-b0249cf5aeb3",
            "scheduled_date": "2030-01-02",
            "window": {"start": "09:00", "end": "12:00"},
            "items": [{"product": "cylinder-20-regular", "quantity": 2}],
            "payment_method": "cash",
        }
    )

    customer_id: str
    scheduled_date: date
    window: Window
    items: list[Item] = Field(max_length=50)
    urgent: bool = False
    additional: bool = Field(False, description="a second open order for the customer that day")
    payment_method: str = Field(examples=["cash"], description="cash | monthly")
    notes: Text = ""
    credit_override: CreditOverrideIn | None = None
    source: str = Field("call_in", description="call_in | forecast | alert | overdue")


class OrderItemOut(BaseModel):
    product: str
    quantity: int
    unit_price: int
    line_total: int


class ProofOut(BaseModel):
    recipient_name: str
    has_signature: bool
    has_photo: bool
    delivered: list[Item]
    empties_received: list[Item]
    residual_gas_kg: float
    cash_collected: int
    delivered_at: datetime | None


class OrderOut(BaseModel):
    id: str
    number: str
    customer_id: str
    customer_code: str
    customer_zone: str
    status: str
    scheduled_date: str
    window: Window
    items: list[OrderItemOut]
    urgent: bool
    additional: bool
    payment_method: str
    notes: str
    source: str
    subtotal: int
    urgent_surcharge: int
    vat: int
    total: int
    credit_override: CreditOverrideIn | None
    cancel_reason: str
    failure_reason: str
    route_id: str
    proof: ProofOut | None
    created_at: datetime
    updated_at: datetime
    version: int
    created_by: str


class OrderPage(BaseModel):
    items: list[OrderOut]
    next_page_token: str | None


class Cancellation(Strict):
    model_config = example({"reason": "客戶改天再訂"})

    reason: Text = Field(min_length=1)


class Assignment(Strict):
    model_config = example({"route_id": "3f1e4c1a-2b7d-4c55-9a51-0f4b8f0c6d21"})

    route_id: str = Field(min_length=1, max_length=100)


class DeliveryIn(Strict):
    model_config = example(
        {
            "recipient_name": "林小姐",
            "signature_png": SIGNATURE_EXAMPLE,
            "delivered": [{"product": "cylinder-20-regular", "quantity": 2}],
            "empties_received": [{"product": "cylinder-20-regular", "quantity": 2}],
            "residual_gas_kg": 1.5,
            "cash_collected": 1596,
        }
    )

    recipient_name: str = Field(min_length=1, max_length=100)
    signature_png: Base64 = Field(description="base64 PNG of the recipient's signature")
    photo: Base64 | None = Field(None, description="base64 JPEG or PNG, optional")
    photo_content_type: str | None = Field(None, examples=["image/jpeg"])
    delivered: list[Item]
    empties_received: list[Item] = Field(default_factory=list)
    residual_gas_kg: float = 0.0
    cash_collected: int = 0


class DeliveryFailure(Strict):
    model_config = example({"reason": "not_home", "notes": "鄰居說晚上才回來"})

    reason: str = Field(description="not_home | refused | wrong_address")
    notes: Text = ""


class DueCustomerOut(BaseModel):
    customer_id: str
    customer_code: str
    short_name: str
    zone: str
    reason: str
    explanation: str
    due_date: str
    days_overdue: int
    slack_days: int
    deferrable: bool
    suggested: list[Item]


class DueList(BaseModel):
    date: date
    customers: list[DueCustomerOut]


class DueOrdersCreate(Strict):
    model_config = example({"date": "2030-01-02", "customer_ids": ["8652f0cd-d20b-426e-9769-b0249cf5aeb3"]})

    date: date
    customer_ids: list[str] = Field(min_length=1, max_length=500)


class DueOrdersCreated(BaseModel):
    orders: list[OrderOut]
    skipped: list[str]
