"""Cutover and rollback per customer, driven by the ``new-platform`` flag's cohort.

The controller compares what the flag says (the cohort; nobody when the flag is killed or disabled) with each
customer's primary side, and moves the customers that differ: a cutover is final sync (legacy → new for the
customer and its deliveries), verify equal, flip to new-primary; a rollback is bringing every change made in the
new platform into the legacy rows (the customer and all its orders), verify equal, flip to legacy-primary. A
verification that fails stops and records what differs; the primary side is only flipped after it passed. Each
attempt is a row in ``cutovers`` with its timings. Level-triggered: a restarted process picks up where the flag
and the table say it stands.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from services.migration import legacy_store
from services.migration.customers import from_mapped, from_proto
from services.migration.legacy_digest import mapped_delivery_text
from services.migration.mapping import MappedCustomer, RejectedRow, map_customer, map_delivery
from services.migration.metrics import CUSTOMERS_BY_PRIMARY, CUTOVER_SECONDS
from services.migration.models import OUTBOX, CustomerLinkRow, CutoverRow
from services.migration.orders import legacy_digests
from services.migration.sync import Sync
from services.platform.canonical import customer_values, digest
from services.platform.clock import utc_now
from services.platform.errors import Unavailable
from services.platform.flags.documents import read_pilot
from services.platform.flags.local import FlagStore
from services.platform.outbox import record_event

_log = logging.getLogger(__name__)

PILOT_FLAG = "new-platform"
# A failed cutover or rollback of a customer is tried again after this long (or when the cohort changes).
RETRY_SECONDS = 60.0


def cohort(flags: FlagStore) -> frozenset[str] | None:
    """The customer codes the pilot flag puts on the new platform; None while the flags are not known yet."""
    if flags.revision == 0:
        return None
    flag = flags.get(PILOT_FLAG)
    if flag is None or not flag.enabled:
        return frozenset()
    pilot = read_pilot(flag)
    return frozenset(pilot.customer_codes) if pilot is not None else frozenset()


@dataclass(frozen=True)
class Verification:
    equal: bool
    detail: str


class CutoverController:
    def __init__(self, sync: Sync, flags: Callable[[], frozenset[str] | None]) -> None:
        self._sync = sync
        self._flags = flags
        self._failed_at: dict[tuple[str, str], float] = {}

    async def run(self, interval_seconds: float) -> None:
        while True:
            try:
                await self.reconcile_cohort()
            except (Unavailable, OSError) as error:
                _log.warning("cutover controller waits: %s", error)
            await asyncio.sleep(interval_seconds)

    async def reconcile_cohort(self) -> int:
        """Move every customer whose primary side differs from the flag; how many were moved."""
        wanted = self._flags()
        if wanted is None:
            return 0
        database = self._sync.database
        async with database.read_session() as session:
            links = (
                await session.execute(
                    select(CustomerLinkRow.code, CustomerLinkRow.primary_side, CustomerLinkRow.customer_id)
                )
            ).all()
        primaries = {code: side for code, side, customer_id in links if customer_id}
        CUSTOMERS_BY_PRIMARY.labels("new").set(sum(side == "new" for side in primaries.values()))
        CUSTOMERS_BY_PRIMARY.labels("legacy").set(sum(side == "legacy" for side in primaries.values()))
        moves = [(code, "cutover") for code in sorted(wanted) if primaries.get(code) == "legacy"]
        moves += [
            (code, "rollback") for code, side in sorted(primaries.items()) if side == "new" and code not in wanted
        ]
        moved = 0
        for code, kind in moves:
            failed = self._failed_at.get((code, kind))
            if failed is not None and time.monotonic() - failed < RETRY_SECONDS:
                continue
            if await (self.cut_over(code) if kind == "cutover" else self.roll_back(code)):
                moved += 1
                self._failed_at.pop((code, kind), None)
            else:
                self._failed_at[(code, kind)] = time.monotonic()
        return moved

    async def cut_over(self, code: str) -> bool:
        return await self._move(code, "cutover")

    async def roll_back(self, code: str) -> bool:
        return await self._move(code, "rollback")

    async def _move(self, code: str, kind: str) -> bool:
        database = self._sync.database
        started = time.monotonic()
        async with database.session() as session:
            attempt = CutoverRow(customer_code=code, kind=kind, outcome="running", started_at=utc_now())
            session.add(attempt)
        try:
            rows = await (self._sync_from_legacy(code) if kind == "cutover" else self._sync_to_legacy(code))
            synced = time.monotonic()
            verification = await self.verify(code)
            verified = time.monotonic()
        except (Unavailable, OSError) as error:
            rows, synced, verified, verification = (
                0,
                time.monotonic(),
                time.monotonic(),
                Verification(False, str(error)),
            )
        outcome = "done" if verification.equal else "failed"
        async with database.session() as session:
            row = await session.get(CutoverRow, attempt.id)
            assert row is not None
            row.outcome, row.finished_at, row.detail, row.rows_synced = outcome, utc_now(), verification.detail, rows
            row.sync_seconds, row.verify_seconds = synced - started, verified - synced
            row.total_seconds = time.monotonic() - started
            if verification.equal:
                await session.execute(
                    update(CustomerLinkRow)
                    .where(CustomerLinkRow.code == code)
                    .values(primary_side="new" if kind == "cutover" else "legacy", updated_at=utc_now())
                )
            await record_event(
                session,
                OUTBOX,
                aggregate="migration",
                type=f"migration.{kind}_{'completed' if verification.equal else 'failed'}",
                aggregate_id=code,
                aggregate_version=0,
                payload={
                    "customer_code": code,
                    "kind": kind,
                    "outcome": outcome,
                    "seconds": row.total_seconds,
                    "detail": verification.detail,
                },
            )
        CUTOVER_SECONDS.labels(kind, outcome).observe(time.monotonic() - started)
        _log.info("%s of %s %s", kind, code, outcome, extra={"detail": verification.detail})
        return verification.equal

    async def _legacy_rows(self, code: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        """The customer's legacy row and every delivery row of it."""
        async with self._sync.legacy.connect() as connection:
            customer = await legacy_store.read_customer(connection, code)
            deliveries = await legacy_store.read_deliveries_of(connection, code)
        return customer, deliveries

    async def _sync_from_legacy(self, code: str) -> int:
        """Final sync: the customer's legacy row and every delivery row of it, applied to the new platform."""
        customer, deliveries = await self._legacy_rows(code)
        rows = 0
        if customer is not None:
            await self._sync.pull_customer_row(customer)
            rows += 1
        return rows + (await self._sync.pull_delivery_rows(deliveries)).count("applied")

    async def _sync_to_legacy(self, code: str) -> int:
        """Every change the customer made in the new platform, written to the legacy rows."""
        rows = 0
        if await self._sync.push_customer(code, primary="new") == "applied":
            rows += 1
        link = await self._sync.link_of(code)
        if link is None or not link.customer_id:
            return rows
        _, deliveries = await self._legacy_rows(code)
        legacy_rows = self._mapped_digests(deliveries, code, link.customer_id)
        orders = await self._sync.orders.of_customer(link.customer_id)
        new_rows = await legacy_digests(self._sync.orders.stub, sorted(o.legacy_id for o in orders if o.legacy_id))
        for order in orders:
            if order.legacy_id in legacy_rows and legacy_rows[order.legacy_id] == new_rows.get(order.legacy_id):
                continue  # the legacy row says this already: rewriting it could only lose what the order lacks
            await self._sync.push_order(order)
            rows += 1
        return rows

    @staticmethod
    def _mapped_digests(deliveries: list[dict[str, Any]], code: str, customer_id: str) -> dict[int, int]:
        """序號 → digest of the canonical text of each of the customer's legacy rows the mapping accepts."""
        found = {}
        for row in deliveries:
            delivery = map_delivery(row, {code: customer_id})  # type: ignore[arg-type]
            if not isinstance(delivery, RejectedRow):
                key = int(row["序號"])
                found[key] = digest(key, mapped_delivery_text(delivery))
        return found

    async def verify(self, code: str) -> Verification:
        """Whether the customer and all its deliveries are equal on both sides (rows the mapping refuses aside)."""
        found = await self._sync.customers.by_code(code)
        customer, deliveries = await self._legacy_rows(code)
        if found is None or customer is None:
            return Verification(False, f"customer {code} is missing on the {'new' if found is None else 'legacy'} side")
        mapped = map_customer(customer, self._sync.zones)  # type: ignore[arg-type]
        if not isinstance(mapped, MappedCustomer):
            return Verification(False, f"the legacy row of {code} is refused by the mapping")
        legacy_values = customer_values(from_mapped(mapped).canonical_record())
        new_values = customer_values(from_proto(found).canonical_record())
        different = [name for name in legacy_values if legacy_values[name] != new_values[name]]
        if different:
            return Verification(False, f"customer fields differ: {', '.join(different)}")
        legacy_rows = self._mapped_digests(deliveries, code, found.id)
        orders = await self._sync.orders.of_customer(found.id)
        linked = [order.legacy_id for order in orders if order.legacy_id]
        new_rows = await legacy_digests(self._sync.orders.stub, sorted({*linked, *legacy_rows}))
        problems = []
        if unlinked := len(orders) - len(linked):
            problems.append(f"{unlinked} orders without a legacy row")
        if missing := sorted(set(legacy_rows) - set(new_rows)):
            problems.append(f"{len(missing)} deliveries only in legacy (e.g. 序號 {missing[0]})")
        if extra := sorted(set(new_rows) - set(legacy_rows)):
            problems.append(f"{len(extra)} orders only in the new platform (e.g. 序號 {extra[0]})")
        changed = sorted(key for key in set(legacy_rows) & set(new_rows) if legacy_rows[key] != new_rows[key])
        if changed:
            problems.append(f"{len(changed)} deliveries differ (e.g. 序號 {changed[0]})")
        return Verification(not problems, "; ".join(problems))
