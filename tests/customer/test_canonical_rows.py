"""The reconcile RPCs: customers' canonical form by key range, through a real gRPC server on real Postgres."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from luckygas.customer.v1 import customer_pb2 as pb
from luckygas.customer.v1 import customer_pb2_grpc

from services.platform.canonical import customer_text, summarise
from tests.customer.factories import customer_fields
from tests.customer.test_servicer import violations

Stub = customer_pb2_grpc.CustomerServiceStub
EVERY_KEY = pb.KeyRange(start=0, end=10_000_000)


async def create(customers: Stub, *codes: str) -> None:
    for code in codes:
        await customers.CreateCustomer(pb.CreateCustomerRequest(customer=customer_fields(code=code)))


async def canonical_rows(customers: Stub, start: int, end: int, limit: int = 0) -> pb.ListCanonicalCustomersResponse:
    reply: pb.ListCanonicalCustomersResponse = await customers.ListCanonicalCustomers(
        pb.ListCanonicalCustomersRequest(range=pb.KeyRange(start=start, end=end), limit=limit)
    )
    return reply


async def test_a_customers_canonical_text_is_its_stored_fields_in_canonical_order(customers: Stub) -> None:
    created = await customers.CreateCustomer(pb.CreateCustomerRequest(customer=customer_fields(code="3000001")))
    await customers.TerminateCustomer(pb.TerminateCustomerRequest(id=created.id, reason="moved away"))

    reply = await canonical_rows(customers, 0, 10_000_000)

    stored = created.fields
    expected = customer_text(
        {
            "code": "3000001", "short_name": stored.short_name, "invoice_title": stored.invoice_title,
            "tax_id": stored.tax_id, "phones": list(stored.phones), "address": stored.address, "zone": "A",
            "segment": "night_market", "hourly_windows": list(stored.hourly_windows), "slot_code": 1,
            "rest_days": stored.rest_days, "vehicle_requirement": "car", "cylinders": {"cylinder-20-regular": 3},
            "consumption_kg_per_day": 4.6, "max_cycle_days": 11, "slip_days": 6, "pricing_method": "cylinder",
            "payment_terms": "cash", "subscription": False, "alert_device": True, "terminated": True,
        }
    )  # fmt: skip
    assert [(row.key, row.canonical) for row in reply.rows] == [(3000001, expected)]
    assert expected.startswith("3000001|鐵花小吃|鐵花小吃有限公司|04595257|089322123,0912345678|")
    assert expected.endswith("|cylinder|cash|0|1|1")
    assert not reply.truncated


async def test_rows_come_by_key_within_the_range_and_say_when_truncated(customers: Stub) -> None:
    await create(customers, "3000005", "3000002", "3000004", "3000003", "3000009")

    first = await canonical_rows(customers, 3000002, 3000009, limit=2)
    rest = await canonical_rows(customers, first.rows[-1].key + 1, 3000009)

    assert [row.key for row in first.rows] == [3000002, 3000003]
    assert first.truncated
    assert [row.key for row in rest.rows] == [3000004, 3000005]
    assert not rest.truncated


async def test_checksums_of_many_ranges_are_pythons_summaries_of_the_same_rows(customers: Stub) -> None:
    await create(customers, "0000001", "3000002", "3000003", "9999999")
    every_row = [(row.key, row.canonical) for row in (await canonical_rows(customers, 0, 10_000_000)).rows]
    ranges = [(-5, 2), (0, 3000003), (3000003, 3000003), (3000003, 2**62), (10_000_000, 20_000_000), (0, 2**62)]

    reply = await customers.ChecksumCustomers(
        pb.ChecksumCustomersRequest(ranges=[pb.KeyRange(start=start, end=end) for start, end in ranges])
    )

    answered = [(r.range.start, r.range.end, r.count, int(r.digest_sum)) for r in reply.ranges]
    expected = [summarise(start, end, every_row) for start, end in ranges]
    assert answered == [(s.start, s.end, s.count, s.digest_sum) for s in expected]
    assert [count for _, _, count, _ in answered] == [1, 2, 0, 2, 0, 4]


async def test_a_change_to_one_field_changes_the_checksum_of_its_range_only(customers: Stub) -> None:
    await create(customers, "3000011")
    other = await customers.CreateCustomer(pb.CreateCustomerRequest(customer=customer_fields(code="3000021")))
    request = pb.ChecksumCustomersRequest(
        ranges=[pb.KeyRange(start=0, end=3000020), pb.KeyRange(start=3000020, end=9000000)]
    )
    before = await customers.ChecksumCustomers(request)

    await customers.UpdateCustomer(
        pb.UpdateCustomerRequest(
            id=other.id,
            expected_version=1,
            customer=pb.CustomerFields(slip_days=7),
            update_mask=FieldMask(paths=["slip_days"]),
        )
    )
    after = await customers.ChecksumCustomers(request)

    assert after.ranges[0] == before.ranges[0]
    assert after.ranges[1].count == before.ranges[1].count
    assert after.ranges[1].digest_sum != before.ranges[1].digest_sum


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (pb.ListCanonicalCustomersRequest(range=pb.KeyRange(start=5, end=1)), "range"),
        (pb.ListCanonicalCustomersRequest(range=EVERY_KEY, limit=10_001), "limit"),
        (pb.ListCanonicalCustomersRequest(range=EVERY_KEY, limit=-1), "limit"),
    ],
)
async def test_a_reversed_range_or_a_limit_out_of_bounds_is_invalid(
    customers: Stub, request_: pb.ListCanonicalCustomersRequest, field: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await customers.ListCanonicalCustomers(request_)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in violations(raised.value)


async def test_too_many_or_reversed_checksum_ranges_are_invalid(customers: Stub) -> None:
    for ranges in ([EVERY_KEY] * 10_001, [EVERY_KEY, pb.KeyRange(start=2, end=1)]):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await customers.ChecksumCustomers(pb.ChecksumCustomersRequest(ranges=ranges))
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert set(violations(raised.value)) in ({"ranges"}, {"ranges[1]"})
