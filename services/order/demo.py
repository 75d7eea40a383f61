"""Demo refill history: when each demo customer was last delivered, so the "to deliver" list has ~200 customers.

The history needs the customers (their cylinders and consumption), which live in the customer service. `luckygas
up --seed demo` seeds every service before starting any, so ``seed`` records the request and applies it at once
when the customer service answers; otherwise the order service applies it when it starts (after the customer
service, which starts first). Either way it is idempotent: a customer that has a refill row keeps it.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from datetime import date, timedelta

from services.order.customers import CUSTOMER_SERVICE, CustomerDirectory
from services.order.forecast import LastRefill, due_date, kg_on_site
from services.order.refills import RefillRepository
from services.order.schemas import CustomerInfo
from services.order.settings import OrderSettings
from services.platform.database import Database, create_engine
from services.platform.errors import InvalidArgument, Unavailable
from services.platform.grpc_client import open_channel

DEMO_SEED = 20261124
INSERT_BATCH = 1000
# How long a starting order service keeps trying to reach the customer service for a pending seed.
APPLY_PATIENCE_SECONDS = 300.0

_log = logging.getLogger(__name__)


def seed_number(name: str) -> int:
    """'demo' → the demo seed; 'demo:<number>' → that number."""
    if name == "demo":
        return DEMO_SEED
    prefix, _, number = name.partition(":")
    if prefix != "demo" or not number.isdigit():
        raise InvalidArgument.for_field("seed", "must be 'demo' or 'demo:<number>'")
    return int(number)


def demo_refills(customers: list[CustomerInfo], seed: int, today: date) -> list[tuple[uuid.UUID, date, float]]:
    """Each customer last delivered at a random point of their own refill interval (0 = today ... due today).

    With every phase equally likely, about one customer in (interval + 1) is due on ``today``: ~200 of the
    1,300 demo customers, whose intervals are a week on median. A customer's draw depends only on the seed
    and their code, so adding customers does not move anyone else.
    """
    rows = []
    for customer in customers:
        kg = kg_on_site(customer.holdings, customer.spare_cylinders)
        due = due_date(customer, LastRefill(today, kg)) if kg > 0 else None
        if due is None:
            continue
        rng = random.Random(f"{seed}:{customer.code}")  # nosec B311 # seeded demo history, the same for a seed
        days_ago = rng.randint(0, (due - today).days)
        rows.append((customer.id, today - timedelta(days=days_ago), kg))
    return rows


async def apply_seed(database: Database, customers: CustomerDirectory, name: str, today: date) -> int | None:
    """Write the refill history for ``name``; None (still pending) when the customer service has no customers."""
    active = await customers.active()
    if not active:
        return None
    rows = demo_refills(active, seed_number(name), today)
    async with database.session() as session:
        repository = RefillRepository(session)
        inserted = 0
        for start in range(0, len(rows), INSERT_BATCH):
            inserted += await repository.add_if_missing(rows[start : start + INSERT_BATCH], "demo")
        await repository.mark_seed_applied(name, inserted)
    return inserted


async def seed_demo(settings: OrderSettings, name: str, today: date) -> str:
    """The ``seed`` command: a line saying what it did."""
    seed_number(name)
    database = Database(create_engine(settings.database_url, pool_size=2, application_name="order-seed"))
    channel = open_channel(settings.customer_address, CUSTOMER_SERVICE)
    try:
        async with database.session() as session:
            wanted = await RefillRepository(session).request_seed(name)
        if not wanted:
            return f"demo refill history ({name}): already applied"
        try:
            inserted = await apply_seed(
                database, CustomerDirectory(channel, deadline_seconds=settings.customer_deadline_seconds), name, today
            )
        except Unavailable:
            inserted = None
        if inserted is None:
            return f"demo refill history ({name}): requested; the order service applies it when it starts"
        return f"demo refill history ({name}): {inserted} customers"
    finally:
        await channel.close()
        await database.dispose()


async def apply_pending_seeds(
    database: Database, customers: CustomerDirectory, today: date, *, patience: float = APPLY_PATIENCE_SECONDS
) -> None:
    """At start-up: apply the seeds ``seed`` could not, retrying while the customer service is unreachable."""
    async with database.read_session() as session:
        pending = await RefillRepository(session).pending_seeds()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience
    for name in pending:
        delay = 0.5
        while True:
            try:
                inserted = await apply_seed(database, customers, name, today)
            except Unavailable:
                if loop.time() + delay > deadline:
                    _log.warning("demo refill history not applied: the customer service is unreachable")
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
                continue
            _log.info("demo refill history applied", extra={"seed": name, "customers": inserted})
            break
