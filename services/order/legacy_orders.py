"""Orders and the legacy system (issue 13): importing its deliveries, linking its keys, and the reconcile's reads.

An import is a batch of legacy delivery rows, keyed by the legacy 序號: each becomes an order (source ``legacy``,
number ``LEGACY-<id>``), is updated in place when it differs, or is left alone. Imported orders pass no credit
check and record no event: they must not page a driver, and migration-sync, which writes legacy rows from order
events, must not see its own import come back. A batch is validated whole before anything is written; one bad
row refuses it, naming each bad field (``orders[3].items[0].product``), so no row is lost silently.

Prices: the list in force on the delivery day; a day before the oldest list is priced with the oldest list (the
legacy history predates the platform's price lists, and an estimate in today's terms beats failing the import).
A product the list does not price is priced 0. Metered gas is priced per kg (tenths rounded half up).
Delivered history is settled in the legacy system: a delivered import is marked paid on its delivery, so two
years of monthly history do not count against a customer's credit limit.
"""

from __future__ import annotations

import bisect
import json
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from services.order.legacy_repository import LegacyOrderRepository
from services.order.lifecycle import OrderStatus
from services.order.price_lists import PriceListRepository, PriceLists
from services.order.pricing import line_unit_price, vat_on
from services.order.repository import OrderRepository
from services.order.schemas import (
    CanonicalRows,
    ImportedOrder,
    KeyRange,
    LegacyOrderDraft,
    LegacyOrderInput,
    OrderRecord,
    PriceList,
    RangeChecksum,
)
from services.order.validation import (
    FAILURE_REASONS,
    MAX_ITEMS,
    MAX_NAME,
    MAX_QUANTITY,
    MIN_QUANTITY,
    PAYMENT_METHODS,
    _parse_time,
)
from services.platform.canonical import delivery_text
from services.platform.database import Database
from services.platform.errors import FailedPrecondition, FieldViolation, InvalidArgument, NotFound, VersionConflict
from services.platform.products import FULL_CYLINDER_GROSS_KG, PRODUCTS
from services.platform.proto_values import parse_date, parse_uuid

MAX_BATCH = 1000
MAX_RANGES = 1000
DEFAULT_CANONICAL_LIMIT, MAX_CANONICAL_LIMIT = 1000, 10000
MAX_TENTHS = 100_000  # 10 t of gas in one delivery is no delivery
MAX_EMPTIES = 1000
# The legacy history starts in 2021; these bounds only keep absurd dates (year 1, year 9999) out.
EARLIEST_DAY, LATEST_DAY = date(1912, 1, 1), date(2999, 12, 31)
LEGACY_STATUSES = (
    OrderStatus.PENDING,
    OrderStatus.ASSIGNED,
    OrderStatus.IN_DELIVERY,
    OrderStatus.DELIVERED,
    OrderStatus.FAILED,
    OrderStatus.CANCELLED,
)
VISITED = (OrderStatus.DELIVERED, OrderStatus.FAILED)
SOURCE = "legacy"
CANCEL_REASON = "cancelled in the legacy system"
# A row without a time is deliverable all day; one with a time gets the hour from it.
ALL_DAY = (time(8, 0), time(20, 0))
LAST_MINUTE = time(23, 59, 59)
TAIPEI = timedelta(hours=8)


def legacy_number(legacy_id: int) -> str:
    return f"LEGACY-{legacy_id}"


def empties_product(size_kg: int) -> str:
    """The legacy sheet counts empties per size, not per product: stored as the regular cylinder of that size."""
    return f"cylinder-{size_kg}-regular"


def canonical_of(draft: LegacyOrderDraft) -> str:
    return delivery_text(
        customer_code=draft.customer_code,
        day=draft.day,
        status=draft.status.value,
        failure_reason=draft.failure_reason,
        items={item.product: item.quantity for item in draft.items},
        metered_kg={product: tenths / 10 for product, tenths in draft.metered_tenths},
        empties=dict(draft.empties_by_size),
    )


# ------------------------------------------------------------------------------------------------ validation


def _window(value: str) -> tuple[time, time] | None:
    if not value:
        return ALL_DAY
    start = _parse_time(value)
    if start is None:
        return None
    end = (datetime.combine(date.min, start) + timedelta(hours=1)).time()
    return start, end if end > start else LAST_MINUTE


def validate_legacy_order(order: LegacyOrderInput, prefix: str) -> tuple[LegacyOrderDraft | None, list[FieldViolation]]:
    violations: list[FieldViolation] = []

    def refuse(field: str, reason: str) -> None:
        violations.append(FieldViolation(f"{prefix}.{field}", reason))

    if order.legacy_id < 1:
        refuse("legacy_id", f"must be a legacy key of at least 1, not {order.legacy_id}")
    customer_id = None
    try:
        customer_id = parse_uuid(order.customer_id, "customer_id", "a customer id")
    except InvalidArgument as error:
        refuse("customer_id", error.violations[0].reason if error.violations else str(error))
    if not (len(order.customer_code) == 7 and order.customer_code.isascii() and order.customer_code.isdigit()):
        refuse("customer_code", f"must be 7 digits, not {order.customer_code!r}")
    zone = order.customer_zone
    if not (1 <= len(zone) <= 2 and zone.isascii() and zone.isalpha()):
        refuse("customer_zone", f"must be a zone code of one or two letters, not {zone!r}")
    day = None
    if not order.day:
        refuse("day", "is required (YYYY-MM-DD)")
    else:
        try:
            day = parse_date(order.day, "day")
        except InvalidArgument:
            refuse("day", f"{order.day!r} is not a date (YYYY-MM-DD)")
        if day is not None and not EARLIEST_DAY <= day <= LATEST_DAY:
            refuse("day", f"must be from {EARLIEST_DAY} to {LATEST_DAY}, not {day}")
            day = None
    window = _window(order.time)
    if window is None:
        refuse("time", f"{order.time!r} is not a time (HH:MM) nor empty")
    if len(order.salesperson) > MAX_NAME:
        refuse("salesperson", f"at most {MAX_NAME} characters")
    status = next((s for s in LEGACY_STATUSES if s.value == order.status), None)
    if status is None:
        refuse("status", f"must be one of {', '.join(LEGACY_STATUSES)}, not {order.status!r}")
    if order.failure_reason and order.failure_reason not in FAILURE_REASONS:
        refuse("failure_reason", f"must be empty or one of {', '.join(FAILURE_REASONS)}")
    elif order.failure_reason and status is not None and status != OrderStatus.FAILED:
        refuse("failure_reason", f"only a failed order has one; this one is {status}")
    if order.payment_method and order.payment_method not in PAYMENT_METHODS:
        refuse("payment_method", f"must be empty or one of {', '.join(PAYMENT_METHODS)}")

    if len(order.items) > MAX_ITEMS:
        refuse("items", f"at most {MAX_ITEMS} items")
    seen: set[object] = set()
    for index, item in enumerate(order.items):
        product = PRODUCTS.get(item.product)
        if product is None or product.method != "cylinder":
            refuse(f"items[{index}].product", f"{item.product!r} is not a cylinder product (metered gas: metered)")
        elif item.product in seen:
            refuse(f"items[{index}].product", f"{item.product} is listed twice")
        seen.add(item.product)
        if not MIN_QUANTITY <= item.quantity <= MAX_QUANTITY:
            refuse(f"items[{index}].quantity", f"must be {MIN_QUANTITY} to {MAX_QUANTITY}, not {item.quantity}")
    metered: list[tuple[str, int]] = []
    for index, (code, tenths) in enumerate(order.metered_tenths):
        product = PRODUCTS.get(code)
        if product is None or product.method != "flow":
            refuse(f"metered[{index}].product", f"{code!r} is not a flow product")
        elif code in seen:
            refuse(f"metered[{index}].product", f"{code} is listed twice")
        seen.add(code)
        if not 0 <= tenths <= MAX_TENTHS:
            refuse(f"metered[{index}].tenths_kg", f"must be 0 to {MAX_TENTHS} tenths of a kg, not {tenths}")
        elif tenths:
            metered.append((code, tenths))
    empties: list[tuple[int, int]] = []
    for index, (size, count) in enumerate(order.empties_by_size):
        if size not in FULL_CYLINDER_GROSS_KG:
            refuse(f"empties[{index}].size_kg", f"must be one of {', '.join(map(str, FULL_CYLINDER_GROSS_KG))}")
        elif ("size", size) in seen:
            refuse(f"empties[{index}].size_kg", f"{size} kg is listed twice")
        seen.add(("size", size))
        if not 0 <= count <= MAX_EMPTIES:
            refuse(f"empties[{index}].count", f"must be 0 to {MAX_EMPTIES}, not {count}")
        elif count:
            empties.append((size, count))
    if empties and status is not None and status not in VISITED:
        refuse("empties", f"empties are taken back on a visit (delivered or failed); this order is {status}")

    if violations or customer_id is None or day is None or window is None or status is None:
        return None, violations
    return (
        LegacyOrderDraft(
            legacy_id=order.legacy_id,
            customer_id=customer_id,
            customer_code=order.customer_code,
            customer_zone=zone,
            day=day,
            window_start=window[0],
            window_end=window[1],
            salesperson=order.salesperson.strip(),
            status=status,
            failure_reason=order.failure_reason,
            items=tuple(order.items),
            metered_tenths=tuple(metered),
            empties_by_size=tuple(sorted(empties)),
            payment_method=order.payment_method or "cash",
        ),
        [],
    )


def validate_batch(orders: Sequence[LegacyOrderInput]) -> list[LegacyOrderDraft]:
    if not orders:
        raise InvalidArgument.for_field("orders", "at least one order is required")
    if len(orders) > MAX_BATCH:
        raise InvalidArgument.for_field("orders", f"at most {MAX_BATCH} orders per call, not {len(orders)}")
    drafts: list[LegacyOrderDraft] = []
    violations: list[FieldViolation] = []
    first_index: dict[int, int] = {}
    for index, order in enumerate(orders):
        earlier = first_index.setdefault(order.legacy_id, index)
        if earlier != index:
            violations.append(FieldViolation(f"orders[{index}].legacy_id", f"repeats orders[{earlier}].legacy_id"))
        draft, found = validate_legacy_order(order, f"orders[{index}]")
        violations += found
        if draft is not None:
            drafts.append(draft)
    if violations:
        raise InvalidArgument.from_violations(violations)
    return drafts


def check_range(key_range: KeyRange, field: str) -> None:
    if key_range.end < key_range.start:
        raise InvalidArgument.for_field(field, f"end {key_range.end} is before start {key_range.start}")


# --------------------------------------------------------------------------------------------------- rows


def _price_list_for(day: date, lists: list[tuple[date, int]]) -> int:
    """The list in force on ``day``; the oldest one for a day before every list."""
    position = bisect.bisect_right([effective for effective, _ in lists], day)
    return lists[max(position - 1, 0)][1]


def _order_values(draft: LegacyOrderDraft, order_id: uuid.UUID, price_list: PriceList) -> dict[str, Any]:
    lines = []
    for position, item in enumerate(draft.items):
        entry = price_list.prices.get(item.product)
        unit_price = line_unit_price(item.product, entry) if entry is not None else 0
        lines.append((position, item, unit_price))
    metered_amount = 0
    for product, tenths in draft.metered_tenths:
        entry = price_list.prices.get(product)
        metered_amount += ((entry.unit_price * tenths + 5) // 10) if entry is not None else 0
    subtotal = sum(unit_price * item.quantity for _, item, unit_price in lines) + metered_amount
    vat = vat_on(subtotal)
    visited_at = datetime.combine(draft.day, draft.window_start, tzinfo=UTC) - TAIPEI
    return {
        "id": order_id,
        "customer_id": draft.customer_id,
        "customer_code": draft.customer_code,
        "customer_zone": draft.customer_zone,
        "status": draft.status.value,
        "scheduled_date": draft.day,
        "window_start": draft.window_start,
        "window_end": draft.window_end,
        "payment_method": draft.payment_method,
        "price_list_id": price_list.id,
        "subtotal": subtotal,
        "vat": vat,
        "total": subtotal + vat,
        "cancel_reason": CANCEL_REASON if draft.status == OrderStatus.CANCELLED else "",
        "failure_reason": draft.failure_reason,
        "paid_at": visited_at if draft.status == OrderStatus.DELIVERED else None,
        "created_by": draft.salesperson,
        "metered": [[product, tenths] for product, tenths in draft.metered_tenths],
        "_lines": lines,
        "_visited_at": visited_at,
    }


def _new_order(values: dict[str, Any], legacy_id: int) -> dict[str, Any]:
    row = {key: value for key, value in values.items() if not key.startswith("_")}
    row.update(
        number=legacy_number(legacy_id),
        urgent=False,
        additional=False,
        notes="",
        source=SOURCE,
        urgent_surcharge=0,
        credit_override_by=None,
        credit_override_reason=None,
        route_id="",
        create_request_id=f"legacy:{legacy_id}",
        create_fingerprint="",
        version=1,
        legacy_id=legacy_id,
    )
    return row


def _changed_order(values: dict[str, Any]) -> dict[str, Any]:
    row = {key: value for key, value in values.items() if not key.startswith("_")}
    row["metered"] = json.dumps(row["metered"])
    return row


def _lines_and_visit(
    draft: LegacyOrderDraft, values: dict[str, Any]
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    items = [
        {
            "order_id": values["id"],
            "position": position,
            "product": item.product,
            "quantity": item.quantity,
            "unit_price": unit_price,
            "line_total": unit_price * item.quantity,
        }
        for position, item, unit_price in values["_lines"]
    ]
    if draft.status not in VISITED:
        return items, None
    delivered = draft.status == OrderStatus.DELIVERED
    visit = {
        "order_id": values["id"],
        "outcome": draft.status.value,
        "request_id": f"legacy:{draft.legacy_id}",
        "fingerprint": "",
        "recipient_name": "",
        "signature_png": None,
        "photo": None,
        "photo_content_type": "",
        "delivered": [[item.product, item.quantity] for item in draft.items] if delivered else [],
        "empties_received": [[empties_product(size), count] for size, count in draft.empties_by_size],
        "residual_gas_kg": 0.0,
        "cash_collected": 0,
        "failure_reason": draft.failure_reason,
        "notes": "",
        "occurred_at": values["_visited_at"],
        "recorded_by": draft.salesperson,
    }
    return items, visit


class LegacyOrderService:
    def __init__(self, database: Database, price_lists: PriceLists) -> None:
        self.database = database
        self.price_lists = price_lists

    async def import_orders(self, orders: Sequence[LegacyOrderInput]) -> list[ImportedOrder]:
        """Create, update or leave each row's order; one transaction for the batch, a few statements per table."""
        drafts = validate_batch(orders)
        keys = [draft.legacy_id for draft in drafts]
        async with self.database.session() as session:
            repository = LegacyOrderRepository(session)
            # Concurrent imports (and links) of one legacy id queue here; the unique index is the last defence.
            await repository.lock(keys)
            lists = await repository.price_lists()
            if not lists:
                raise FailedPrecondition("no price list exists to price imported orders with")
            existing = await repository.existing(keys)
            price_lists = PriceListRepository(session, self.price_lists.known)
            outcomes: list[ImportedOrder] = []
            created: list[dict[str, Any]] = []
            changed: list[dict[str, Any]] = []
            items: list[dict[str, Any]] = []
            visits: list[dict[str, Any]] = []
            refills: set[uuid.UUID] = set()
            for draft in drafts:
                before = existing.get(draft.legacy_id)
                comparable = (
                    canonical_of(draft),
                    draft.customer_id,
                    draft.customer_zone,
                    draft.window_start,
                    draft.window_end,
                    draft.payment_method,
                    draft.salesperson,
                )
                if before is not None and before.comparable == comparable:
                    outcomes.append(ImportedOrder(draft.legacy_id, before.order_id, "unchanged"))
                    continue
                order_id = uuid.uuid4() if before is None else before.order_id
                price_list = await price_lists.load(_price_list_for(draft.day, lists))
                values = _order_values(draft, order_id, price_list)
                lines, visit = _lines_and_visit(draft, values)
                items += lines
                if visit is not None:
                    visits.append(visit)
                if before is None:
                    created.append(_new_order(values, draft.legacy_id))
                else:
                    changed.append(_changed_order(values))
                    # The customer the order used to belong to may have lost its latest delivery.
                    refills.add(before.comparable[1])
                if draft.status == OrderStatus.DELIVERED or before is not None:
                    refills.add(draft.customer_id)
                outcomes.append(ImportedOrder(draft.legacy_id, order_id, "created" if before is None else "updated"))
            if await repository.insert_orders(created) != len(created):
                raise VersionConflict("some of these legacy ids were imported by another call meanwhile; retry")
            await repository.update_orders(changed)
            await repository.replace_lines([row["id"] for row in changed], items, visits)
            await repository.refresh_refills(refills)
            return outcomes

    async def link(self, order_id: str, legacy_id: int) -> OrderRecord:
        parsed = parse_uuid(order_id, "order_id", "an order id")
        if legacy_id < 1:
            raise InvalidArgument.for_field("legacy_id", f"must be a legacy key of at least 1, not {legacy_id}")
        async with self.database.session() as session:
            repository = LegacyOrderRepository(session)
            await repository.lock([legacy_id])
            found = await repository.link(parsed, legacy_id)
            if found is None:
                raise NotFound(f"order {order_id} does not exist")
            current, holder = found
            if current is not None and current != legacy_id:
                raise FailedPrecondition(
                    f"order {order_id} is already linked to legacy id {current}, not {legacy_id}",
                    [FieldViolation("legacy_id", f"the order has legacy id {current}")],
                )
            if holder is not None and holder != parsed:
                raise FailedPrecondition(
                    f"legacy id {legacy_id} is already linked to order {holder}",
                    [FieldViolation("legacy_id", f"belongs to order {holder}")],
                )
            record = await OrderRepository(session).get(parsed)
        if record is None:
            raise NotFound(f"order {order_id} does not exist")
        return record

    async def checksums(self, ranges: Sequence[KeyRange]) -> list[RangeChecksum]:
        if not ranges:
            raise InvalidArgument.for_field("ranges", "at least one range is required")
        if len(ranges) > MAX_RANGES:
            raise InvalidArgument.for_field("ranges", f"at most {MAX_RANGES} ranges per call, not {len(ranges)}")
        for index, key_range in enumerate(ranges):
            check_range(key_range, f"ranges[{index}]")
        async with self.database.session() as session:
            await LegacyOrderRepository(session).refresh_digests()
        async with self.database.read_session() as session:
            return await LegacyOrderRepository(session).checksums(ranges)

    async def canonical(self, key_range: KeyRange, limit: int) -> CanonicalRows:
        check_range(key_range, "range")
        if not 0 <= limit <= MAX_CANONICAL_LIMIT:
            raise InvalidArgument.for_field(
                "limit", f"must be 1 to {MAX_CANONICAL_LIMIT} (0: {DEFAULT_CANONICAL_LIMIT})"
            )
        limit = limit or DEFAULT_CANONICAL_LIMIT
        async with self.database.read_session() as session:
            rows = await LegacyOrderRepository(session).canonical(key_range, limit + 1)
        return CanonicalRows(rows[:limit], len(rows) > limit)
