"""Checks an order's and a delivery's input, collecting every violation so one reply names them all."""

from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta

from services.order.schemas import CreditOverride, DeliveryProof, ItemInput, OrderDraft, OrderInput
from services.platform.errors import FieldViolation, InvalidArgument
from services.platform.products import PRODUCTS
from services.platform.proto_values import parse_date, parse_uuid

MAX_DAYS_AHEAD = 30
MIN_QUANTITY, MAX_QUANTITY = 1, 100
MAX_ITEMS = 50
# Deliveries happen in the twelve one-hour windows 08:00-20:00 (docs/domain.md#delivery-windows).
OPENING, CLOSING = time(8, 0), time(20, 0)
PAYMENT_METHODS = ("cash", "monthly")
SOURCES = ("call_in", "forecast", "alert", "overdue")
FAILURE_REASONS = ("not_home", "refused", "wrong_address")
MAX_NOTES = 2000
MAX_NAME = 64
MAX_REASON = 300
MAX_REQUEST_ID = 100
MAX_ROUTE_ID = 100
MAX_RECIPIENT = 100
MAX_SIGNATURE_BYTES = 200 * 1024
MAX_PHOTO_BYTES = 2 * 1024 * 1024
MAX_RESIDUAL_GAS_KG = 1000.0
# A driver's phone clock may run a little ahead of ours; further ahead is a wrong clock.
CLOCK_SKEW = timedelta(minutes=10)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"
PHOTO_TYPES = {"image/jpeg": JPEG_MAGIC, "image/png": PNG_MAGIC}


def _parse_time(value: str) -> time | None:
    if len(value) != 5 or value[2] != ":" or not (value[:2] + value[3:]).isdigit():
        return None
    try:
        return time(int(value[:2]), int(value[3:]))
    except ValueError:
        return None


def validate_items(items: tuple[ItemInput, ...], field: str, *, required: bool) -> list[FieldViolation]:
    violations = []
    if required and not items:
        violations.append(FieldViolation(field, "at least one item is required"))
    if len(items) > MAX_ITEMS:
        violations.append(FieldViolation(field, f"at most {MAX_ITEMS} items"))
    seen: set[str] = set()
    for index, item in enumerate(items):
        if item.product not in PRODUCTS:
            violations.append(FieldViolation(f"{field}[{index}].product", f"unknown product {item.product!r}"))
        elif item.product in seen:
            violations.append(FieldViolation(f"{field}[{index}].product", f"{item.product} is listed twice"))
        seen.add(item.product)
        if not MIN_QUANTITY <= item.quantity <= MAX_QUANTITY:
            violations.append(
                FieldViolation(
                    f"{field}[{index}].quantity", f"must be {MIN_QUANTITY} to {MAX_QUANTITY}, not {item.quantity}"
                )
            )
    return violations


def validate_order(order: OrderInput, today: date) -> tuple[OrderDraft | None, list[FieldViolation]]:
    """The draft when every field is good; otherwise None and every violation found.

    ``today`` is the date in Asia/Taipei: an order may be scheduled from today to today + 30 days.
    """
    violations: list[FieldViolation] = []

    def refuse(field: str, reason: str) -> None:
        violations.append(FieldViolation(field, reason))

    customer_id = None
    if not order.customer_id:
        refuse("customer_id", "is required")
    else:
        try:
            customer_id = parse_uuid(order.customer_id, "customer_id", "a customer id")
        except InvalidArgument as error:
            violations.extend(error.violations)

    scheduled = None
    if not order.scheduled_date:
        refuse("scheduled_date", "is required")
    else:
        try:
            scheduled = parse_date(order.scheduled_date, "scheduled_date")
        except InvalidArgument as error:
            violations.extend(error.violations)
    if scheduled is not None and scheduled < today:
        refuse("scheduled_date", f"{scheduled} is in the past (today is {today} in Taipei)")
    elif scheduled is not None and scheduled > today + timedelta(days=MAX_DAYS_AHEAD):
        refuse(
            "scheduled_date",
            f"{scheduled} is more than {MAX_DAYS_AHEAD} days ahead (latest {today + timedelta(days=MAX_DAYS_AHEAD)})",
        )

    bounds: dict[str, time] = {}
    for name, value in (("start", order.window_start), ("end", order.window_end)):
        parsed = _parse_time(value)
        if not value:
            refuse(f"window.{name}", "is required (HH:MM)")
        elif parsed is None:
            refuse(f"window.{name}", f"{value!r} is not a time (HH:MM)")
        elif not OPENING <= parsed <= CLOSING:
            refuse(f"window.{name}", f"{value} is outside delivery hours 08:00-20:00")
        else:
            bounds[name] = parsed
    if len(bounds) == 2 and bounds["start"] >= bounds["end"]:
        refuse("window.end", f"must be after the start {order.window_start}")

    violations += validate_items(order.items, "items", required=True)
    if order.payment_method and order.payment_method not in PAYMENT_METHODS:
        refuse("payment_method", f"must be one of {', '.join(PAYMENT_METHODS)}")
    if order.source and order.source not in SOURCES:
        refuse("source", f"must be one of {', '.join(SOURCES)}")
    if len(order.notes) > MAX_NOTES:
        refuse("notes", f"at most {MAX_NOTES} characters")
    override = order.credit_override
    if override is not None:
        if not override.approved_by.strip():
            refuse("credit_override.approved_by", "is required: the manager approving the override")
        elif len(override.approved_by) > MAX_NAME:
            refuse("credit_override.approved_by", f"at most {MAX_NAME} characters")
        if not override.reason.strip():
            refuse("credit_override.reason", "is required: why the credit check is overridden")
        elif len(override.reason) > MAX_REASON:
            refuse("credit_override.reason", f"at most {MAX_REASON} characters")

    if violations or customer_id is None or scheduled is None:
        return None, violations
    return (
        OrderDraft(
            customer_id=customer_id,
            scheduled_date=scheduled,
            window_start=bounds["start"],
            window_end=bounds["end"],
            items=order.items,
            urgent=order.urgent,
            additional=order.additional,
            payment_method=order.payment_method,
            notes=order.notes.strip(),
            credit_override=(
                CreditOverride(override.approved_by.strip(), override.reason.strip()) if override is not None else None
            ),
            source=order.source or "call_in",
        ),
        [],
    )


def validate_proof(proof: DeliveryProof, now: datetime) -> DeliveryProof:
    """The proof with its defaults filled in, or InvalidArgument naming every bad field."""
    violations: list[FieldViolation] = []

    def refuse(field: str, reason: str) -> None:
        violations.append(FieldViolation(f"proof.{field}", reason))

    recipient = proof.recipient_name.strip()
    if not recipient:
        refuse("recipient_name", "is required")
    elif len(recipient) > MAX_RECIPIENT:
        refuse("recipient_name", f"at most {MAX_RECIPIENT} characters")
    if not proof.signature_png:
        refuse("signature_png", "is required")
    elif not proof.signature_png.startswith(PNG_MAGIC):
        refuse("signature_png", "is not a PNG image")
    elif len(proof.signature_png) > MAX_SIGNATURE_BYTES:
        refuse("signature_png", f"is {len(proof.signature_png)} bytes; at most {MAX_SIGNATURE_BYTES} (200 KB)")
    if proof.photo:
        magic = PHOTO_TYPES.get(proof.photo_content_type)
        if magic is None:
            refuse("photo_content_type", f"must be one of {', '.join(PHOTO_TYPES)}")
        elif not proof.photo.startswith(magic):
            refuse("photo", f"is not a {proof.photo_content_type} image")
        if len(proof.photo) > MAX_PHOTO_BYTES:
            refuse("photo", f"is {len(proof.photo)} bytes; at most {MAX_PHOTO_BYTES} (2 MB)")
    elif proof.photo_content_type:
        refuse("photo_content_type", "is set but there is no photo")
    violations += [
        FieldViolation(f"proof.{v.field}", v.reason)
        for v in validate_items(proof.delivered, "delivered", required=True)
    ]
    violations += [
        FieldViolation(f"proof.{v.field}", v.reason)
        for v in validate_items(proof.empties_received, "empties_received", required=False)
    ]
    if not math.isfinite(proof.residual_gas_kg) or not 0 <= proof.residual_gas_kg <= MAX_RESIDUAL_GAS_KG:
        refuse("residual_gas_kg", f"must be 0 to {MAX_RESIDUAL_GAS_KG:.0f} kg")
    if proof.cash_collected < 0:
        refuse("cash_collected", "must not be negative")
    if proof.delivered_at is not None and proof.delivered_at > now + CLOCK_SKEW:
        refuse("delivered_at", "is in the future")
    if violations:
        raise InvalidArgument.from_violations(violations)
    return DeliveryProof(
        recipient_name=recipient,
        signature_png=proof.signature_png,
        photo=proof.photo,
        photo_content_type=proof.photo_content_type if proof.photo else "",
        delivered=proof.delivered,
        empties_received=proof.empties_received,
        residual_gas_kg=proof.residual_gas_kg,
        cash_collected=proof.cash_collected,
        delivered_at=proof.delivered_at or now,
    )
