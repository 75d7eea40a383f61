"""Synthetic commercial customers for demos and load tests (the generator is services/platform/demo_customers.py,
shared with migration-sync's legacy exports so both sides hold the same customers), and the demo seed."""

from __future__ import annotations

import dataclasses

from services.customer.schemas import CustomerFields
from services.customer.service import CustomerService
from services.customer.settings import CustomerSettings
from services.platform import demo_customers
from services.platform.database import Database, create_engine
from services.platform.demo_customers import DEFAULT_COUNT, DEMO_SEED, FIRST_CODE, parse_seed_spec

__all__ = [
    "BATCH_SIZE",
    "DEFAULT_COUNT",
    "DEMO_SEED",
    "FIRST_CODE",
    "generate_customers",
    "parse_seed_spec",
    "seed_demo",
]

BATCH_SIZE = 200
_FIELD_NAMES = tuple(field.name for field in dataclasses.fields(CustomerFields))


def generate_customers(seed: int, count: int = DEFAULT_COUNT) -> list[CustomerFields]:
    """``count`` synthetic commercial customers; the same seed always gives the same list."""
    return [
        CustomerFields(**{name: getattr(customer, name) for name in _FIELD_NAMES})
        for customer in demo_customers.generate_customers(seed, count)
    ]


async def seed_demo(settings: CustomerSettings, seed_spec: str = "demo", count: int = DEFAULT_COUNT) -> int:
    """Insert the demo customers whose codes are not taken yet; returns how many it inserted (0 on a rerun)."""
    seed = parse_seed_spec(seed_spec)
    customers = generate_customers(seed, count)
    database = Database(create_engine(settings.database_url, pool_size=2, application_name="luckygas-customer-demo"))
    service = CustomerService(database)
    inserted = 0
    try:
        for start in range(0, len(customers), BATCH_SIZE):
            batch = customers[start : start + BATCH_SIZE]
            inserted += await service.create_missing([(fields, f"demo-{seed}-{fields.code}") for fields in batch])
    finally:
        await database.dispose()
    return inserted
