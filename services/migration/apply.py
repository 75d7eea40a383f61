"""Writing mapped legacy rows into the new platform a batch at a time: what the backfill and change capture share.

Customers go through the customer service (created by their code when missing, updated when a legacy-primary
customer's fields differ, several in flight at once), deliveries through one ImportLegacyOrders call per batch
(idempotent by 序號). Each then records its links (code ↔ customer, 序號 ↔ order) with the legacy row version
applied, in one statement per batch; a link's version only ever grows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert

from services.migration.conflicts import refused_by_service
from services.migration.customers import LEGACY_FIELDS, CustomerDirectory, from_mapped, from_proto
from services.migration.mapping import MappedCustomer, MappedDelivery, RejectedRow
from services.migration.models import CustomerLinkRow, DeliveryLinkRow
from services.migration.orders import Imported, OrderBook, to_legacy_order
from services.platform.canonical import customer_text
from services.platform.database import Database
from services.platform.errors import InvalidArgument

# Creates and updates of customers in flight at once.
CUSTOMER_CONCURRENCY = 8


async def apply_legacy_customer(customers: CustomerDirectory, found: Any, customer: MappedCustomer) -> Any:
    """Make the platform's customer equal to a legacy row on every field the sheet carries; the customer as it is
    afterwards. Nothing is written when they are equal already."""
    current = from_proto(found)
    wanted = from_mapped(customer)
    if customer_text(current.canonical_record()) != customer_text(wanted.canonical_record()):
        changed = [name for name in LEGACY_FIELDS if getattr(current, name) != getattr(wanted, name)] or list(
            LEGACY_FIELDS
        )
        found = await customers.update(found, customer.fields, changed)
    if customer.terminated and not found.terminated:
        found = await customers.terminate(found)
    return found


async def customer_links(database: Database, codes: Iterable[str]) -> dict[str, CustomerLinkRow]:
    """The links of these customer codes that exist, by code."""
    async with database.read_session() as session:
        found = (await session.execute(select(CustomerLinkRow).where(CustomerLinkRow.code.in_(set(codes))))).scalars()
        return {link.code: link for link in found}


async def delivery_versions(database: Database, legacy_ids: Iterable[int]) -> dict[int, int]:
    """The legacy row version last applied (or written by us) of each linked 序號 among these."""
    async with database.read_session() as session:
        found = await session.execute(
            select(DeliveryLinkRow.legacy_id, DeliveryLinkRow.legacy_version).where(
                DeliveryLinkRow.legacy_id.in_(set(legacy_ids))
            )
        )
        return {int(legacy_id): int(version) for legacy_id, version in found.all()}


async def apply_customers(
    database: Database,
    customers: CustomerDirectory,
    mapped: Sequence[tuple[MappedCustomer, int]],
    primaries: Mapping[str, str],
) -> tuple[list[str], list[RejectedRow]]:
    """Create each customer that is missing and bring each legacy-primary one up to its legacy row, then link them
    all at their row versions. The codes written or found equal, and the rows the customer service refused."""
    if not mapped:
        return [], []
    existing = await customers.by_codes(customer.fields.code for customer, _ in mapped)
    gate = asyncio.Semaphore(CUSTOMER_CONCURRENCY)
    links: list[dict[str, Any]] = []
    refused: list[RejectedRow] = []

    async def one(customer: MappedCustomer, version: int) -> None:
        async with gate:
            try:
                found = existing.get(customer.fields.code)
                if found is None:
                    found = await customers.create(customer)
                if primaries.get(customer.fields.code, "legacy") == "legacy":
                    found = await apply_legacy_customer(customers, found, customer)
            except InvalidArgument as error:
                refused.append(refused_by_service(customer.fields.code, error))
                return
            links.append({"code": customer.fields.code, "customer_id": found.id, "legacy_version": version})

    await asyncio.gather(*(one(customer, version) for customer, version in mapped))
    await link_customers(database, links)
    return [link["code"] for link in links], refused


async def link_customers(database: Database, links: Sequence[Mapping[str, Any]]) -> None:
    if not links:
        return
    statement = insert(CustomerLinkRow).values(list(links))
    statement = statement.on_conflict_do_update(
        index_elements=[CustomerLinkRow.code],
        set_={
            "customer_id": statement.excluded.customer_id,
            "legacy_version": func.greatest(CustomerLinkRow.legacy_version, statement.excluded.legacy_version),
            "updated_at": func.now(),
        },
    )
    async with database.session() as session:
        await session.execute(statement)


async def import_deliveries(
    database: Database,
    customers: CustomerDirectory,
    orders: OrderBook,
    mapped: Sequence[tuple[MappedDelivery, int]],
    linked: Mapping[str, str],
    *,
    zones: dict[str, str] | None = None,
) -> list[Imported]:
    """Import mapped deliveries (with their customer's id from ``linked`` and zone) in one order-service call and
    link each 序號 to its order at its row version. ``zones`` (code → zone) is used and filled as a cache: only
    customers missing from it are looked up."""
    if not mapped:
        return []
    zones = {} if zones is None else zones
    missing = {delivery.customer_code for delivery, _ in mapped} - zones.keys()
    if missing:
        found = await customers.by_codes(missing)
        zones.update({code: found[code].fields.zone if code in found else "" for code in missing})
    imported = await orders.import_legacy(
        [
            to_legacy_order(delivery, linked[delivery.customer_code], zones.get(delivery.customer_code, ""))
            for delivery, _ in mapped
        ]
    )
    versions = {delivery.legacy_id: version for delivery, version in mapped}
    codes_of = {delivery.legacy_id: delivery.customer_code for delivery, _ in mapped}
    statement = insert(DeliveryLinkRow).values(
        [
            {
                "legacy_id": row.legacy_id,
                "order_id": row.order_id,
                "customer_code": codes_of[row.legacy_id],
                "origin": "legacy",
                "legacy_version": versions[row.legacy_id],
            }
            for row in imported
        ]
    )
    statement = statement.on_conflict_do_update(
        index_elements=[DeliveryLinkRow.legacy_id],
        set_={"legacy_version": func.greatest(DeliveryLinkRow.legacy_version, statement.excluded.legacy_version)},
    )
    async with database.session() as session:
        await session.execute(statement)
    return imported
