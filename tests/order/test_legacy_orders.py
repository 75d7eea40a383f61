"""The order service's side of migration-sync: importing legacy deliveries, linking keys, the canonical form."""

from __future__ import annotations

import uuid
from dataclasses import astuple
from datetime import date
from typing import Any

import grpc
import pytest
from luckygas.customer.v1 import customer_pb2_grpc
from luckygas.order.v1 import order_pb2 as pb
from luckygas.order.v1 import order_pb2_grpc
from sqlalchemy import text

from services.order.price_lists import PriceLists
from services.order.schemas import PriceEntry
from services.platform import canonical
from services.platform.database import Database
from services.platform.products import PRODUCTS
from tests.order.factories import count, create_customer, create_request, items, proof, violations

Orders = order_pb2_grpc.OrderServiceStub
CUSTOMER = str(uuid.UUID(int=1))
OTHER_CUSTOMER = str(uuid.UUID(int=2))


def legacy(legacy_id: int, **overrides: Any) -> pb.LegacyOrder:
    values: dict[str, Any] = {
        "legacy_id": legacy_id,
        "customer_id": CUSTOMER,
        "customer_code": "1400001",
        "customer_zone": "A",
        "day": "2025-03-04",
        "time": "09:30",
        "salesperson": "王小明",
        "status": "delivered",
        "items": items(("cylinder-20-regular", 2), ("cylinder-16-lucky", 1)),
        "empties": [pb.EmptiesBySize(size_kg=20, count=2), pb.EmptiesBySize(size_kg=16, count=1)],
    }
    values.update(overrides)
    return pb.LegacyOrder(**values)


# One legacy row of each type the canonical form must render alike on both sides.
ROW_TYPES: dict[str, dict[str, Any]] = {
    "delivered with items and empties": {},
    "flow with metered kg": {
        "items": [],
        "empties": [],
        "metered": [
            pb.MeteredGas(product="flow-50-regular", tenths_kg=425),
            pb.MeteredGas(product="flow-20-lucky", tenths_kg=3),
        ],
    },
    "failed not home": {"status": "failed", "failure_reason": "not_home", "empties": []},
    "failed refused": {"status": "failed", "failure_reason": "refused", "empties": []},
    "cancelled": {"status": "cancelled", "empties": [], "time": ""},
    "pending": {"status": "pending", "empties": [], "day": "2026-01-02", "customer_code": "1500002"},
    "empties of two products of one size": {
        "items": items(("cylinder-20-regular", 1), ("propane-20", 1)),
        "empties": [pb.EmptiesBySize(size_kg=20, count=2), pb.EmptiesBySize(size_kg=50, count=1)],
    },
}


def expected_text(row: pb.LegacyOrder) -> str:
    return canonical.delivery_text(
        customer_code=row.customer_code,
        day=date.fromisoformat(row.day),
        status=row.status,
        failure_reason=row.failure_reason,
        items={item.product: item.quantity for item in row.items},
        metered_kg={entry.product: entry.tenths_kg / 10 for entry in row.metered},
        empties={entry.size_kg: entry.count for entry in row.empties},
    )


async def import_rows(orders: Orders, *rows: pb.LegacyOrder) -> pb.ImportLegacyOrdersResponse:
    return await orders.ImportLegacyOrders(pb.ImportLegacyOrdersRequest(orders=list(rows)))


async def test_an_import_creates_each_order_with_its_visit_and_no_event(
    orders: Orders, order_database: Database
) -> None:
    reply = await import_rows(orders, legacy(101), legacy(102, status="pending", empties=[]))

    assert [(entry.legacy_id, entry.outcome) for entry in reply.orders] == [
        (101, pb.IMPORT_OUTCOME_CREATED),
        (102, pb.IMPORT_OUTCOME_CREATED),
    ]
    delivered = await orders.GetOrder(pb.GetOrderRequest(id=reply.orders[0].order_id))
    assert (delivered.number, delivered.source, delivered.legacy_id) == ("LEGACY-101", "legacy", 101)
    assert delivered.status == pb.ORDER_STATUS_DELIVERED
    assert (delivered.scheduled_date, delivered.window.start, delivered.window.end) == ("2025-03-04", "09:30", "10:30")
    assert [(line.product, line.quantity) for line in delivered.proof.delivered] == [
        ("cylinder-20-regular", 2),
        ("cylinder-16-lucky", 1),
    ]
    assert {(item.product, item.quantity) for item in delivered.proof.empties_received} == {
        ("cylinder-20-regular", 2),
        ("cylinder-16-regular", 1),
    }
    assert delivered.created_by == "王小明"
    assert await count(order_database, "outbox") == 0
    async with order_database.session() as session:
        refill = (
            await session.execute(
                text('SELECT last_delivered_on, kg_delivered FROM "order".customer_refills WHERE customer_id = :id'),
                {"id": CUSTOMER},
            )
        ).one()
    assert (refill.last_delivered_on, refill.kg_delivered) == (date(2025, 3, 4), 56.0)


async def test_the_same_rows_again_are_unchanged_and_a_changed_row_is_updated_in_place(
    orders: Orders, order_database: Database
) -> None:
    first = await import_rows(orders, legacy(201), legacy(202))
    again = await import_rows(orders, legacy(201), legacy(202))
    assert [entry.outcome for entry in again.orders] == [pb.IMPORT_OUTCOME_UNCHANGED] * 2
    assert [entry.order_id for entry in again.orders] == [entry.order_id for entry in first.orders]

    changed = await import_rows(
        orders, legacy(201), legacy(202, status="failed", failure_reason="refused", items=items(("propane-16", 3)))
    )

    assert [entry.outcome for entry in changed.orders] == [pb.IMPORT_OUTCOME_UNCHANGED, pb.IMPORT_OUTCOME_UPDATED]
    order = await orders.GetOrder(pb.GetOrderRequest(id=first.orders[1].order_id))
    assert (order.status, order.failure_reason, order.version) == (pb.ORDER_STATUS_FAILED, "refused", 2)
    assert [(line.product, line.quantity) for line in order.items] == [("propane-16", 3)]
    assert await count(order_database, "orders") == 2
    assert await count(order_database, "outbox") == 0


async def test_a_bad_row_refuses_the_whole_batch_naming_each_field_and_writes_nothing(
    orders: Orders, order_database: Database
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await import_rows(
            orders,
            legacy(301),
            legacy(302, items=items(("flow-20-regular", 1))),
            legacy(303, status="pending", day="2025-02-30"),
            legacy(301),
        )

    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    found = violations(refused.value)
    assert set(found) == {"orders[1].items[0].product", "orders[2].day", "orders[2].empties", "orders[3].legacy_id"}
    assert "not a cylinder product" in found["orders[1].items[0].product"]
    assert await count(order_database, "orders") == 0


async def test_a_batch_past_a_thousand_rows_is_refused(orders: Orders) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await import_rows(orders, *(legacy(key) for key in range(1, 1002)))
    assert violations(refused.value).keys() == {"orders"}


async def test_imports_are_priced_from_the_list_in_force_or_else_the_oldest(
    orders: Orders, order_database: Database
) -> None:
    oldest = await PriceLists(order_database).on(date(2025, 1, 1))
    await PriceLists(order_database).add(
        date(2025, 6, 1),
        300,
        {
            product: PriceEntry(entry.unit_price * 2, entry.deposit, entry.unit)
            for product, entry in oldest.prices.items()
        },
    )
    one = items(("cylinder-20-regular", 1))
    reply = await import_rows(
        orders,
        legacy(401, day="2022-05-01", items=one),
        legacy(402, day="2025-07-01", items=one),
        legacy(403, items=[], empties=[], metered=[pb.MeteredGas(product="flow-20-regular", tenths_kg=125)]),
    )

    before, after, metered = [await orders.GetOrder(pb.GetOrderRequest(id=e.order_id)) for e in reply.orders]
    price = oldest.prices["cylinder-20-regular"].unit_price
    assert (before.subtotal, after.subtotal) == (price, 2 * price)
    assert metered.subtotal == (oldest.prices["flow-20-regular"].unit_price * 125 + 5) // 10


@pytest.mark.parametrize("row_type", list(ROW_TYPES))
async def test_the_canonical_text_in_sql_is_canonical_delivery_text(orders: Orders, row_type: str) -> None:
    row = legacy(500, **ROW_TYPES[row_type])
    await import_rows(orders, row)

    listed = await orders.ListCanonicalLegacyOrders(
        pb.ListCanonicalLegacyOrdersRequest(range=pb.KeyRange(start=500, end=501))
    )

    assert [(entry.key, entry.canonical) for entry in listed.rows] == [(500, expected_text(row))]


async def test_an_order_taken_here_and_linked_has_the_canonical_text_of_its_state(
    orders: Orders, customers: customer_pb2_grpc.CustomerServiceStub
) -> None:
    customer = await create_customer(customers)
    order = await orders.CreateOrder(create_request(customer.id))
    await orders.LinkLegacyOrder(pb.LinkLegacyOrderRequest(order_id=order.id, legacy_id=900))

    listed = await orders.ListCanonicalLegacyOrders(
        pb.ListCanonicalLegacyOrdersRequest(range=pb.KeyRange(start=900, end=901))
    )

    expected = canonical.delivery_text(
        customer_code=order.customer_code,
        day=date.fromisoformat(order.scheduled_date),
        status="pending",
        failure_reason="",
        items={"cylinder-20-regular": 2},
        metered_kg={},
        empties={},
    )
    assert [entry.canonical for entry in listed.rows] == [expected]


async def test_checksums_of_ranges_are_canonical_summaries(orders: Orders) -> None:
    rows = [legacy(1000 + index, **overrides) for index, overrides in enumerate(ROW_TYPES.values())]
    await import_rows(orders, *rows)
    texts = [(row.legacy_id, expected_text(row)) for row in rows]
    ranges = [(0, 1003), (1003, 1004), (1004, 2000), (5, 5), (0, 2**62)]

    reply = await orders.ChecksumLegacyOrders(
        pb.ChecksumLegacyOrdersRequest(ranges=[pb.KeyRange(start=start, end=end) for start, end in ranges])
    )

    expected = [canonical.summarise(start, end, texts) for start, end in ranges]
    assert [(c.range.start, c.range.end, c.count, int(c.digest_sum)) for c in reply.checksums] == [
        (summary.start, summary.end, summary.count, summary.digest_sum) for summary in expected
    ]
    assert reply.checksums[-1].count == len(rows)


async def live_summaries(orders: Orders, ranges: list[tuple[int, int]]) -> list[tuple[int, int, int, int]]:
    """Each range summarised from the canonical texts as computed now, row by row (what the stored digests hold)."""
    listed = await orders.ListCanonicalLegacyOrders(
        pb.ListCanonicalLegacyOrdersRequest(range=pb.KeyRange(start=0, end=2**62), limit=1000)
    )
    texts = [(row.key, row.canonical) for row in listed.rows]
    return [astuple(canonical.summarise(start, end, texts)) for start, end in ranges]


async def stored_summaries(orders: Orders, ranges: list[tuple[int, int]]) -> list[tuple[int, int, int, int]]:
    reply = await orders.ChecksumLegacyOrders(
        pb.ChecksumLegacyOrdersRequest(ranges=[pb.KeyRange(start=start, end=end) for start, end in ranges])
    )
    return [(c.range.start, c.range.end, c.count, int(c.digest_sum)) for c in reply.checksums]


async def test_the_stored_digests_follow_every_write_to_a_linked_order(
    orders: Orders, customers: customer_pb2_grpc.CustomerServiceStub, order_database: Database
) -> None:
    ranges = [(0, 2**62), (0, 1501), (1501, 1502), (1502, 2**62)]
    await import_rows(orders, *(legacy(1500 + index) for index in range(3)))
    assert await stored_summaries(orders, ranges) == await live_summaries(orders, ranges)

    # Re-imported with another status and items; an order taken here, linked, then taken through its life.
    await import_rows(orders, legacy(1501, status="failed", failure_reason="refused", items=[], empties=[]))
    customer = await create_customer(customers)
    order = await orders.CreateOrder(create_request(customer.id))
    await orders.LinkLegacyOrder(pb.LinkLegacyOrderRequest(order_id=order.id, legacy_id=1600))
    ranges.append((1600, 1601))
    assert await stored_summaries(orders, ranges) == await live_summaries(orders, ranges)
    for target, extra in (
        (pb.ORDER_STATUS_CONFIRMED, {}),
        (pb.ORDER_STATUS_ASSIGNED, {"route_id": "south-am"}),
        (pb.ORDER_STATUS_IN_DELIVERY, {}),
    ):
        await orders.TransitionOrder(pb.TransitionOrderRequest(id=order.id, target=target, **extra))
        assert await stored_summaries(orders, ranges) == await live_summaries(orders, ranges)
    await orders.CompleteDelivery(
        pb.CompleteDeliveryRequest(id=order.id, proof=proof(), request_id="pod-1600", actor="driver01")
    )
    assert await stored_summaries(orders, ranges) == await live_summaries(orders, ranges)

    # A legacy id no order holds any more loses its digest; one the stored form was not computed with is redone.
    async with order_database.session() as session:
        await session.execute(text('DELETE FROM "order".orders WHERE legacy_id = 1502'))
        await session.execute(text("UPDATE \"order\".legacy_digest_state SET definition = 'an older form'"))
        await session.execute(text('UPDATE "order".legacy_digests SET digest = 0'))
    assert await stored_summaries(orders, ranges) == await live_summaries(orders, ranges)
    assert (await stored_summaries(orders, [(1502, 1503)]))[0][2] == 0


async def test_a_range_ending_before_it_starts_is_refused(orders: Orders) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await orders.ChecksumLegacyOrders(
            pb.ChecksumLegacyOrdersRequest(ranges=[pb.KeyRange(start=0, end=9), pb.KeyRange(start=9, end=3)])
        )
    assert violations(refused.value).keys() == {"ranges[1]"}


async def test_canonical_rows_come_by_key_and_say_when_truncated(orders: Orders) -> None:
    await import_rows(orders, *(legacy(key) for key in (7, 3, 5, 9)))

    first = await orders.ListCanonicalLegacyOrders(
        pb.ListCanonicalLegacyOrdersRequest(range=pb.KeyRange(start=0, end=100), limit=3)
    )
    rest = await orders.ListCanonicalLegacyOrders(
        pb.ListCanonicalLegacyOrdersRequest(range=pb.KeyRange(start=first.rows[-1].key + 1, end=100), limit=3)
    )

    assert ([row.key for row in first.rows], first.truncated) == ([3, 5, 7], True)
    assert ([row.key for row in rest.rows], rest.truncated) == ([9], False)


async def test_linking_an_order_is_idempotent_and_never_steals_a_key(
    orders: Orders, customers: customer_pb2_grpc.CustomerServiceStub, order_database: Database
) -> None:
    customer = await create_customer(customers)
    order = await orders.CreateOrder(create_request(customer.id))
    other = await orders.CreateOrder(create_request(customer.id, additional=True))
    outbox = await count(order_database, "outbox")

    linked = await orders.LinkLegacyOrder(pb.LinkLegacyOrderRequest(order_id=order.id, legacy_id=77))
    again = await orders.LinkLegacyOrder(pb.LinkLegacyOrderRequest(order_id=order.id, legacy_id=77))

    assert (linked.legacy_id, again.legacy_id, again.version) == (77, 77, order.version)
    assert await count(order_database, "outbox") == outbox
    for order_id, legacy_id, reason in ((order.id, 78, "legacy id 77"), (other.id, 77, f"order {order.id}")):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await orders.LinkLegacyOrder(pb.LinkLegacyOrderRequest(order_id=order_id, legacy_id=legacy_id))
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert reason in (refused.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await orders.LinkLegacyOrder(pb.LinkLegacyOrderRequest(order_id=str(uuid.uuid4()), legacy_id=79))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND


async def test_an_imported_legacy_id_cannot_be_linked_to_another_order(
    orders: Orders, customers: customer_pb2_grpc.CustomerServiceStub
) -> None:
    await import_rows(orders, legacy(88))
    customer = await create_customer(customers)
    order = await orders.CreateOrder(create_request(customer.id))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await orders.LinkLegacyOrder(pb.LinkLegacyOrderRequest(order_id=order.id, legacy_id=88))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_every_product_has_a_size_in_the_canonical_sql() -> None:
    from services.order.legacy_repository import CANONICAL_SQL

    assert all(f'"{code}": "{product.size_kg}"' in CANONICAL_SQL for code, product in PRODUCTS.items())
