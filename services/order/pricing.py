"""Pricing an order from the price list in force on its date: lines, urgent surcharge and 5% VAT, in whole TWD.

Prices in the list exclude VAT. Cylinder products are priced per cylinder; flow (metered) products per kg,
so an order line for a flow product is priced at the per-kg price × the cylinder size: the estimate the
office quotes, settled against the meter when billed.

VAT is 5% of (lines + urgent surcharge), rounded half up to a whole NT$ once per order (NT$12.50 → 13,
NT$12.49 → 12), which is how a Taiwanese invoice rounds its tax amount.
"""

from __future__ import annotations

from services.order.schemas import ItemInput, OrderLine, PriceEntry, PriceList, Totals
from services.platform.errors import FieldViolation, InvalidArgument
from services.platform.products import PRODUCTS

VAT_PERCENT = 5


def vat_on(amount: int) -> int:
    """5% of ``amount`` rounded half up, in integer arithmetic (no float rounding surprises)."""
    return (amount * VAT_PERCENT + 50) // 100


def line_unit_price(product: str, entry: PriceEntry) -> int:
    if entry.unit == "kg":
        return entry.unit_price * PRODUCTS[product].size_kg
    return entry.unit_price


def price_order(items: tuple[ItemInput, ...], price_list: PriceList, *, urgent: bool) -> Totals:
    """The order's lines and totals; a product the list does not price is InvalidArgument on that item."""
    missing = [
        FieldViolation(
            f"items[{index}].product", f"has no price in the list effective from {price_list.effective_from}"
        )
        for index, item in enumerate(items)
        if item.product not in price_list.prices
    ]
    if missing:
        raise InvalidArgument.from_violations(missing)
    lines = []
    for item in items:
        unit_price = line_unit_price(item.product, price_list.prices[item.product])
        lines.append(OrderLine(item.product, item.quantity, unit_price, unit_price * item.quantity))
    subtotal = sum(line.line_total for line in lines)
    surcharge = price_list.urgent_surcharge if urgent else 0
    vat = vat_on(subtotal + surcharge)
    return Totals(tuple(lines), subtotal, surcharge, vat, subtotal + surcharge + vat)
