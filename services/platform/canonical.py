"""The canonical form of a customer and of a delivery: how migration-sync proves the legacy and new sides equal.

Each side renders its rows to the same text, field by field in a fixed order, and hashes it together with the
row's key. A key range is then summarised by (row count, sum of digests): equal summaries mean equal rows with
overwhelming probability, and a summary differs when any row is missing, extra, changed, or when two rows swap
values (the key is part of what is hashed). Nothing is normalised here: a trailing space or a different Unicode
form is a difference, which is what a reconcile must report.

The delivery form is also computed in SQL by the order service (its orders) and by migration-sync (the legacy
table) for key ranges of a million rows; ``DIGEST_SQL`` is the one expression both use, and the tests hold the
SQL renderings equal to ``delivery_text`` here, row type by row type.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

SEPARATOR = "|"
LIST_SEPARATOR = ","
WINDOWS = 12  # one-hour delivery windows, 08-09 .. 19-20

# The customer fields both systems hold, in canonical order (names as in customer.proto's CustomerFields, plus
# ``terminated``). Postal code, position, credit limit, notes and the like exist only in the new platform.
CUSTOMER_FIELDS = (
    "code",
    "short_name",
    "invoice_title",
    "tax_id",
    "phones",
    "address",
    "zone",
    "segment",
    "hourly_windows",
    "slot_code",
    "rest_days",
    "vehicle_requirement",
    "cylinders",
    "consumption_kg_per_day",
    "max_cycle_days",
    "slip_days",
    "pricing_method",
    "payment_terms",
    "subscription",
    "alert_device",
    "terminated",
)

# A delivery's fields in canonical order; the key (the legacy 序號, or the order's legacy id) is not among them.
DELIVERY_FIELDS = ("customer_code", "day", "status", "failure_reason", "items", "metered", "empties")

# In SQL, over a text column ``canonical`` and a bigint ``key``: the first 64 bits of md5(key|canonical) as a
# signed bigint. Python's ``digest`` is the same number.
DIGEST_SQL = "('x' || substr(md5({key}::text || '|' || {canonical}), 1, 16))::bit(64)::bigint"


def digest(key: int, canonical: str) -> int:
    """The first 64 bits of md5("key|canonical"), signed: what ``DIGEST_SQL`` computes."""
    hashed = hashlib.md5(f"{key}{SEPARATOR}{canonical}".encode(), usedforsecurity=False).digest()
    return int.from_bytes(hashed[:8], "big", signed=True)


@dataclass(frozen=True)
class RangeSummary:
    """Rows with a key in [start, end): how many, and the sum of their digests (exact, never wrapped)."""

    start: int
    end: int
    count: int
    digest_sum: int


def summarise(start: int, end: int, rows: Iterable[tuple[int, str]]) -> RangeSummary:
    """The summary of (key, canonical text) rows, those outside [start, end) ignored."""
    count = total = 0
    for key, canonical in rows:
        if start <= key < end:
            count += 1
            total += digest(key, canonical)
    return RangeSummary(start, end, count, total)


def _pairs(values: Mapping[str, int]) -> str:
    return LIST_SEPARATOR.join(f"{product}={quantity}" for product, quantity in sorted(values.items()) if quantity)


def tenths(kg: float) -> int:
    """Kilograms as whole tenths, the legacy meter columns' precision (numeric(8,1))."""
    return round(kg * 10)


def _flag(value: bool) -> str:
    return "1" if value else "0"


def _windows(windows: Sequence[bool]) -> str:
    # The platform stores "no windows" as all twelve allowed; the legacy sheet has twelve 1s for it.
    return "".join(_flag(open_) for open_ in windows) if windows else "1" * WINDOWS


def _customer_value(name: str, value: object) -> str:
    if name == "hourly_windows":
        return _windows(value)  # type: ignore[arg-type]
    if name == "phones":
        return LIST_SEPARATOR.join(value)  # type: ignore[arg-type]
    if name == "cylinders":
        return _pairs(value)  # type: ignore[arg-type]
    if name == "consumption_kg_per_day":
        return f"{float(value):.3f}"  # type: ignore[arg-type]
    if isinstance(value, bool):
        return _flag(value)
    return "" if value is None else str(value)


def customer_values(record: Mapping[str, object]) -> dict[str, str]:
    """Each canonical customer field rendered as text: what a field-level difference is reported in."""
    return {name: _customer_value(name, record[name]) for name in CUSTOMER_FIELDS}


def customer_text(record: Mapping[str, object]) -> str:
    """``record`` holds every name of ``CUSTOMER_FIELDS``: phones a sequence of digits-only numbers, hourly
    windows twelve booleans (or none: all allowed), cylinders product → count, slot code an int or None."""
    return SEPARATOR.join(customer_values(record).values())


def customer_key(code: str) -> int:
    """Customers are keyed by their 7-digit code read as a number."""
    return int(code)


def delivery_values(
    *,
    customer_code: str,
    day: date,
    status: str,
    failure_reason: str | None,
    items: Mapping[str, int],
    metered_kg: Mapping[str, float],
    empties: Mapping[int, int],
) -> dict[str, str]:
    """Each canonical delivery field as text. ``status`` is the platform's order status; items and metered kg list
    only non-zero entries, sorted by product code, as ``product=quantity`` joined by commas (metered kg in whole
    tenths: 12.5 kg is ``125``). Empties are counted per cylinder size in kg, as the legacy sheet records them
    (``20=3,50=1``, sorted by the size's text), whichever product of that size they were."""
    return {
        "customer_code": customer_code,
        "day": day.isoformat(),
        "status": status,
        "failure_reason": failure_reason or "",
        "items": _pairs(items),
        "metered": _pairs({product: tenths(kg) for product, kg in metered_kg.items()}),
        "empties": _pairs({str(size): count for size, count in empties.items()}),
    }


def delivery_text(
    *,
    customer_code: str,
    day: date,
    status: str,
    failure_reason: str | None,
    items: Mapping[str, int],
    metered_kg: Mapping[str, float],
    empties: Mapping[int, int],
) -> str:
    return SEPARATOR.join(
        delivery_values(
            customer_code=customer_code,
            day=day,
            status=status,
            failure_reason=failure_reason,
            items=items,
            metered_kg=metered_kg,
            empties=empties,
        ).values()
    )


def field_differences(fields: Sequence[str], left: str, right: str) -> dict[str, tuple[str, str]]:
    """The fields whose values differ between two canonical texts of the same shape: name → (left, right)."""
    left_values, right_values = left.split(SEPARATOR), right.split(SEPARATOR)
    if len(left_values) != len(fields) or len(right_values) != len(fields):
        # A separator inside a value: report the whole row rather than misattribute fields.
        return {"*": (left, right)} if left != right else {}
    return {
        name: (before, after)
        for name, before, after in zip(fields, left_values, right_values, strict=True)
        if before != after
    }
