"""SQL for the orders migrated from or linked to the legacy system: bulk import, links, and the canonical form.

The canonical text of an order (``canonical.delivery_text``) is computed here in SQL, so a reconcile checksums a
million orders in the database without shipping them out. Items are the delivered ones for a delivered order
(what the legacy row records), the ordered ones otherwise; metered gas comes from ``orders.metered``; empties from
the visit's record, counted per cylinder size through the product catalogue (``PRODUCTS[...].size_kg``).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.order.models import DeliveryRow, OrderItemRow, OrderRow, PriceListRow
from services.order.schemas import KeyRange, RangeChecksum
from services.platform.canonical import DIGEST_SQL, LIST_SEPARATOR, SEPARATOR
from services.platform.products import PRODUCTS

# Product code → cylinder size in kg as text, a JSONB constant the planner folds once per statement.
_SIZES = json.dumps({code: str(product.size_kg) for code, product in sorted(PRODUCTS.items())})
_SEP = f"'{SEPARATOR}'"
_LIST = f"'{LIST_SEPARATOR}'"


def _pairs_of_json(column: str, *, value: str = "(e->>1)") -> str:
    """``product=value`` pairs of a JSONB ``[[product, n], ...]`` list, non-zero ones, sorted by code point."""
    return (
        "coalesce((SELECT string_agg("  # nosec B608 # fragments from our own constants, values bound
        f"(e->>0) || '=' || {value}, {_LIST} ORDER BY (e->>0) COLLATE \"C\")"
        f" FROM jsonb_array_elements({column}) AS e WHERE {value}::bigint <> 0), '')"
    )


# The canonical text of order ``o`` (with its visit ``d``, LEFT JOINed): canonical.DELIVERY_FIELDS in order.
CANONICAL_SQL = (
    "o.customer_code"  # nosec B608 # fragments from our own constants, values bound
    f" || {_SEP} || to_char(o.scheduled_date, 'YYYY-MM-DD') || {_SEP} || o.status || {_SEP}"
    f" || o.failure_reason || {_SEP}"
    f" || CASE WHEN d.outcome = 'delivered' THEN {_pairs_of_json('d.delivered')}"
    " ELSE coalesce((SELECT string_agg(i.product || '=' || i.quantity, "
    f'{_LIST} ORDER BY i.product COLLATE "C") FROM "order".order_items AS i'
    " WHERE i.order_id = o.id AND i.quantity <> 0), '') END"
    f" || {_SEP}"
    f" || CASE WHEN o.metered = '[]'::jsonb THEN '' ELSE {_pairs_of_json('o.metered')} END"
    f" || {_SEP}"
    " || CASE WHEN d.empties_received IS NULL OR d.empties_received = '[]'::jsonb THEN '' ELSE"
    f" coalesce((SELECT string_agg(s.size || '=' || s.count, {_LIST} ORDER BY s.size COLLATE \"C\") FROM"
    f" (SELECT '{_SIZES}'::jsonb ->> (e->>0) AS size, sum((e->>1)::bigint) AS count"
    "  FROM jsonb_array_elements(d.empties_received) AS e GROUP BY 1) AS s WHERE s.count <> 0), '') END"
)
DIGEST = DIGEST_SQL.format(key="o.legacy_id", canonical=f"({CANONICAL_SQL})")
_FROM = 'FROM "order".orders AS o LEFT JOIN "order".deliveries AS d ON d.order_id = o.id'

# Which canonical form the stored digests follow: a change of CANONICAL_SQL recomputes them all.
DIGEST_DEFINITION = hashlib.sha256(DIGEST.encode()).hexdigest()
# Serialises digest refreshes, so a refresh never writes a digest older than one already stored.
_REFRESH_LOCK = 1_746_000_013
# The listed orders' digests recomputed in one statement and one snapshot: the change entries it removes are those
# that snapshot sees, so a write committed meanwhile stays listed for the next refresh. A legacy id no order holds
# any more (re-keyed or deleted) loses its digest.
_REFRESH_SQL = text(
    # nosemgrep: sql-built-from-strings -- fragments from our own constants (canonical SQL, tables), values bound
    'WITH changed AS (DELETE FROM "order".legacy_digest_changes RETURNING order_id, legacy_id),'  # nosec B608
    f" fresh AS (SELECT o.legacy_id, {DIGEST} AS digest {_FROM}"
    "  WHERE o.id IN (SELECT order_id FROM changed) AND o.legacy_id IS NOT NULL),"
    ' dropped AS (DELETE FROM "order".legacy_digests AS g WHERE g.legacy_id IN (SELECT legacy_id FROM changed)'
    "  AND NOT EXISTS (SELECT 1 FROM fresh WHERE fresh.legacy_id = g.legacy_id))"
    ' INSERT INTO "order".legacy_digests (legacy_id, digest) SELECT legacy_id, digest FROM fresh'
    " ON CONFLICT (legacy_id) DO UPDATE SET digest = excluded.digest"
)
_RELIST_SQL = text(
    'INSERT INTO "order".legacy_digest_changes (order_id, legacy_id)'
    ' SELECT id, legacy_id FROM "order".orders WHERE legacy_id IS NOT NULL'
)
# Every range of a call in one statement and one scan of the stored digests: the ranges' bounds, sorted, cut the
# keys into elementary intervals (width_bucket); each interval is summed once, and each range adds up the
# intervals it covers. Ranges may overlap or leave gaps; the rows scanned are those from the lowest start to the
# highest end.
CHECKSUM_SQL = text(
    "WITH b AS ("
    "SELECT * FROM unnest(CAST(:starts AS bigint[]), CAST(:ends AS bigint[])) WITH ORDINALITY"
    "  AS b(start_key, end_key, n)),"
    " points AS (SELECT array_agg(p ORDER BY p) AS p FROM (SELECT start_key AS p FROM b UNION SELECT end_key FROM b)"
    "  AS x),"
    " buckets AS (SELECT width_bucket(g.legacy_id, (SELECT p FROM points)) AS bucket, count(*) AS row_count,"
    '  sum(g.digest) AS digest_sum FROM "order".legacy_digests AS g'
    "  WHERE g.legacy_id >= (SELECT min(start_key) FROM b) AND g.legacy_id < (SELECT max(end_key) FROM b)"
    "  GROUP BY 1)"
    " SELECT b.n, coalesce(sum(k.row_count), 0) AS row_count, coalesce(sum(k.digest_sum), 0)::text AS digest_sum"
    " FROM b CROSS JOIN points LEFT JOIN buckets AS k ON k.bucket >= width_bucket(b.start_key, points.p)"
    "  AND k.bucket < width_bucket(b.end_key, points.p)"
    " GROUP BY b.n ORDER BY b.n"
)
CANONICAL_RANGE_SQL = text(
    # nosemgrep: sql-built-from-strings -- fragments from our own constants (canonical SQL, tables), values bound
    f"SELECT o.legacy_id AS key, {CANONICAL_SQL} AS canonical {_FROM}"
    " WHERE o.legacy_id >= :start AND o.legacy_id < :end ORDER BY o.legacy_id LIMIT :limit"
)
_EXISTING_SQL = text(
    # nosemgrep: sql-built-from-strings -- fragments from our own constants (canonical SQL, tables), values bound
    "SELECT o.legacy_id, o.id, o.customer_id, o.customer_zone, o.window_start, o.window_end, o.payment_method,"
    f" o.created_by,"
    f" {CANONICAL_SQL} AS canonical {_FROM} WHERE o.legacy_id = ANY(CAST(:keys AS bigint[]))"
)
# Each touched customer's latest delivered day and the kg delivered that day (cylinders by size, plus metered
# gas), from their most recent delivered orders: the refill forecast's starting point, recomputed rather than
# added to, so re-importing a row never counts it twice.
_REFRESH_REFILLS_SQL = text(
    # nosemgrep: sql-built-from-strings -- fragments from our own constants (canonical SQL, tables), values bound
    'INSERT INTO "order".customer_refills'  # nosec B608 # fragments from our own constants, values bound
    " (customer_id, last_delivered_on, kg_delivered, source)"
    " SELECT c.customer_id, latest.day, latest.kg, 'delivery'"
    " FROM unnest(CAST(:customers AS uuid[])) AS c(customer_id)"
    " CROSS JOIN LATERAL ("
    "  SELECT r.day, sum(r.kg)::float8 AS kg FROM ("
    "   SELECT (d.occurred_at AT TIME ZONE 'Asia/Taipei')::date AS day,"
    f"   coalesce((SELECT sum((('{_SIZES}'::jsonb ->> (e->>0))::int) * (e->>1)::int)"
    "     FROM jsonb_array_elements(d.delivered) AS e), 0)"
    "   + coalesce((SELECT sum((m->>1)::bigint) FROM jsonb_array_elements(o.metered) AS m), 0) / 10.0 AS kg"
    '   FROM "order".orders AS o JOIN "order".deliveries AS d ON d.order_id = o.id AND d.outcome = \'delivered\''
    "   WHERE o.customer_id = c.customer_id AND o.status = 'delivered'"
    "   ORDER BY o.scheduled_date DESC LIMIT 20) AS r"
    "  GROUP BY r.day ORDER BY r.day DESC LIMIT 1) AS latest"
    " ON CONFLICT (customer_id) DO UPDATE SET last_delivered_on = excluded.last_delivered_on,"
    " kg_delivered = excluded.kg_delivered, source = 'delivery', updated_at = now()"
)
_UPDATE_ORDER_SQL = text(
    'UPDATE "order".orders SET customer_id = :customer_id, customer_code = :customer_code,'
    " customer_zone = :customer_zone, status = :status, scheduled_date = :scheduled_date,"
    " window_start = :window_start, window_end = :window_end, payment_method = :payment_method,"
    " price_list_id = :price_list_id, subtotal = :subtotal, vat = :vat, total = :total,"
    " cancel_reason = :cancel_reason, failure_reason = :failure_reason, paid_at = :paid_at,"
    " created_by = :created_by, metered = CAST(:metered AS jsonb), version = version + 1, updated_at = now()"
    " WHERE id = :id"
)


@dataclass(frozen=True)
class ExistingLegacyOrder:
    """What an import compares a stored legacy order with."""

    order_id: uuid.UUID
    # (canonical text, customer id, zone, window start, window end, payment method, salesperson)
    comparable: tuple[Any, ...]


class LegacyOrderRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lock(self, legacy_ids: Sequence[int]) -> None:
        """Transaction-scoped advisory locks on legacy ids, in ascending order (no deadlocks between batches)."""
        await self.session.execute(
            text(
                "SELECT count(pg_advisory_xact_lock(hashtext('order-legacy:' || k)))"
                " FROM unnest(CAST(:keys AS bigint[])) AS k"
            ),
            {"keys": sorted(legacy_ids)},
        )

    async def price_lists(self) -> list[tuple[date, int]]:
        """Every price list as (effective from, id), oldest first."""
        rows = await self.session.execute(
            PriceListRow.__table__.select()
            .with_only_columns(PriceListRow.effective_from, PriceListRow.id)
            .order_by(PriceListRow.effective_from)
        )
        return [(row.effective_from, row.id) for row in rows]

    async def existing(self, legacy_ids: Sequence[int]) -> dict[int, ExistingLegacyOrder]:
        rows = await self.session.execute(_EXISTING_SQL, {"keys": list(legacy_ids)})
        return {
            row.legacy_id: ExistingLegacyOrder(
                row.id,
                (
                    row.canonical,
                    row.customer_id,
                    row.customer_zone,
                    row.window_start,
                    row.window_end,
                    row.payment_method,
                    row.created_by,
                ),
            )
            for row in rows
        }

    async def insert_orders(self, rows: list[dict[str, Any]]) -> int:
        """New orders; one keyed by a legacy id stored meanwhile is skipped. Returns how many were inserted."""
        if not rows:
            return 0
        statement = (
            insert(OrderRow).on_conflict_do_nothing(index_elements=[OrderRow.legacy_id]).returning(OrderRow.legacy_id)
        )
        return len((await self.session.execute(statement, rows)).all())

    async def update_orders(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            await self.session.execute(_UPDATE_ORDER_SQL, rows)

    async def replace_lines(
        self, order_ids: list[uuid.UUID], items: list[dict[str, Any]], visits: list[dict[str, Any]]
    ) -> None:
        """The orders' item lines and visit records become ``items`` and ``visits`` (each one statement)."""
        if order_ids:
            await self.session.execute(
                text('DELETE FROM "order".order_items WHERE order_id = ANY(CAST(:ids AS uuid[]))'), {"ids": order_ids}
            )
            await self.session.execute(
                text('DELETE FROM "order".deliveries WHERE order_id = ANY(CAST(:ids AS uuid[]))'), {"ids": order_ids}
            )
        if items:
            await self.session.execute(insert(OrderItemRow), items)
        if visits:
            await self.session.execute(insert(DeliveryRow), visits)

    async def refresh_refills(self, customer_ids: set[uuid.UUID]) -> None:
        if customer_ids:
            await self.session.execute(_REFRESH_REFILLS_SQL, {"customers": sorted(customer_ids)})

    # --------------------------------------------------------------------------------------------------- link

    async def link(self, order_id: uuid.UUID, legacy_id: int) -> tuple[int | None, uuid.UUID | None] | None:
        """The order's legacy id and the order holding ``legacy_id`` (None each when none); None when the order
        does not exist. Sets the link when both are free."""
        row = (
            await self.session.execute(
                text(
                    'SELECT o.legacy_id, (SELECT h.id FROM "order".orders AS h WHERE h.legacy_id = :legacy_id)'
                    ' AS holder FROM "order".orders AS o WHERE o.id = :id FOR UPDATE OF o'
                ),
                {"id": order_id, "legacy_id": legacy_id},
            )
        ).first()
        if row is None:
            return None
        if row.legacy_id is None and row.holder is None:
            await self.session.execute(
                text('UPDATE "order".orders SET legacy_id = :legacy_id WHERE id = :id'),
                {"id": order_id, "legacy_id": legacy_id},
            )
        return row.legacy_id, row.holder

    # ---------------------------------------------------------------------------------------------- reconcile

    async def refresh_digests(self) -> None:
        """Bring the stored digests up to date with every order write committed so far (in this transaction)."""
        await self.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _REFRESH_LOCK})
        stored = await self.session.scalar(text('SELECT definition FROM "order".legacy_digest_state'))
        if stored != DIGEST_DEFINITION:
            await self.session.execute(text('DELETE FROM "order".legacy_digests'))
            await self.session.execute(text('DELETE FROM "order".legacy_digest_state'))
            await self.session.execute(
                text('INSERT INTO "order".legacy_digest_state (definition) VALUES (:definition)'),
                {"definition": DIGEST_DEFINITION},
            )
            await self.session.execute(_RELIST_SQL)
        await self.session.execute(_REFRESH_SQL)

    async def checksums(self, ranges: Sequence[KeyRange]) -> list[RangeChecksum]:
        """(count, digest sum) of each range over the stored digests: call ``refresh_digests`` first."""
        rows = await self.session.execute(
            CHECKSUM_SQL, {"starts": [r.start for r in ranges], "ends": [r.end for r in ranges]}
        )
        return [RangeChecksum(ranges[row.n - 1], int(row.row_count), int(row.digest_sum)) for row in rows.all()]

    async def canonical(self, key_range: KeyRange, limit: int) -> list[tuple[int, str]]:
        rows = await self.session.execute(
            CANONICAL_RANGE_SQL, {"start": key_range.start, "end": key_range.end, "limit": limit}
        )
        return [(int(row.key), str(row.canonical)) for row in rows]
