"""Backfill: every legacy row into the new platform, table by table, resumable and throttled.

Customers go through the customer service (created idempotently by their code, linked when the code is already
there, updated when a legacy-primary customer's fields differ), deliveries through the order service's
ImportLegacyOrders (idempotent by 序號). Each batch commits its checkpoint (the last key gone through), its
counts and its rejections in one transaction after the platform has the batch, so a run killed at any point
starts again from the last checkpoint and, the writes being idempotent, creates nothing twice. A table's run goes
up to the last key present when it started (rows added later are change capture's), so at its end
``done == total`` and, always, ``done == migrated + rejected``.

A dry run maps every row and records what it would reject, and writes nothing to the platform.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from services.migration import legacy_store
from services.migration.apply import apply_customers, customer_links, import_deliveries
from services.migration.conflicts import problems_of
from services.migration.customers import CustomerDirectory
from services.migration.mapping import (
    MappedCustomer,
    MappedDelivery,
    RejectedRow,
    map_customer,
    map_delivery,
)
from services.migration.metrics import BACKFILL_REMAINING, BACKFILL_ROWS
from services.migration.models import BackfillTableRow, RejectionRow
from services.migration.orders import OrderBook
from services.platform.clock import utc_now
from services.platform.database import Database
from services.platform.errors import InvalidArgument

_log = logging.getLogger(__name__)

TABLES = ("customers", "deliveries")
# Batches being written to the platform at once: two keep both the order service and Postgres busy.
WRITES_IN_FLIGHT = 2


@dataclass(frozen=True)
class TableProgress:
    table: str
    state: str
    total: int
    done: int
    migrated: int
    rejected: int
    rows_per_second: float
    eta_seconds: float
    error: str


@dataclass(frozen=True)
class Progress:
    state: str  # idle | running | done | failed
    dry_run: bool
    tables: tuple[TableProgress, ...]
    started_at: datetime | None
    finished_at: datetime | None


@dataclass
class _Rate:
    """Rows per second of this process's run of a table (a resumed run starts counting anew)."""

    started: float = field(default_factory=time.monotonic)
    rows: int = 0

    def per_second(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.rows / elapsed if elapsed > 0 and self.rows else 0.0


class Backfill:
    """Runs one backfill (or dry run) at a time in this process; its state lives in the database."""

    def __init__(
        self,
        database: Database,
        legacy: AsyncEngine,
        customers: CustomerDirectory,
        orders: OrderBook,
        zones: Mapping[str, str],
        *,
        batch_size: int = 500,
        max_rows_per_second: float = 5000.0,
    ) -> None:
        self._database = database
        self._legacy = legacy
        self._customers = customers
        self._orders = orders
        self._zones = zones
        self._batch_size = batch_size
        self._max_rate = max_rows_per_second
        self._task: asyncio.Task[None] | None = None
        self._dry_run = False
        self._rates: dict[str, _Rate] = {}
        # Each customer's zone (an order carries it) as first looked up in this process: one lookup per customer,
        # not per batch. A zone changed meanwhile is change capture's to bring to the orders.
        self._zones_seen: dict[str, str] = {}

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def moving_rows(self) -> bool:
        """A run that writes is under way (a dry run writes nothing)."""
        return self.running and not self._dry_run

    async def start(self, tables: Sequence[str] = (), *, dry_run: bool = False) -> Progress:
        """Start (or resume) the backfill; while one runs, its progress, unchanged."""
        chosen = tuple(tables) or TABLES
        unknown = [table for table in chosen if table not in TABLES]
        if unknown:
            raise InvalidArgument.for_field("tables", f"unknown table {unknown[0]!r}; tables are {', '.join(TABLES)}")
        if self.running:
            return await self.progress()
        self._dry_run = dry_run
        await self._prepare([table for table in TABLES if table in chosen], dry_run)
        self._task = asyncio.create_task(self._run([table for table in TABLES if table in chosen], dry_run))
        return await self.progress()

    async def wait(self) -> Progress:
        if self._task is not None:
            await asyncio.shield(self._task)
        return await self.progress()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def resume_interrupted(self) -> None:
        """At start-up: a run the previous process left running goes on from its checkpoints."""
        async with self._database.read_session() as session:
            interrupted = (
                (await session.execute(select(BackfillTableRow).where(BackfillTableRow.state == "running")))
                .scalars()
                .all()
            )
        if interrupted:
            dry_run = interrupted[0].dry_run
            tables = [table for table in TABLES if any(row.table_name == table for row in interrupted)]
            _log.info("resuming an interrupted backfill", extra={"tables": tables, "dry_run": dry_run})
            await self.start(tables, dry_run=dry_run)

    async def _prepare(self, tables: list[str], dry_run: bool) -> None:
        """A table that finished (or never ran) starts from the beginning; one interrupted resumes."""
        for table in tables:
            legacy = legacy_store.TABLES[table]
            key = legacy.c[_KEY[table]]
            async with self._legacy.connect() as connection:
                total, last = (await connection.execute(select(func.count(), func.max(key)))).one()
            async with self._database.session() as session:
                row = await session.get(BackfillTableRow, (table, dry_run))
                if row is not None and row.state in ("running", "failed") and not dry_run:
                    row.state, row.error = "pending", ""
                    continue
                if row is None:
                    row = BackfillTableRow(table_name=table, dry_run=dry_run)
                    session.add(row)
                row.state, row.checkpoint, row.until_key, row.error = (
                    "pending",
                    "",
                    "" if last is None else str(last),
                    "",
                )
                row.total, row.done, row.migrated, row.rejected = int(total), 0, 0, 0
                row.started_at, row.finished_at, row.updated_at = utc_now(), None, utc_now()
                if dry_run:
                    await session.execute(
                        delete(RejectionRow).where(RejectionRow.table_name == table, RejectionRow.dry_run.is_(True))
                    )

    async def _run(self, tables: list[str], dry_run: bool) -> None:
        for table in tables:
            self._rates[table] = _Rate()
            try:
                await self._run_table(table, dry_run)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - recorded on the table's row, shown in the progress
                _log.exception("backfill of %s failed", table)
                async with self._database.session() as session:
                    row = await session.get(BackfillTableRow, (table, dry_run))
                    assert row is not None
                    row.state, row.error, row.updated_at = "failed", str(error)[:2000], utc_now()
                return

    async def _run_table(self, table: str, dry_run: bool) -> None:
        async with self._database.session() as session:
            row = await session.get(BackfillTableRow, (table, dry_run))
            assert row is not None
            row.state = "running"
            checkpoint, until = row.checkpoint, row.until_key
            remaining = row.total - row.done
        mode = "dry_run" if dry_run else "run"
        rate = self._rates[table]
        # A pipeline: the next batch is read from legacy while up to WRITES_IN_FLIGHT batches are written to the
        # platform (different keys, each write idempotent). Checkpoints are committed in key order, each once its
        # batch and every batch before it are written, so a restart never skips a row; a row written by a batch
        # whose checkpoint was not committed yet is written again, unchanged.
        ahead = asyncio.create_task(self._read(table, checkpoint, until)) if until else None
        writing: deque[tuple[asyncio.Task[list[RejectedRow]], str, int]] = deque()
        try:
            while ahead is not None or writing:
                BACKFILL_REMAINING.labels(table).set(remaining)
                if ahead is not None and len(writing) < WRITES_IN_FLIGHT:
                    rows = await ahead
                    ahead = None
                    if rows:
                        checkpoint = str(rows[-1][_KEY[table]])
                        ahead = asyncio.create_task(self._read(table, checkpoint, until))
                        writing.append((asyncio.create_task(self._write(table, rows, dry_run)), checkpoint, len(rows)))
                    continue
                task, written_to, count = writing.popleft()
                rejected = await task
                await self._commit_batch(table, dry_run, written_to, rejected, count)
                BACKFILL_ROWS.labels(table, "migrated", mode).inc(count - len(rejected))
                BACKFILL_ROWS.labels(table, "rejected", mode).inc(len(rejected))
                remaining -= count
                rate.rows += count
                await self._throttle(rate)
        except BaseException:
            unfinished: list[asyncio.Task[Any]] = [write for write, _, _ in writing]
            if ahead is not None:
                unfinished.append(ahead)
            for pending in unfinished:
                pending.cancel()
            await asyncio.gather(*unfinished, return_exceptions=True)
            raise
        BACKFILL_REMAINING.labels(table).set(0)
        async with self._database.session() as session:
            row = await session.get(BackfillTableRow, (table, dry_run))
            assert row is not None
            row.state, row.finished_at, row.updated_at = "done", utc_now(), utc_now()
            # Rows deleted from legacy while the run went on are not there to count: the identity still holds.
            row.total = row.done

    async def _throttle(self, rate: _Rate) -> None:
        """Keep this run at or under the configured rows per second, so the office's own traffic keeps its pace."""
        ahead = rate.rows / self._max_rate - (time.monotonic() - rate.started)
        if ahead > 0:
            await asyncio.sleep(ahead)

    async def _read(self, table: str, checkpoint: str, until: str) -> list[dict[str, Any]]:
        legacy = legacy_store.TABLES[table]
        key = legacy.c[_KEY[table]]
        after: object = checkpoint if table == "customers" else int(checkpoint or 0)
        last: object = until if table == "customers" else int(until)
        query = select(legacy).where(key <= last).order_by(key).limit(self._batch_size)
        if checkpoint:
            query = query.where(key > after)
        async with self._legacy.connect() as connection:
            return [dict(row) for row in (await connection.execute(query)).mappings()]

    async def _write(self, table: str, rows: list[dict[str, Any]], dry_run: bool) -> list[RejectedRow]:
        if table == "customers":
            return await self._customers_batch(rows, dry_run)
        return await self._deliveries_batch(rows, dry_run)

    async def _customers_batch(self, rows: list[dict[str, Any]], dry_run: bool) -> list[RejectedRow]:
        rejected: list[RejectedRow] = []
        mapped: list[tuple[MappedCustomer, int]] = []
        for row in rows:
            result = map_customer(row, self._zones)  # type: ignore[arg-type]
            if isinstance(result, RejectedRow):
                rejected.append(result)
            else:
                mapped.append((result, int(row[legacy_store.ROW_VERSION])))
        if dry_run:
            return rejected
        primaries = {
            code: link.primary_side
            for code, link in (await customer_links(self._database, (c.fields.code for c, _ in mapped))).items()
        }
        _, refused = await apply_customers(self._database, self._customers, mapped, primaries)
        return rejected + refused

    async def _deliveries_batch(self, rows: list[dict[str, Any]], dry_run: bool) -> list[RejectedRow]:
        links = await customer_links(self._database, (str(row["客戶"]).strip() for row in rows))
        linked = {code: link.customer_id for code, link in links.items() if link.customer_id}
        rejected: list[RejectedRow] = []
        mapped: list[tuple[MappedDelivery, int]] = []
        for row in rows:
            result = map_delivery(row, linked)  # type: ignore[arg-type]
            if isinstance(result, RejectedRow):
                rejected.append(result)
            else:
                mapped.append((result, int(row[legacy_store.ROW_VERSION])))
        if dry_run or not mapped:
            return rejected
        await import_deliveries(self._database, self._customers, self._orders, mapped, linked, zones=self._zones_seen)
        return rejected

    async def _commit_batch(
        self, table: str, dry_run: bool, checkpoint: str, rejected: list[RejectedRow], rows: int
    ) -> None:
        # A row the platform refused after mapping (counted in ``rows`` once) is rejected, not migrated.
        async with self._database.session() as session:
            if rejected:
                statement = insert(RejectionRow).values(
                    [
                        {
                            "table_name": table,
                            "dry_run": dry_run,
                            "key": row.key or f"?{index}",
                            "problems": problems_of(row),
                        }
                        for index, row in enumerate(rejected)
                    ]
                )
                await session.execute(
                    statement.on_conflict_do_update(
                        index_elements=[RejectionRow.table_name, RejectionRow.dry_run, RejectionRow.key],
                        set_={"problems": statement.excluded.problems, "recorded_at": func.now()},
                    )
                )
            record = await session.get(BackfillTableRow, (table, dry_run), with_for_update=True)
            assert record is not None
            record.checkpoint = checkpoint
            record.done += rows
            record.rejected += len(rejected)
            record.migrated += rows - len(rejected)
            record.updated_at = utc_now()

    async def progress(self) -> Progress:
        dry_run = self._dry_run
        async with self._database.read_session() as session:
            rows = (
                (await session.execute(select(BackfillTableRow).where(BackfillTableRow.dry_run.is_(dry_run))))
                .scalars()
                .all()
            )
        by_table = {row.table_name: row for row in rows}
        tables = []
        for table in TABLES:
            row = by_table.get(table)
            if row is None:
                continue
            rate = self._rates.get(table)
            per_second = rate.per_second() if rate is not None and row.state == "running" else 0.0
            left = row.total - row.done
            tables.append(
                TableProgress(
                    table=table,
                    state=row.state,
                    total=row.total,
                    done=row.done,
                    migrated=row.migrated,
                    rejected=row.rejected,
                    rows_per_second=per_second,
                    eta_seconds=left / per_second if per_second > 0 and left > 0 else 0.0,
                    error=row.error,
                )
            )
        states = {table.state for table in tables}
        state = (
            "idle"
            if not tables
            else "running"
            if self.running or "running" in states
            else "failed"
            if "failed" in states
            else "done"
            if states == {"done"}
            else "idle"
        )
        started = min((row.started_at for row in rows if row.started_at is not None), default=None)
        finished = max((row.finished_at for row in rows if row.finished_at is not None), default=None)
        return Progress(state, dry_run, tuple(tables), started, finished if state == "done" else None)


_KEY = {"customers": "客戶", "deliveries": "序號"}
