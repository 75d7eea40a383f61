"""Sync both ways while the pilot runs.

legacy → new (``capture_cycle``): change capture over the legacy tables' row_version, a high-water mark per table,
a bounded batch per cycle. A changed row of a legacy-primary customer is applied to the new platform; of a
new-primary customer it is a conflict, unless it equals the new side (then it is our own write coming back, or an
edit that changed nothing).

new → legacy (``on_customer_event`` / ``on_order_event``, consumers of ``events.customer`` and ``events.order``):
a new-primary customer's changes and orders are written to the legacy rows, so the office's reports and scanners
keep seeing them. A change made in the new platform to a legacy-primary customer is a conflict, unless it equals
the legacy row (then it is capture's own write coming back).

Each apply is idempotent: a row version at or below the one recorded for the row was applied (or written by us)
already; an event id is applied once (the consumer's handled-events table); a new order's legacy 序號 is reserved
and recorded before its row is written, so a retried write updates the same row instead of adding a second.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from services.migration import conflicts, legacy_store
from services.migration.apply import (
    apply_customers,
    customer_links,
    delivery_versions,
    import_deliveries,
)
from services.migration.customers import CustomerDirectory, from_mapped, from_proto
from services.migration.legacy_digest import mapped_delivery_text
from services.migration.mapping import MappedCustomer, MappedDelivery, RejectedRow, map_customer, map_delivery
from services.migration.metrics import SYNC_LAG, SYNC_OPERATIONS
from services.migration.models import CustomerLinkRow, DeliveryLinkRow, SyncMarkRow
from services.migration.orders import OrderBook, to_platform_delivery
from services.migration.orders import legacy_text as orders_legacy_text
from services.migration.reverse import PlatformDelivery, customer_row, delivery_row
from services.platform.canonical import (
    CUSTOMER_FIELDS,
    DELIVERY_FIELDS,
    customer_text,
    customer_values,
    delivery_text,
    field_differences,
)
from services.platform.clock import utc_now
from services.platform.database import Database, outages_as_unavailable
from services.platform.errors import InvalidArgument, Unavailable
from services.platform.outbox import EventEnvelope

_log = logging.getLogger(__name__)

LEGACY_TO_NEW = "legacy_to_new"
NEW_TO_LEGACY = "new_to_legacy"
CUSTOMER_STREAM = "events.customer"
ORDER_STREAM = "events.order"
GROUP = "migration-legacy-writer"
LEGACY = "the legacy database"


def platform_delivery_text(delivery: PlatformDelivery) -> str:
    """The canonical text of an order as the platform's records give it (used for a conflict's other side)."""
    return delivery_text(
        customer_code=delivery.customer_code,
        day=delivery.day,
        status=delivery.status,
        failure_reason=delivery.failure_reason,
        items=delivery.items,
        metered_kg=delivery.metered_kg,
        empties=delivery.empties,
    )


def differing(fields: tuple[str, ...], primary: Mapping[str, str], other: Mapping[str, str]) -> list[dict[str, str]]:
    return [
        {"field": name, "primary": primary[name], "other": other[name]}
        for name in fields
        if primary[name] != other[name]
    ]


@dataclass
class Lag:
    """When capture last had nothing left to read: while it is behind, the lag is the time since then."""

    caught_up_at: float = 0.0
    behind: bool = False

    def seconds(self) -> float:
        return time.monotonic() - self.caught_up_at if self.behind else 0.0


class Sync:
    def __init__(
        self,
        database: Database,
        legacy: AsyncEngine,
        customers: CustomerDirectory,
        orders: OrderBook,
        zones: Mapping[str, str],
        *,
        batch_size: int = 500,
    ) -> None:
        self.database = database
        self.legacy = legacy
        self.customers = customers
        self.orders = orders
        self.zones = zones
        self.batch_size = batch_size
        self.lag = Lag(caught_up_at=time.monotonic())
        # new → legacy: how old the last applied customer or order event was when it was applied.
        self.event_lag_seconds = 0.0

    # ------------------------------------------------------------------ legacy → new

    async def start_marks(self) -> None:
        """Capture starts from the legacy tables as they are now (the backfill takes what is there already)."""
        async with self.legacy.connect() as connection:
            current = (await connection.execute(text("SELECT last_value FROM row_version_counter"))).scalar_one()
        async with self.database.session() as session:
            for table in legacy_store.TABLES:
                await session.execute(
                    insert(SyncMarkRow).values(table_name=table, row_version=int(current)).on_conflict_do_nothing()
                )

    async def marks(self) -> dict[str, int]:
        async with self.database.read_session() as session:
            return dict((await session.execute(select(SyncMarkRow.table_name, SyncMarkRow.row_version))).all())

    async def capture_cycle(self) -> int:
        """One pass over both legacy tables from their marks: how many changed rows it handled. Customers go first
        (a new customer's deliveries need its link), each table's batch in a few calls rather than one per row."""
        marks = await self.marks()
        handled = 0
        full = False
        for table in ("customers", "deliveries"):
            if table not in marks:
                continue
            async with self.legacy.connect() as connection:
                rows = await legacy_store.changes_since(connection, table, marks[table], limit=self.batch_size)
            if not rows:
                continue
            outcomes = await (self.pull_customer_rows(rows) if table == "customers" else self.pull_delivery_rows(rows))
            for outcome, count in Counter(outcomes).items():
                SYNC_OPERATIONS.labels(LEGACY_TO_NEW, table, outcome).inc(count)
            async with self.database.session() as session:
                mark = await session.get(SyncMarkRow, table, with_for_update=True)
                assert mark is not None
                mark.row_version = max(mark.row_version, int(rows[-1][legacy_store.ROW_VERSION]))
                mark.updated_at = utc_now()
            handled += len(rows)
            full = full or len(rows) == self.batch_size
        if full:
            self.lag.behind = True
        else:
            self.lag.behind, self.lag.caught_up_at = False, time.monotonic()
        SYNC_LAG.labels(LEGACY_TO_NEW).set(self.lag.seconds())
        return handled

    async def pull_customer_rows(self, rows: Sequence[Mapping[str, Any]]) -> list[str]:
        """Apply changed legacy customer rows; an outcome per row for the metric. Legacy-primary customers are
        written together; a new-primary customer's row is checked for a conflict on its own."""
        links = await customer_links(self.database, (str(row["客戶"]).strip() for row in rows))
        outcomes: list[str] = []
        batch: list[tuple[MappedCustomer, int]] = []
        for row in rows:
            code, version = str(row["客戶"]).strip(), int(row[legacy_store.ROW_VERSION])
            link = links.get(code)
            if link is not None and link.legacy_version >= version:
                outcomes.append("unchanged")
            elif isinstance(mapped := map_customer(row, self.zones), RejectedRow):  # type: ignore[arg-type]
                await conflicts.record_rejection("customers", mapped, self.database)
                outcomes.append("rejected")
            elif link is not None and link.primary_side == "new":
                outcomes.append(await self._compare_new_primary_customer(code, version, mapped))
            else:
                batch.append((mapped, version))
        applied, refused = await apply_customers(self.database, self.customers, batch, {})
        for rejected in refused:
            await conflicts.record_rejection("customers", rejected, self.database)
        await conflicts.clear_rejections("customers", applied, self.database)
        return outcomes + ["applied"] * len(applied) + ["rejected"] * len(refused)

    async def pull_delivery_rows(self, rows: Sequence[Mapping[str, Any]]) -> list[str]:
        """Apply changed legacy delivery rows; an outcome per row. Rows of legacy-primary customers go to the order
        service in one import; a new-primary customer's row is checked for a conflict on its own."""
        versions = await delivery_versions(self.database, (int(row["序號"]) for row in rows))
        links = await customer_links(self.database, (str(row["客戶"]).strip() for row in rows))
        known = {code: link.customer_id for code, link in links.items() if link.customer_id}
        outcomes: list[str] = []
        batch: list[tuple[MappedDelivery, int]] = []
        for row in rows:
            version = int(row[legacy_store.ROW_VERSION])
            link = links.get(str(row["客戶"]).strip())
            if versions.get(int(row["序號"]), -1) >= version:
                outcomes.append("unchanged")
            elif isinstance(mapped := map_delivery(row, known), RejectedRow):  # type: ignore[arg-type]
                await conflicts.record_rejection("deliveries", mapped, self.database)
                outcomes.append("rejected")
            elif link is not None and link.primary_side == "new":
                outcomes.append(await self._compare_new_primary_delivery(mapped, version))
            else:
                batch.append((mapped, version))
        try:
            imported = await import_deliveries(self.database, self.customers, self.orders, batch, known)
        except InvalidArgument:
            # One row the order service refuses must not hold back the others: each on its own, refusals recorded.
            for delivery, version in batch:
                outcomes.append(await self.import_delivery(delivery, known[delivery.customer_code], version))
            return outcomes
        await conflicts.clear_rejections("deliveries", [str(row.legacy_id) for row in imported], self.database)
        return outcomes + ["unchanged" if row.outcome == "unchanged" else "applied" for row in imported]

    async def run_capture(self, idle_seconds: float, paused: Callable[[], bool]) -> None:
        """Capture until cancelled; a cycle that found nothing waits ``idle_seconds``, a busy one goes on at once.
        ``paused()`` true (a backfill is running) holds capture back."""
        while True:
            try:
                if paused() or not await self.marks():
                    await asyncio.sleep(idle_seconds)
                    continue
                with outages_as_unavailable(LEGACY):
                    found = await self.capture_cycle()
                if found == 0:
                    await asyncio.sleep(idle_seconds)
            except (Unavailable, OSError) as error:
                # The legacy database, ours or a service is away: the marks stay, the changes wait.
                _log.warning("change capture waits: %s", error)
                self.lag.behind = True
                SYNC_LAG.labels(LEGACY_TO_NEW).set(self.lag.seconds())
                await asyncio.sleep(max(idle_seconds, 1.0))

    async def legacy_customer(self, code: str) -> dict[str, Any] | None:
        async with self.legacy.connect() as connection:
            return await legacy_store.read_customer(connection, code)

    async def legacy_delivery(self, legacy_id: int) -> dict[str, Any] | None:
        async with self.legacy.connect() as connection:
            return await legacy_store.read_delivery(connection, legacy_id)

    async def link_of(self, code: str) -> CustomerLinkRow | None:
        async with self.database.read_session() as session:
            return await session.get(CustomerLinkRow, code)

    async def pull_customer_row(self, row: Mapping[str, Any]) -> str:
        """Apply one legacy customer row; the outcome for the metric."""
        (outcome,) = await self.pull_customer_rows([row])
        return outcome

    async def pull_delivery_row(self, row: Mapping[str, Any]) -> str:
        """Apply one legacy delivery row; the outcome for the metric."""
        (outcome,) = await self.pull_delivery_rows([row])
        return outcome

    async def _compare_new_primary_customer(self, code: str, version: int, mapped: MappedCustomer) -> str:
        """A legacy change of a new-primary customer: a conflict unless it equals the new side (our own write
        coming back, or an edit that changed nothing). Either way its version is recorded as seen."""
        found = await self.customers.by_code(code)
        new_values = customer_values(from_proto(found).canonical_record()) if found is not None else None
        legacy_values = customer_values(from_mapped(mapped).canonical_record())
        outcome = "unchanged"
        if new_values is not None and new_values != legacy_values:
            await conflicts.record(
                self.database,
                table="customers",
                key=code,
                customer_code=code,
                primary="new",
                fields=differing(CUSTOMER_FIELDS, new_values, legacy_values),
                other_text=customer_text(from_mapped(mapped).canonical_record()),
            )
            outcome = "conflict"
        await self._mark_customer(code, version)
        return outcome

    async def _mark_customer(self, code: str, version: int) -> None:
        async with self.database.session() as session:
            link = await session.get(CustomerLinkRow, code, with_for_update=True)
            if link is not None:
                link.legacy_version = max(link.legacy_version, version)

    async def _compare_new_primary_delivery(self, mapped: MappedDelivery, version: int) -> str:
        """A legacy change of a new-primary customer's delivery: a conflict unless it equals the order."""
        assert mapped.legacy_id is not None
        legacy_text = mapped_delivery_text(mapped)
        new_text = await orders_legacy_text(self.orders.stub, mapped.legacy_id)
        outcome = "unchanged"
        if new_text != legacy_text:
            fields = field_differences(DELIVERY_FIELDS, new_text or "", legacy_text)
            await conflicts.record(
                self.database,
                table="deliveries",
                key=str(mapped.legacy_id),
                customer_code=mapped.customer_code,
                primary="new",
                fields=[{"field": name, "primary": new, "other": old} for name, (new, old) in fields.items()],
                other_text=legacy_text,
            )
            outcome = "conflict"
        await self._mark_delivery(mapped.legacy_id, version)
        return outcome

    async def _mark_delivery(self, legacy_id: int, version: int) -> None:
        async with self.database.session() as session:
            link = await session.get(DeliveryLinkRow, legacy_id, with_for_update=True)
            if link is not None:
                link.legacy_version = max(link.legacy_version, version)

    async def import_delivery(self, mapped: MappedDelivery, customer_id: str, version: int) -> str:
        """Write a mapped legacy delivery to the order service (created or updated by its 序號) and link it."""
        assert mapped.legacy_id is not None
        try:
            (imported,) = await import_deliveries(
                self.database, self.customers, self.orders, [(mapped, version)], {mapped.customer_code: customer_id}
            )
        except InvalidArgument as error:
            await conflicts.record_service_refusal("deliveries", str(mapped.legacy_id), error, self.database)
            return "rejected"
        await conflicts.clear_rejections("deliveries", [str(mapped.legacy_id)], self.database)
        return "applied" if imported.outcome != "unchanged" else "unchanged"

    # ------------------------------------------------------------------ new → legacy

    async def on_customer_event(self, event: EventEnvelope, session: AsyncSession) -> None:
        with outages_as_unavailable(LEGACY):
            await self._on_customer_event(event, session)

    async def on_order_event(self, event: EventEnvelope, session: AsyncSession) -> None:
        with outages_as_unavailable(LEGACY):
            await self._on_order_event(event, session)

    async def _on_customer_event(self, event: EventEnvelope, session: AsyncSession) -> None:
        code = str(event.payload.get("code", ""))
        link = await session.get(CustomerLinkRow, code)
        if link is None:
            return  # not a legacy customer (created in the new platform outside the pilot): nothing to mirror
        outcome = await self.push_customer(code, primary=link.primary_side, session=session)
        SYNC_OPERATIONS.labels(NEW_TO_LEGACY, "customers", outcome).inc()
        self._note_event_lag(event)

    async def _on_order_event(self, event: EventEnvelope, session: AsyncSession) -> None:
        code = str(event.payload.get("customer_code", ""))
        link = await session.get(CustomerLinkRow, code)
        if link is None:
            return
        order = await self.orders.get(event.aggregate_id)
        if order is None:
            return
        if link.primary_side != "new":
            outcome = await self._order_on_legacy_primary(order, session)
        else:
            await self.push_order(order, session)
            outcome = "applied"
        SYNC_OPERATIONS.labels(NEW_TO_LEGACY, "deliveries", outcome).inc()
        self._note_event_lag(event)

    def _note_event_lag(self, event: EventEnvelope) -> None:
        self.event_lag_seconds = max(0.0, (utc_now() - event.occurred_at).total_seconds())
        SYNC_LAG.labels(NEW_TO_LEGACY).set(self.event_lag_seconds)

    async def _order_on_legacy_primary(self, order: Any, session: AsyncSession) -> str:
        """An order event of a legacy-primary customer: an import's echo is equal to its legacy row; anything else
        is a change on the non-primary side."""
        if order.legacy_id:
            async with self.legacy.connect() as connection:
                row = await legacy_store.read_delivery(connection, order.legacy_id)
            if row is not None:
                mapped = map_delivery(row)  # type: ignore[arg-type]
                new_text = await orders_legacy_text(self.orders.stub, order.legacy_id)
                if not isinstance(mapped, RejectedRow) and mapped_delivery_text(mapped) == new_text:
                    return "unchanged"
                if int(row[legacy_store.ROW_VERSION]) > await self._delivery_version(order.legacy_id, session):
                    return "unchanged"  # capture has a newer legacy row to apply: it will settle this
        new_text = platform_delivery_text(to_platform_delivery(order))
        await conflicts.record(
            self.database,
            table="deliveries",
            key=str(order.legacy_id) if order.legacy_id else f"order:{order.id}",
            customer_code=order.customer_code,
            primary="legacy",
            fields=[{"field": "*", "primary": "", "other": new_text}],
            other_text=new_text,
        )
        return "conflict"

    async def _delivery_version(self, legacy_id: int, session: AsyncSession) -> int:
        link = await session.get(DeliveryLinkRow, legacy_id)
        return link.legacy_version if link is not None else 0

    async def push_customer(self, code: str, *, primary: str, session: AsyncSession | None = None) -> str:
        """Write the new platform's customer to its legacy row (new-primary), or, for a legacy-primary customer,
        record a change made in the new platform as a conflict. The outcome for the metric."""
        found = await self.customers.by_code(code)
        if found is None:
            return "unchanged"
        new = from_proto(found)
        async with self.legacy.connect() as connection:
            current = await legacy_store.read_customer(connection, code)
        mapped = map_customer(current, self.zones) if current is not None else None  # type: ignore[arg-type]
        legacy_values = (
            customer_values(from_mapped(mapped).canonical_record()) if isinstance(mapped, MappedCustomer) else None
        )
        new_values = customer_values(new.canonical_record())
        if legacy_values == new_values:
            return "unchanged"
        if primary != "new":
            link = await (session.get(CustomerLinkRow, code) if session is not None else self.link_of(code))
            if (
                current is not None
                and link is not None
                and int(current[legacy_store.ROW_VERSION]) > link.legacy_version
            ):
                return "unchanged"  # capture has a newer legacy row to apply: it will settle this
            await conflicts.record(
                self.database,
                table="customers",
                key=code,
                customer_code=code,
                primary="legacy",
                fields=differing(CUSTOMER_FIELDS, legacy_values, new_values) if legacy_values is not None else [],
                other_text=customer_text(new.canonical_record()),
            )
            return "conflict"
        version = await self.write_customer(new)
        if session is not None:
            link = await session.get(CustomerLinkRow, code, with_for_update=True)
            if link is not None:
                link.legacy_version = max(link.legacy_version, version)
        else:
            await self._mark_customer(code, version)
        return "applied"

    async def write_customer(self, customer: Any) -> int:
        """Upsert the legacy row of a platform customer; its new row version."""
        values = customer_row(customer, self.zones)
        table = legacy_store.customers
        statement = insert(table).values(values)
        upsert = statement.on_conflict_do_update(
            index_elements=[table.c["客戶"]], set_={name: statement.excluded[name] for name in values if name != "客戶"}
        ).returning(table.c[legacy_store.ROW_VERSION])
        async with self.legacy.begin() as connection:
            return int((await connection.execute(upsert)).scalar_one())

    async def push_order(self, order: Any, session: AsyncSession | None = None) -> int:
        """Write an order of the new platform to its legacy row, reserving the row's 序號 first; its 序號."""
        legacy_id = order.legacy_id or await self._reserved_legacy_id(order, session)
        row = delivery_row(to_platform_delivery(order))
        table = legacy_store.deliveries
        statement = insert(table).values({"序號": legacy_id, **row})
        upsert = statement.on_conflict_do_update(
            index_elements=[table.c["序號"]], set_={name: statement.excluded[name] for name in row}
        ).returning(table.c[legacy_store.ROW_VERSION])
        async with self.legacy.begin() as connection:
            current = await legacy_store.read_delivery(connection, legacy_id)
            if current is not None and {name: current[name] for name in row} == row:
                version = int(current[legacy_store.ROW_VERSION])
            else:
                version = int((await connection.execute(upsert)).scalar_one())
        await self._record_delivery_link(legacy_id, order, version, session)
        if not order.legacy_id:
            await self.orders.link(order.id, legacy_id)
        return legacy_id

    async def _reserved_legacy_id(self, order: Any, session: AsyncSession | None) -> int:
        """The 序號 this order's legacy row has, or a new one from the legacy table's own sequence, recorded
        before the row is written (in its own transaction, so a retry after a crash finds it)."""
        async with self.database.read_session() as reader:
            existing = (
                await reader.execute(select(DeliveryLinkRow.legacy_id).where(DeliveryLinkRow.order_id == order.id))
            ).scalar_one_or_none()
        if existing is not None:
            return int(existing)
        async with self.legacy.begin() as connection:
            legacy_id = int(
                (
                    await connection.execute(text("SELECT nextval(pg_get_serial_sequence('\"配送紀錄\"', '序號'))"))
                ).scalar_one()
            )
        async with self.database.session() as writer:
            await writer.execute(
                insert(DeliveryLinkRow)
                .values(
                    legacy_id=legacy_id,
                    order_id=order.id,
                    customer_code=order.customer_code,
                    origin="new",
                    legacy_version=0,
                )
                .on_conflict_do_nothing()
            )
        async with self.database.read_session() as reader:
            return int(
                (
                    await reader.execute(select(DeliveryLinkRow.legacy_id).where(DeliveryLinkRow.order_id == order.id))
                ).scalar_one()
            )

    async def _record_delivery_link(
        self, legacy_id: int, order: Any, version: int, session: AsyncSession | None
    ) -> None:
        statement = insert(DeliveryLinkRow).values(
            legacy_id=legacy_id,
            order_id=order.id,
            customer_code=order.customer_code,
            origin="new",
            legacy_version=version,
        )
        statement = statement.on_conflict_do_update(
            index_elements=[DeliveryLinkRow.legacy_id],
            set_={"legacy_version": func.greatest(DeliveryLinkRow.legacy_version, version)},
        )
        if session is not None:
            await session.execute(statement)
            return
        async with self.database.session() as writer:
            await writer.execute(statement)
