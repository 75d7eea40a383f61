"""Checks and normalises a customer's fields, collecting every violation so one reply names them all."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import TypeVar

from services.customer.rest_days import parse_rest_days
from services.customer.schemas import HOURLY_WINDOW_COUNT, CustomerFields
from services.platform.errors import FieldViolation, InvalidArgument
from services.platform.products import PRODUCTS
from services.platform.taiwan import normalise_phone, validate_postal_code, validate_tax_id
from services.platform.zones import load_zones

SEGMENTS = ("ordinary", "night_market", "school", "market", "food_truck", "banquet_caterer")
VEHICLE_REQUIREMENTS = ("car", "motorcycle", "either")
PRICING_METHODS = ("cylinder", "flow")
PAYMENT_TERMS = ("cash", "monthly")

MAX_LENGTH = {"short_name": 100, "invoice_title": 200, "address": 300, "notes": 2000}
MAX_PHONES = 5
MAX_REST_DAYS_LENGTH = 50  # the column's width
MAX_COUNT = 999
MAX_CREDIT_LIMIT = 100_000_000
# Taiwan proper plus the outlying islands (Penghu, Kinmen, Matsu, Green Island, Orchid Island).
LATITUDE_RANGE = (21.8, 26.5)
LONGITUDE_RANGE = (118.1, 122.1)

T = TypeVar("T")


def validate(fields: CustomerFields) -> CustomerFields:
    """Return the normalised fields, or raise InvalidArgument naming every bad field and why."""
    violations: list[FieldViolation] = []

    def check(name: str, normalise: Callable[[], T], fallback: T) -> T:
        try:
            return normalise()
        except InvalidArgument as error:
            violations.extend(error.violations or [FieldViolation(name, error.message)])
            return fallback

    def refuse(name: str, reason: str) -> None:
        violations.append(FieldViolation(name, reason))

    code = fields.code.strip()
    if not (len(code) == 7 and code.isascii() and code.isdigit()):
        refuse("code", "must be exactly 7 digits")
    short_name = fields.short_name.strip()
    if not short_name:
        refuse("short_name", "is required")
    for name, limit in MAX_LENGTH.items():
        value = getattr(fields, name)
        if len(value) > limit:
            refuse(name, f"is {len(value)} characters long; at most {limit} are allowed")

    tax_id = fields.tax_id.strip()
    if tax_id:
        tax_id = check("tax_id", lambda: validate_tax_id(tax_id, field="tax_id"), tax_id)
    if len(fields.phones) > MAX_PHONES:
        refuse("phones", f"at most {MAX_PHONES} phone numbers")
    phones = [
        check(f"phones[{index}]", partial(normalise_phone, phone, field=f"phones[{index}]"), phone)
        for index, phone in enumerate(fields.phones)
    ]
    if len(set(phones)) != len(phones):
        refuse("phones", "the same number is listed twice")
    postal_code = fields.postal_code.strip()
    if postal_code:
        postal_code = check("postal_code", lambda: validate_postal_code(postal_code, field="postal_code"), postal_code)

    zone = fields.zone.strip().upper()
    if zone not in load_zones():
        refuse("zone", f"unknown zone {fields.zone!r}; known zones are {', '.join(sorted(load_zones()))}")
    if (fields.latitude is None) != (fields.longitude is None):
        refuse("latitude" if fields.latitude is None else "longitude", "latitude and longitude go together")
    if fields.latitude is not None and not LATITUDE_RANGE[0] <= fields.latitude <= LATITUDE_RANGE[1]:
        refuse("latitude", f"must lie in Taiwan, between {LATITUDE_RANGE[0]} and {LATITUDE_RANGE[1]}")
    if fields.longitude is not None and not LONGITUDE_RANGE[0] <= fields.longitude <= LONGITUDE_RANGE[1]:
        refuse("longitude", f"must lie in Taiwan, between {LONGITUDE_RANGE[0]} and {LONGITUDE_RANGE[1]}")

    _check_choice(fields.segment, "segment", SEGMENTS, refuse)
    _check_choice(fields.vehicle_requirement, "vehicle_requirement", VEHICLE_REQUIREMENTS, refuse)
    _check_choice(fields.pricing_method, "pricing_method", PRICING_METHODS, refuse)
    _check_choice(fields.payment_terms, "payment_terms", PAYMENT_TERMS, refuse)

    windows = list(fields.hourly_windows) or [True] * HOURLY_WINDOW_COUNT
    if len(windows) != HOURLY_WINDOW_COUNT:
        refuse("hourly_windows", f"needs exactly {HOURLY_WINDOW_COUNT} one-hour windows (08-20), got {len(windows)}")
    elif not any(windows):
        refuse("hourly_windows", "at least one window must be open")
    if fields.slot_code is not None and not 0 <= fields.slot_code <= 3:
        refuse("slot_code", "must be 0 (all day), 1 (morning), 2 (afternoon) or 3 (evening)")
    rest_days = check("rest_days", lambda: parse_rest_days(fields.rest_days).to_text(), fields.rest_days)
    if len(rest_days) > MAX_REST_DAYS_LENGTH:
        refuse("rest_days", f"the rule is too long ({len(rest_days)} characters, at most {MAX_REST_DAYS_LENGTH})")

    for product, quantity in fields.cylinders.items():
        if product not in PRODUCTS:
            refuse(f"cylinders[{product}]", "unknown product code")
        elif not 0 < quantity <= MAX_COUNT:
            refuse(f"cylinders[{product}]", f"quantity must be between 1 and {MAX_COUNT}")
    for name in ("spare_cylinders", "manifolded_cylinders"):
        if not 0 <= getattr(fields, name) <= MAX_COUNT:
            refuse(name, f"must be between 0 and {MAX_COUNT}")
    if not 0 <= fields.consumption_kg_per_day <= 1000:
        refuse("consumption_kg_per_day", "must be between 0 and 1000 kg a day")
    for name in ("max_cycle_days", "slip_days"):
        if not 0 <= getattr(fields, name) <= 366:
            refuse(name, "must be between 0 and 366 days")
    if not 0 <= fields.credit_limit <= MAX_CREDIT_LIMIT:
        refuse("credit_limit", f"must be between 0 and {MAX_CREDIT_LIMIT:,} TWD")

    if violations:
        raise InvalidArgument.from_violations(violations)
    return replace(
        fields,
        code=code,
        short_name=short_name,
        invoice_title=fields.invoice_title.strip(),
        tax_id=tax_id,
        phones=phones,
        address=fields.address.strip(),
        postal_code=postal_code,
        zone=zone,
        hourly_windows=windows,
        rest_days=rest_days,
        cylinders=dict(sorted(fields.cylinders.items())),
        notes=fields.notes.strip(),
    )


def _check_choice(value: str, name: str, choices: tuple[str, ...], refuse: Callable[[str, str], None]) -> None:
    if value not in choices:
        shown = repr(value) if value else "empty"
        refuse(name, f"{shown} is not one of {', '.join(choices)}")
