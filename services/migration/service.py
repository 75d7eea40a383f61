"""Migration-sync's use cases behind its gRPC API: status, backfill, rejections, reconcile, cutovers, conflicts."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.migration import legacy_store
from services.migration.apply import apply_customers
from services.migration.backfill import Backfill, Progress
from services.migration.customers import from_proto
from services.migration.mapping import MappedCustomer, MappedDelivery, map_customer, map_delivery
from services.migration.metrics import CONFLICTS_OPEN, RECONCILE_MISMATCHES, RECONCILE_SECONDS
from services.migration.models import (
    OUTBOX,
    ConflictRow,
    CustomerLinkRow,
    CutoverRow,
    DeliveryLinkRow,
    ReconcileReportRow,
    RejectionRow,
)
from services.migration.reconcile import LegacySide, Report, Side, reconcile
from services.migration.sync import LEGACY_TO_NEW, NEW_TO_LEGACY, Sync
from services.platform.canonical import CUSTOMER_FIELDS, DELIVERY_FIELDS
from services.platform.clock import utc_now
from services.platform.database import Database
from services.platform.errors import FailedPrecondition, InvalidArgument, NotFound
from services.platform.outbox import record_event
from services.platform.paging import decode_page_token, encode_page_token, page_limit, token_field

TABLES = ("customers", "deliveries")
RESOLUTIONS = ("keep_primary", "take_other", "edit")
MAX_REPORTED_ROWS = 1000  # differences kept in a report (and repaired by one run); the count is always whole


@dataclass(frozen=True)
class TableCounts:
    table: str
    legacy_rows: int
    migrated: int
    rejected: int
    pending: int


@dataclass(frozen=True)
class Status:
    tables: tuple[TableCounts, ...]
    legacy_primary: int
    new_primary: int
    lag: tuple[tuple[str, float, int], ...]  # direction, seconds, pending
    open_conflicts: int
    backfill: Progress


def _page(page_size: int, default: int, most: int) -> int:
    return page_limit(page_size, default, most)


def _offset(token: str) -> int:
    offset = decode_page_token(token, lambda document: token_field(document, "offset", int))
    if offset is not None and offset < 0:
        raise InvalidArgument.for_field("page_token", "is not a token this service issued")
    return offset or 0


def _next(offset: int, size: int, returned: int) -> str:
    return encode_page_token({"offset": offset + size}) if returned == size else ""


def _table(table: str, field: str = "table", *, optional: bool = False) -> str:
    if optional and not table:
        return table
    if table not in TABLES:
        raise InvalidArgument.for_field(field, f"must be one of {', '.join(TABLES)}")
    return table


class MigrationService:
    def __init__(
        self,
        database: Database,
        legacy: AsyncEngine,
        backfill: Backfill,
        sync: Sync,
        sides: Callable[[str, Collection[int]], tuple[LegacySide, Side]],
        *,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        self.database = database
        self.legacy = legacy
        self.backfill = backfill
        self.sync = sync
        self._sides = sides
        self._now = now
        self._reconciling: set[str] = set()

    async def status(self) -> Status:
        async with self.legacy.connect() as connection:
            legacy_counts = {
                table: int(
                    (
                        await connection.execute(select(func.count()).select_from(legacy_store.TABLES[table]))
                    ).scalar_one()
                )
                for table in TABLES
            }
        async with self.database.read_session() as session:
            migrated = {
                "customers": int(
                    (await session.execute(select(func.count()).where(CustomerLinkRow.customer_id != ""))).scalar_one()
                ),
                "deliveries": int(
                    (await session.execute(select(func.count()).select_from(DeliveryLinkRow))).scalar_one()
                ),
            }
            rejected = dict(
                (
                    await session.execute(
                        select(RejectionRow.table_name, func.count())
                        .where(RejectionRow.dry_run.is_(False))
                        .group_by(RejectionRow.table_name)
                    )
                ).all()
            )
            primaries = dict(
                (
                    await session.execute(
                        select(CustomerLinkRow.primary_side, func.count())
                        .where(CustomerLinkRow.customer_id != "")
                        .group_by(CustomerLinkRow.primary_side)
                    )
                ).all()
            )
            open_conflicts = int(
                (await session.execute(select(func.count()).where(ConflictRow.state == "open"))).scalar_one()
            )
        marks = await self.sync.marks()
        async with self.legacy.connect() as connection:
            pending = 0
            for table, mark in marks.items():
                version = legacy_store.TABLES[table].c[legacy_store.ROW_VERSION]
                pending += int(
                    (
                        await connection.execute(
                            select(func.count()).select_from(legacy_store.TABLES[table]).where(version > mark)
                        )
                    ).scalar_one()
                )
        tables = tuple(
            TableCounts(
                table,
                legacy_counts[table],
                migrated[table],
                int(rejected.get(table, 0)),
                max(0, legacy_counts[table] - migrated[table] - int(rejected.get(table, 0))),
            )
            for table in TABLES
        )
        return Status(
            tables=tables,
            legacy_primary=int(primaries.get("legacy", 0)),
            new_primary=int(primaries.get("new", 0)),
            lag=((LEGACY_TO_NEW, self.sync.lag.seconds(), pending), (NEW_TO_LEGACY, self.sync.event_lag_seconds, 0)),
            open_conflicts=open_conflicts,
            backfill=await self.backfill.progress(),
        )

    async def start_backfill(self, tables: Sequence[str], dry_run: bool) -> Progress:
        if not dry_run:
            await self.sync.start_marks()
        return await self.backfill.start(tables, dry_run=dry_run)

    async def rejections(
        self, table: str, dry_run: bool, page_size: int, page_token: str
    ) -> tuple[list[RejectionRow], str, int]:
        _table(table, optional=True)
        size, offset = _page(page_size, 100, 1000), _offset(page_token)
        query = select(RejectionRow).where(RejectionRow.dry_run.is_(dry_run))
        if table:
            query = query.where(RejectionRow.table_name == table)
        async with self.database.read_session() as session:
            total = int((await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one())
            rows = list(
                (
                    await session.execute(
                        query.order_by(RejectionRow.table_name, RejectionRow.key).offset(offset).limit(size)
                    )
                ).scalars()
            )
        return rows, _next(offset, size, len(rows)), total

    # ------------------------------------------------------------------ reconcile

    async def run_reconcile(self, table: str, *, repair: bool, trigger: str = "manual") -> ReconcileReportRow:
        """Compare ``table`` across both sides and keep the report. Refused while a backfill moves rows (its rows
        would all differ until it ends, and a repair would race it) and while the table is being compared already."""
        _table(table)
        if self.backfill.moving_rows:
            raise FailedPrecondition("a backfill is running: reconcile once it has finished (see its progress)")
        if table in self._reconciling:
            raise FailedPrecondition(f"a reconcile of {table} is running already; its report will be listed")
        self._reconciling.add(table)
        try:
            return await self._reconcile(table, repair=repair, trigger=trigger)
        finally:
            self._reconciling.discard(table)

    async def _reconcile(self, table: str, *, repair: bool, trigger: str) -> ReconcileReportRow:
        started_at, began = self._now(), time.perf_counter()
        async with self.database.read_session() as session:
            refused = (
                await session.execute(
                    select(RejectionRow.key).where(RejectionRow.table_name == table, RejectionRow.dry_run.is_(False))
                )
            ).scalars()
            # The rows migration refused are not on the other side by design: left out of the comparison.
            excluded = {int(key) for key in refused if key.isdecimal()}
        legacy_side, new_side = self._sides(table, excluded)
        fields = CUSTOMER_FIELDS if table == "customers" else DELIVERY_FIELDS
        report = await reconcile(legacy_side, new_side, fields)
        rows = await self._difference_rows(table, report)
        if repair:
            described = rows[:MAX_REPORTED_ROWS]
            linked = set(await self._primaries({row["customer_code"] for row in described}))
            for row in described:
                row["repaired"] = await self._repair(table, row, linked)
        seconds = time.perf_counter() - began
        legacy_span = await legacy_side.key_span()
        new_span = await new_side.key_span()
        rejected_rows = await legacy_side.excluded_rows()
        compared = (await legacy_side.checksum([legacy_span]))[0].count if legacy_span else 0
        legacy_rows = compared + rejected_rows
        new_rows = (await new_side.checksum([new_span]))[0].count if new_span else 0
        differences = len(rows)
        for kind in ("only_legacy", "only_new", "different"):
            RECONCILE_MISMATCHES.labels(table, kind).set(sum(row["kind"] == kind for row in rows))
        RECONCILE_SECONDS.labels(table).observe(seconds)
        async with self.database.session() as session:
            stored = ReconcileReportRow(
                id=uuid.uuid4(),
                table_name=table,
                trigger=trigger,
                repair=repair,
                started_at=started_at,
                finished_at=self._now(),
                legacy_rows=legacy_rows,
                new_rows=new_rows,
                differences=differences,
                rows=rows[:MAX_REPORTED_ROWS],
                checksum_calls=report.statistics.checksum_calls,
                rows_fetched=report.statistics.rows_fetched,
                seconds=seconds,
                rejected_rows=rejected_rows,
            )
            session.add(stored)
            await record_event(
                session,
                OUTBOX,
                aggregate="migration",
                type="migration.reconciled",
                aggregate_id=table,
                aggregate_version=0,
                payload={"report_id": str(stored.id), "table": table, "differences": differences, "repair": repair},
            )
        return stored

    async def _difference_rows(self, table: str, report: Report) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for key in report.only_in_legacy:
            rows.append({"key": self._key(table, key), "kind": "only_legacy", "fields": []})
        for key in report.only_in_new:
            rows.append({"key": self._key(table, key), "kind": "only_new", "fields": []})
        for difference in report.different:
            rows.append(
                {
                    "key": self._key(table, difference.key),
                    "kind": "different",
                    "fields": [
                        {"field": name, "legacy": legacy, "new": new}
                        for name, (legacy, new) in difference.fields.items()
                    ],
                }
            )
        # Every difference is counted; the first MAX_REPORTED_ROWS are described (customer, primary side), kept
        # in the report and, with repair, re-synced: a run repairs at most that many, the next run goes on.
        described = rows[:MAX_REPORTED_ROWS]
        codes = await self._codes(table, [row["key"] for row in described])
        primaries = await self._primaries(set(codes.values()))
        for row in rows:
            row["customer_code"] = codes.get(row["key"], "")
            row["primary"] = primaries.get(row["customer_code"], "legacy")
            row["repaired"] = False
        return rows

    @staticmethod
    def _key(table: str, key: int) -> str:
        return f"{key:07d}" if table == "customers" else str(key)

    async def _codes(self, table: str, keys: list[str]) -> dict[str, str]:
        if table == "customers":
            return {key: key for key in keys}
        async with self.database.read_session() as session:
            linked = dict(
                (
                    await session.execute(
                        select(DeliveryLinkRow.legacy_id, DeliveryLinkRow.customer_code).where(
                            DeliveryLinkRow.legacy_id.in_([int(key) for key in keys])
                        )
                    )
                ).all()
            )
        found = {str(key): code for key, code in linked.items()}
        missing = [int(key) for key in keys if key not in found]
        if missing:
            deliveries = legacy_store.deliveries
            async with self.legacy.connect() as connection:
                for legacy_id, code in (
                    await connection.execute(
                        select(deliveries.c["序號"], deliveries.c["客戶"]).where(deliveries.c["序號"].in_(missing))
                    )
                ).all():
                    found[str(legacy_id)] = str(code).strip()
        return found

    async def _primaries(self, codes: set[str]) -> dict[str, str]:
        async with self.database.read_session() as session:
            return dict(
                (
                    await session.execute(
                        select(CustomerLinkRow.code, CustomerLinkRow.primary_side).where(
                            CustomerLinkRow.code.in_(codes)
                        )
                    )
                ).all()
            )

    async def _repair(self, table: str, row: dict[str, Any], linked: set[str]) -> bool:
        """Re-sync one differing row from its primary side; whether it was written. A row of a customer the
        backfill has not brought over yet is the backfill's to migrate, not a repair's."""
        code, key = row["customer_code"], row["key"]
        if code not in linked and not (table == "customers" and row["kind"] != "only_legacy"):
            return False
        if table == "customers":
            if row["primary"] == "new":
                return await self.sync.push_customer(code, primary="new") == "applied"
            return await self.pull_customer(code)
        if row["primary"] == "new":
            async with self.database.read_session() as session:
                link = await session.get(DeliveryLinkRow, int(key))
            order = await self.sync.orders.get(link.order_id) if link is not None else None
            if order is None:
                return False
            await self.sync.push_order(order)
            return True
        found = await self.sync.legacy_delivery(int(key))
        if found is None:
            return False
        await self._forget_delivery_version(int(key))
        return await self.sync.pull_delivery_row(found) == "applied"

    async def pull_customer(self, code: str) -> bool:
        found = await self.sync.legacy_customer(code)
        if found is None:
            return False
        mapped = map_customer(found, self.sync.zones)  # type: ignore[arg-type]
        if not isinstance(mapped, MappedCustomer):
            return False
        # Whatever version the link records: a repair writes the legacy row's values again.
        applied, _ = await apply_customers(
            self.database, self.sync.customers, [(mapped, int(found[legacy_store.ROW_VERSION]))], {}
        )
        return bool(applied)

    async def _forget_delivery_version(self, legacy_id: int) -> None:
        async with self.database.session() as session:
            link = await session.get(DeliveryLinkRow, legacy_id, with_for_update=True)
            if link is not None:
                link.legacy_version = 0

    async def reports(self, table: str, page_size: int, page_token: str) -> tuple[list[ReconcileReportRow], str]:
        _table(table, optional=True)
        size, offset = _page(page_size, 20, 100), _offset(page_token)
        query = select(ReconcileReportRow).order_by(ReconcileReportRow.started_at.desc())
        if table:
            query = query.where(ReconcileReportRow.table_name == table)
        async with self.database.read_session() as session:
            rows = list((await session.execute(query.offset(offset).limit(size))).scalars())
        return rows, _next(offset, size, len(rows))

    async def report(self, report_id: str) -> ReconcileReportRow:
        identifier = _uuid(report_id, "id")
        async with self.database.read_session() as session:
            found = await session.get(ReconcileReportRow, identifier)
        if found is None:
            raise NotFound(f"reconcile report {report_id} does not exist")
        return found

    # ------------------------------------------------------------------ cutovers and conflicts

    async def cutovers(self, code: str, page_size: int, page_token: str) -> tuple[list[CutoverRow], str]:
        if code and not (len(code) == 7 and code.isdigit()):
            raise InvalidArgument.for_field("customer_code", "must be a 7-digit customer code")
        size, offset = _page(page_size, 50, 500), _offset(page_token)
        query = select(CutoverRow).order_by(CutoverRow.started_at.desc(), CutoverRow.id)
        if code:
            query = query.where(CutoverRow.customer_code == code)
        async with self.database.read_session() as session:
            rows = list((await session.execute(query.offset(offset).limit(size))).scalars())
        return rows, _next(offset, size, len(rows))

    async def conflicts(self, state: str, code: str, page_size: int, page_token: str) -> tuple[list[ConflictRow], str]:
        state = state or "open"
        if state not in ("open", "resolved", "all"):
            raise InvalidArgument.for_field("state", "must be open, resolved or all")
        size, offset = _page(page_size, 50, 500), _offset(page_token)
        query = select(ConflictRow).order_by(ConflictRow.detected_at.desc(), ConflictRow.id)
        if state != "all":
            query = query.where(ConflictRow.state == state)
        if code:
            query = query.where(ConflictRow.customer_code == code)
        async with self.database.read_session() as session:
            rows = list((await session.execute(query.offset(offset).limit(size))).scalars())
            if state == "open":
                for table in TABLES:
                    CONFLICTS_OPEN.labels(table).set(
                        int(
                            (
                                await session.execute(
                                    select(func.count()).where(
                                        ConflictRow.state == "open", ConflictRow.table_name == table
                                    )
                                )
                            ).scalar_one()
                        )
                    )
        return rows, _next(offset, size, len(rows))

    async def resolve(self, conflict_id: str, resolution: str, values: dict[str, str], by: str) -> ConflictRow:
        identifier = _uuid(conflict_id, "id")
        if resolution not in RESOLUTIONS:
            raise InvalidArgument.for_field("resolution", f"must be one of {', '.join(RESOLUTIONS)}")
        async with self.database.read_session() as session:
            conflict = await session.get(ConflictRow, identifier)
        if conflict is None:
            raise NotFound(f"conflict {conflict_id} does not exist")
        if conflict.state == "resolved":
            if conflict.resolution == resolution and (resolution != "edit" or conflict.values == values):
                return conflict
            raise FailedPrecondition(f"conflict {conflict_id} was resolved already ({conflict.resolution})")
        if resolution == "edit":
            await self._edit(conflict, values)
        elif resolution == "keep_primary":
            await self._copy(conflict, from_side=conflict.primary_side)
        else:
            await self._copy(conflict, from_side="legacy" if conflict.primary_side == "new" else "new")
        async with self.database.session() as session:
            row = await session.get(ConflictRow, identifier, with_for_update=True)
            assert row is not None
            row.state, row.resolution, row.values = "resolved", resolution, values
            row.resolved_at, row.resolved_by = self._now(), by
            await record_event(
                session,
                OUTBOX,
                aggregate="migration",
                type="migration.conflict_resolved",
                aggregate_id=str(row.id),
                aggregate_version=0,
                payload={"conflict_id": str(row.id), "table": row.table_name, "key": row.key, "resolution": resolution},
            )
        return row

    async def _copy(self, conflict: ConflictRow, *, from_side: str) -> None:
        """Make the row equal on both sides, taking ``from_side``'s values."""
        code = conflict.customer_code
        if conflict.table_name == "customers":
            if from_side == "new":
                await self.sync.write_customer(from_proto(await self._customer(code)))
            else:
                await self.pull_customer(code)
            return
        if from_side == "legacy":
            if not conflict.key.isdigit():
                raise FailedPrecondition("the order has no legacy row to take values from")
            found = await self.sync.legacy_delivery(int(conflict.key))
            if found is None:
                raise FailedPrecondition(f"legacy row {conflict.key} is gone")
            await self._pull_delivery_as_legacy_primary(found)
            return
        async with self.database.read_session() as session:
            link = await session.get(DeliveryLinkRow, int(conflict.key)) if conflict.key.isdigit() else None
        order_id = link.order_id if link is not None else conflict.key.removeprefix("order:")
        order = await self.sync.orders.get(order_id)
        if order is None:
            raise FailedPrecondition(f"order {order_id} is gone")
        await self.sync.push_order(order)

    async def _pull_delivery_as_legacy_primary(self, row: dict[str, Any]) -> None:
        """Apply a legacy delivery row to the new platform whatever the customer's primary side."""
        code = str(row["客戶"]).strip()
        link = await self.sync.link_of(code)
        if link is None or not link.customer_id:
            raise FailedPrecondition(f"customer {code} is not in the new platform")
        mapped = map_delivery(row, {code: link.customer_id})  # type: ignore[arg-type]
        if not isinstance(mapped, MappedDelivery):
            raise FailedPrecondition(
                "the legacy row is refused by the mapping: " + "; ".join(p.reason for p in mapped.problems)
            )
        await self.sync.import_delivery(mapped, link.customer_id, int(row[legacy_store.ROW_VERSION]))

    async def _customer(self, code: str) -> Any:
        found = await self.sync.customers.by_code(code)
        if found is None:
            raise FailedPrecondition(f"customer {code} is not in the new platform")
        return found

    async def _edit(self, conflict: ConflictRow, values: dict[str, str]) -> None:
        if conflict.table_name != "customers":
            raise InvalidArgument.for_field("resolution", "edit applies to customer conflicts; take one side instead")
        unknown = sorted(set(values) - set(EDITABLE))
        if unknown or not values:
            problem = f"unknown field {unknown[0]}" if unknown else "name at least one field"
            raise InvalidArgument.for_field("values", f"{problem}; editable: {', '.join(EDITABLE)}")
        found = await self._customer(conflict.customer_code)
        updated = await self.sync.customers.set_text(found, values)
        await self.sync.write_customer(from_proto(updated))


# Text fields a person may set by hand when resolving a customer conflict (applied to both sides).
EDITABLE = ("short_name", "invoice_title", "address", "rest_days")


def _uuid(value: str, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidArgument.for_field(field, "must be a UUID") from None
