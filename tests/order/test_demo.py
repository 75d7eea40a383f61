"""Demo refill history: a realistic "to deliver" list for the demo customers, seeded idempotently."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from luckygas.customer.v1 import customer_pb2, customer_pb2_grpc
from sqlalchemy import text

from services.customer.demo import DEMO_SEED as CUSTOMER_DEMO_SEED
from services.customer.demo import generate_customers
from services.local.stores import free_port
from services.order.customers import CUSTOMER_SERVICE, CustomerDirectory
from services.order.demo import DEMO_SEED, apply_pending_seeds, demo_refills, seed_demo
from services.order.forecast import LastRefill, due_list
from services.order.schemas import CustomerInfo
from services.order.settings import OrderSettings
from services.platform.database import Database
from services.platform.grpc_client import open_channel
from tests.conftest import Stores
from tests.order.factories import count, create_customer, today
from tests.timing import CALL_DEADLINE_SECONDS


def demo_customers() -> list[CustomerInfo]:
    """The customer service's 1,300 demo customers, as the order service sees them."""
    return [
        CustomerInfo(
            id=uuid.UUID(int=index),
            code=fields.code,
            short_name=fields.short_name,
            zone=fields.zone,
            payment_terms=fields.payment_terms,
            credit_limit=fields.credit_limit,
            blocked=fields.blocked,
            terminated=False,
            holdings=fields.cylinders,
            spare_cylinders=fields.spare_cylinders,
            consumption_kg_per_day=fields.consumption_kg_per_day,
            max_cycle_days=fields.max_cycle_days,
            slip_days=fields.slip_days,
        )
        for index, fields in enumerate(generate_customers(CUSTOMER_DEMO_SEED), start=1)
    ]


def test_the_demo_history_makes_a_due_list_of_about_two_hundred() -> None:
    customers = demo_customers()

    rows = demo_refills(customers, DEMO_SEED, today())

    refills = {customer_id: LastRefill(day, kg) for customer_id, day, kg in rows}
    due = due_list(customers, refills, today())
    assert len(rows) == len(customers)
    assert 120 <= len(due) <= 260
    assert demo_refills(customers, DEMO_SEED, today()) == rows  # deterministic


@pytest.fixture
async def directory(customer_server: int) -> AsyncIterator[CustomerDirectory]:
    channel = open_channel(f"127.0.0.1:{customer_server}", CUSTOMER_SERVICE, default_deadline=CALL_DEADLINE_SECONDS)
    yield CustomerDirectory(channel)
    await channel.close()


async def test_seeding_writes_each_customer_once_and_keeps_real_deliveries(
    order_database: Database,
    customers: customer_pb2_grpc.CustomerServiceStub,
    embedded_stores: Stores,
    customer_server: int,
) -> None:
    created = [await create_customer(customers) for _ in range(4)]
    await create_customer(customers, cylinders=[])  # nothing on site: no history to invent
    await customers.TerminateCustomer(customer_pb2.TerminateCustomerRequest(id=created[3].id, reason="closed"))
    async with order_database.session() as session:
        await session.execute(
            text(
                'INSERT INTO "order".customer_refills (customer_id, last_delivered_on, kg_delivered, source)'
                " VALUES (:id, :day, 40, 'delivery')"
            ),
            {"id": created[0].id, "day": today()},
        )
    settings = OrderSettings(database_url=embedded_stores.database_url, customer_address=f"127.0.0.1:{customer_server}")

    first = await seed_demo(settings, "demo", today())
    second = await seed_demo(settings, "demo", today())

    assert first == "demo refill history (demo): 2 customers"
    assert second == "demo refill history (demo): already applied"
    assert await count(order_database, "customer_refills") == 3
    assert await count(order_database, "customer_refills", "source = 'delivery' AND kg_delivered = 40") == 1


async def test_a_seed_asked_for_before_the_customer_service_runs_is_applied_at_start(
    order_database: Database,
    customers: customer_pb2_grpc.CustomerServiceStub,
    directory: CustomerDirectory,
    embedded_stores: Stores,
) -> None:
    await create_customer(customers)
    nobody_listens = OrderSettings(
        database_url=embedded_stores.database_url, customer_address=f"127.0.0.1:{free_port()}"
    )

    requested = await seed_demo(nobody_listens, "demo:7", today())
    assert "requested" in requested
    assert await count(order_database, "customer_refills") == 0

    await apply_pending_seeds(order_database, directory, today(), patience=5)

    assert await count(order_database, "customer_refills") == 1
    assert await count(order_database, "seed_runs", "applied_at IS NOT NULL") == 1
