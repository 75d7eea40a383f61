"""The customer service through a real gRPC server and channel, on real Postgres."""

from __future__ import annotations

import asyncio
import json

import grpc
import pytest
import redis.asyncio as aioredis
from google.protobuf.field_mask_pb2 import FieldMask
from luckygas.customer.v1 import customer_pb2 as pb
from luckygas.customer.v1 import customer_pb2_grpc
from sqlalchemy import text

from services.customer.models import outbox
from services.customer.schemas import FIELD_NAMES
from services.platform.database import Database
from services.platform.interceptors import VIOLATIONS_METADATA_KEY
from services.platform.outbox import EventEnvelope, OutboxRelay
from tests.customer.factories import customer_fields

Stub = customer_pb2_grpc.CustomerServiceStub


def violations(error: grpc.aio.AioRpcError) -> dict[str, str]:
    for key, value in error.trailing_metadata() or ():
        if key == VIOLATIONS_METADATA_KEY:
            return {item["field"]: item["reason"] for item in json.loads(value)}
    return {}


async def count_customers(database: Database) -> int:
    async with database.session() as session:
        return int((await session.execute(text("SELECT count(*) FROM customer.customers"))).scalar_one())


async def test_create_then_get_returns_normalised_customer(customers: Stub) -> None:
    created = await customers.CreateCustomer(pb.CreateCustomerRequest(customer=customer_fields(code="1000001")))

    fetched = await customers.GetCustomer(pb.GetCustomerRequest(id=created.id))

    assert fetched == created
    assert fetched.version == 1
    assert list(fetched.fields.phones) == ["089322123", "0912345678"]
    assert fetched.fields.code == "1000001"
    by_code = await customers.GetCustomer(pb.GetCustomerRequest(code="1000001"))
    assert by_code.id == created.id


async def test_get_unknown_customer_is_not_found(customers: Stub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await customers.GetCustomer(pb.GetCustomerRequest(id="00000000-0000-0000-0000-000000000000"))
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"zone": "Z"}, "zone"),
        ({"tax_id": "04595258"}, "tax_id"),
        ({"phones": ["089-12345"]}, "phones[0]"),
        ({"hourly_windows": [True] * 13}, "hourly_windows"),
        ({"slot_code": 7}, "slot_code"),
        ({"short_name": "店" * 101}, "short_name"),
        ({"code": "12345"}, "code"),
        ({"segment": "casino"}, "segment"),
        ({"rest_days": "8.9.Blue"}, "rest_days"),
        ({"rest_days": ".".join(str(day) for day in range(8, 32))}, "rest_days"),
        ({"latitude": 35.0}, "latitude"),
        ({"cylinders": [pb.CylinderHolding(product="cylinder-99-gold", quantity=1)]}, "cylinders[cylinder-99-gold]"),
    ],
)
async def test_bad_input_is_invalid_argument_naming_the_field_and_writes_nothing(
    customers: Stub, database: Database, overrides: dict[str, object], field: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await customers.CreateCustomer(pb.CreateCustomerRequest(customer=customer_fields(**overrides)))

    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in violations(raised.value)
    assert await count_customers(database) == 0


async def test_every_bad_field_is_reported_at_once(customers: Stub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await customers.CreateCustomer(
            pb.CreateCustomerRequest(customer=customer_fields(zone="Q", tax_id="12345678", segment=""))
        )
    assert {"zone", "tax_id", "segment"} <= set(violations(raised.value))


async def test_duplicate_code_is_already_exists(customers: Stub, database: Database) -> None:
    await customers.CreateCustomer(pb.CreateCustomerRequest(customer=customer_fields(code="1000002")))

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await customers.CreateCustomer(pb.CreateCustomerRequest(customer=customer_fields(code="1000002")))

    assert raised.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert "code" in violations(raised.value)
    assert await count_customers(database) == 1


async def test_create_with_same_request_id_concurrently_makes_one_customer(customers: Stub, database: Database) -> None:
    request = pb.CreateCustomerRequest(customer=customer_fields(code="1000003"), request_id="retry-me")

    replies = await asyncio.gather(*(customers.CreateCustomer(request) for _ in range(10)))

    assert len({reply.id for reply in replies}) == 1
    assert await count_customers(database) == 1


async def test_request_id_reused_with_another_body_is_refused(customers: Stub) -> None:
    await customers.CreateCustomer(pb.CreateCustomerRequest(customer=customer_fields(), request_id="key-1"))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await customers.CreateCustomer(pb.CreateCustomerRequest(customer=customer_fields(), request_id="key-1"))
    assert raised.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert "request_id" in violations(raised.value)


async def test_update_with_current_version_applies_only_masked_fields(customers: Stub) -> None:
    created = await customers.CreateCustomer(pb.CreateCustomerRequest(customer=customer_fields()))

    updated = await customers.UpdateCustomer(
        pb.UpdateCustomerRequest(
            id=created.id,
            expected_version=1,
            customer=pb.CustomerFields(short_name="鐵花熱炒", zone="ignored-because-not-masked"),
            update_mask=FieldMask(paths=["short_name"]),
        )
    )

    assert updated.version == 2
    assert updated.fields.short_name == "鐵花熱炒"
    assert updated.fields.zone == created.fields.zone


async def test_update_with_stale_version_is_aborted_and_keeps_the_newer_write(customers: Stub) -> None:
    created = await customers.CreateCustomer(pb.CreateCustomerRequest(customer=customer_fields()))
    first = pb.UpdateCustomerRequest(
        id=created.id,
        expected_version=1,
        customer=pb.CustomerFields(notes="first"),
        update_mask=FieldMask(paths=["notes"]),
    )
    second = pb.UpdateCustomerRequest(
        id=created.id,
        expected_version=1,
        customer=pb.CustomerFields(notes="second"),
        update_mask=FieldMask(paths=["notes"]),
    )
    await customers.UpdateCustomer(first)

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await customers.UpdateCustomer(second)

    assert raised.value.code() == grpc.StatusCode.ABORTED
    current = await customers.GetCustomer(pb.GetCustomerRequest(id=created.id))
    assert current.fields.notes == "first"
    assert current.version == 2


async def test_update_mask_with_unknown_field_is_invalid(customers: Stub) -> None:
    created = await customers.CreateCustomer(pb.CreateCustomerRequest(customer=customer_fields()))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await customers.UpdateCustomer(
            pb.UpdateCustomerRequest(id=created.id, expected_version=1, update_mask=FieldMask(paths=["version"]))
        )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "update_mask" in violations(raised.value)


async def test_terminate_is_idempotent_and_blocks_updates(customers: Stub) -> None:
    created = await customers.CreateCustomer(pb.CreateCustomerRequest(customer=customer_fields()))

    first = await customers.TerminateCustomer(pb.TerminateCustomerRequest(id=created.id, reason="closed shop"))
    again = await customers.TerminateCustomer(pb.TerminateCustomerRequest(id=created.id, reason="closed shop"))

    assert first.terminated
    assert first == again
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await customers.UpdateCustomer(
            pb.UpdateCustomerRequest(
                id=created.id,
                expected_version=first.version,
                customer=pb.CustomerFields(notes="x"),
                update_mask=FieldMask(paths=["notes"]),
            )
        )
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_search_pages_through_every_match_once_in_code_order(customers: Stub) -> None:
    for index in range(7):
        await customers.CreateCustomer(
            pb.CreateCustomerRequest(customer=customer_fields(code=f"30000{index:02d}", zone="B" if index % 2 else "C"))
        )

    seen: list[str] = []
    token = ""
    while True:
        page = await customers.SearchCustomers(pb.SearchCustomersRequest(zones=["B"], page_size=2, page_token=token))
        seen += [customer.fields.code for customer in page.customers]
        token = page.next_page_token
        if not token:
            break

    assert seen == ["3000001", "3000003", "3000005"]


@pytest.mark.parametrize("query", ["鐵花", "0912-345", "新生路", "3000099"])
async def test_search_text_matches_name_phone_address_and_code(customers: Stub, query: str) -> None:
    await customers.CreateCustomer(pb.CreateCustomerRequest(customer=customer_fields(code="3000099")))
    await customers.CreateCustomer(
        pb.CreateCustomerRequest(
            customer=customer_fields(
                short_name="知本溫泉餐廳",
                invoice_title="知本溫泉餐廳",
                phones=["089-510-001"],
                address="台東市知本路三段1號",
            )
        )
    )

    page = await customers.SearchCustomers(pb.SearchCustomersRequest(query=query))

    assert [customer.fields.code for customer in page.customers] == ["3000099"]


async def test_search_refuses_a_forged_page_token(customers: Stub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await customers.SearchCustomers(pb.SearchCustomersRequest(page_token="not-a-token"))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_batch_get_returns_found_and_lists_missing(customers: Stub) -> None:
    one = await customers.CreateCustomer(pb.CreateCustomerRequest(customer=customer_fields(code="4000001")))
    two = await customers.CreateCustomer(pb.CreateCustomerRequest(customer=customer_fields(code="4000002")))

    reply = await customers.BatchGetCustomers(pb.BatchGetCustomersRequest(ids=[one.id], codes=["4000002", "4999999"]))

    assert sorted(c.id for c in reply.customers) == sorted([one.id, two.id])
    assert list(reply.missing) == ["4999999"]


async def test_batch_get_says_which_customers_rest_on_a_date(customers: Stub) -> None:
    sundays = await customers.CreateCustomer(
        pb.CreateCustomerRequest(customer=customer_fields(code="4000011", rest_days="7"))
    )
    open_daily = await customers.CreateCustomer(
        pb.CreateCustomerRequest(customer=customer_fields(code="4000012", rest_days=""))
    )
    ids = [sundays.id, open_daily.id]

    sunday = await customers.BatchGetCustomers(pb.BatchGetCustomersRequest(ids=ids, resting_on="2026-11-29"))
    monday = await customers.BatchGetCustomers(pb.BatchGetCustomersRequest(ids=ids, resting_on="2026-11-30"))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await customers.BatchGetCustomers(pb.BatchGetCustomersRequest(ids=ids, resting_on="29/11/2026"))

    assert list(sunday.resting_ids) == [sundays.id]
    assert list(monday.resting_ids) == []
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations(raised.value) == {"resting_on": "a date as YYYY-MM-DD"}


async def published_customer_events(database: Database, redis: aioredis.Redis) -> list[EventEnvelope]:
    await OutboxRelay(database, outbox, redis).publish_pending()
    return [EventEnvelope.from_fields(fields) for _, fields in await redis.xrange("events.customer")]


async def test_create_update_and_terminate_publish_customer_changed_on_events_customer(
    customers: Stub, database: Database, redis_client: aioredis.Redis
) -> None:
    created = await customers.CreateCustomer(pb.CreateCustomerRequest(customer=customer_fields(code="5000001")))
    await customers.UpdateCustomer(
        pb.UpdateCustomerRequest(
            id=created.id,
            expected_version=1,
            customer=pb.CustomerFields(short_name="鐵花熱炒", notes=created.fields.notes),
            update_mask=FieldMask(paths=["short_name", "notes"]),
        )
    )
    await customers.TerminateCustomer(pb.TerminateCustomerRequest(id=created.id, reason="closed shop"))

    events = await published_customer_events(database, redis_client)

    assert [(e.type, e.aggregate_id, e.aggregate_version) for e in events] == [
        ("customer.changed", created.id, 1),
        ("customer.changed", created.id, 2),
        ("customer.changed", created.id, 3),
    ]
    base = {"id": created.id, "code": "5000001"}
    assert events[0].payload == base | {"version": 1, "changed": sorted(FIELD_NAMES), "terminated": False}
    assert events[1].payload == base | {"version": 2, "changed": ["short_name"], "terminated": False}
    assert events[2].payload == base | {
        "version": 3,
        "changed": ["terminated", "terminated_at", "termination_reason"],
        "terminated": True,
    }


async def test_refused_and_replayed_writes_publish_nothing(
    customers: Stub, database: Database, redis_client: aioredis.Redis
) -> None:
    request = pb.CreateCustomerRequest(customer=customer_fields(code="5000002"), request_id="once")
    created = await customers.CreateCustomer(request)
    await customers.CreateCustomer(request)  # idempotent replay
    with pytest.raises(grpc.aio.AioRpcError):
        await customers.CreateCustomer(pb.CreateCustomerRequest(customer=customer_fields(code="5000002")))
    with pytest.raises(grpc.aio.AioRpcError):
        await customers.UpdateCustomer(
            pb.UpdateCustomerRequest(
                id=created.id,
                expected_version=7,
                customer=pb.CustomerFields(notes="x"),
                update_mask=FieldMask(paths=["notes"]),
            )
        )
    await customers.TerminateCustomer(pb.TerminateCustomerRequest(id=created.id, reason="moved"))
    await customers.TerminateCustomer(pb.TerminateCustomerRequest(id=created.id, reason="moved"))  # already terminated

    events = await published_customer_events(database, redis_client)

    assert [event.aggregate_version for event in events] == [1, 2]
