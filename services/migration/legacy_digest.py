"""The legacy side of reconcile: the canonical form (services/platform/canonical.py) of the legacy store's rows.

Deliveries are a million rows, so their canonical text is computed in SQL from the 配送紀錄 columns, built from
the mapping's own column tables (never a hand-written list): what ``canonical.delivery_text`` renders for the row
as ``mapping.map_delivery`` maps it. Its digest is stored with the row, as a generated column (``row_digest``,
what SQL Server calls a persisted computed column) that migration-sync adds to the office's table, like
``row_version``: the database keeps it current on every write by any program, so a checksum of a million rows
is a sum of one column, not a million canonical texts.

Customers are a few thousand: each row goes through ``map_customer`` and ``canonical.customer_text`` in Python,
and the rows the mapping rejects are reported apart, with their problems.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, fields
from itertools import accumulate

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.migration import legacy_store
from services.migration.legacy_store import customers, deliveries
from services.migration.mapping import (
    CODE_COLUMN,
    DELIVERY_KG_COLUMNS,
    DELIVERY_PRODUCT_COLUMNS,
    RETURN_COLUMNS,
    STATUS_MAP,
    MappedCustomer,
    MappedDelivery,
    RejectedRow,
    count_by_size,
    map_customer,
)
from services.platform.canonical import (
    CUSTOMER_FIELDS,
    DIGEST_SQL,
    LIST_SEPARATOR,
    SEPARATOR,
    RangeSummary,
    customer_key,
    customer_text,
    delivery_text,
    summarise,
)
from services.platform.taiwan import ROC_OFFSET

KEY_COLUMN = "序號"
_WHITESPACE = "E' \\t\\n\\r\\f\\v'"


def _column(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


# concat_ws as an IMMUTABLE function (concat_ws is STABLE, which a generated column may not use): joins its
# non-NULL texts with the separator, as concat_ws does. Only the generated column uses it: it is not inlined, and
# a scan computing canonical texts with it takes twice as long as with concat_ws.
JOIN_FUNCTION = "luckygas_join"
_JOIN_DDL = (
    f"CREATE OR REPLACE FUNCTION {JOIN_FUNCTION}(separator text, VARIADIC parts text[]) RETURNS text"
    " LANGUAGE sql IMMUTABLE PARALLEL SAFE AS 'SELECT array_to_string(parts, separator)'"
)


def _pairs_sql(entries: Sequence[tuple[str, str]], join: str) -> str:
    """``label=value`` for each (label, SQL value) whose value is not 0, in the order given, joined by commas."""
    parts = [f"CASE WHEN {value} <> 0 THEN {_literal(label + '=')} || ({value})::text END" for label, value in entries]
    return f"{join}({_literal(LIST_SEPARATOR)}, {', '.join(parts)})"


def _status_sql(position: int) -> str:
    """The platform status (position 0) or failure reason (position 1) of the legacy 狀態, by ``STATUS_MAP``."""
    cases = " ".join(
        f"WHEN {_literal(legacy)} THEN {_literal(mapped[position] or '')}" for legacy, mapped in STATUS_MAP.items()
    )
    return f"CASE upper(btrim({_column('狀態')})) {cases} ELSE '' END"


def _day_sql() -> str:
    # The store keeps ROC dates as integers (1140521); ISO text by arithmetic, so a bad day never fails a checksum.
    day = _column("日期")
    return (
        f"lpad(({day} / 10000 + {ROC_OFFSET})::text, 4, '0') || '-' || lpad(({day} / 100 % 100)::text, 2, '0')"
        f" || '-' || lpad(({day} % 100)::text, 2, '0')"
    )


def delivery_canonical_sql(join: str = "concat_ws") -> str:
    """SQL over a 配送紀錄 row: its canonical delivery text (``canonical.delivery_text``'s fields, in order);
    ``join`` names the function joining texts (concat_ws, or JOIN_FUNCTION where only IMMUTABLE will do)."""
    code = f"btrim(normalize(btrim({_column(CODE_COLUMN)}, {_WHITESPACE}), NFKC), {_WHITESPACE})"
    items = sorted((product, _column(column)) for column, product in DELIVERY_PRODUCT_COLUMNS.items())
    metered = sorted(
        (product, f"round({_column(column)} * 10)::bigint") for column, product in DELIVERY_KG_COLUMNS.items()
    )
    empties = sorted((str(size), _column(column)) for column, size in RETURN_COLUMNS.items())
    values = [code, _day_sql(), _status_sql(0), _status_sql(1), _pairs_sql(items, join), _pairs_sql(metered, join)]
    values.append(_pairs_sql(empties, join))
    return f"{join}({_literal(SEPARATOR)}, {', '.join(values)})"


_TABLE = _column(deliveries.name)
_KEY = _column(KEY_COLUMN)
_CANONICAL = delivery_canonical_sql()
_STORED_DIGEST = DIGEST_SQL.format(key=_KEY, canonical=f"({delivery_canonical_sql(JOIN_FUNCTION)})")
DIGEST_COLUMN = "row_digest"
# The column's comment names the form it was generated with; ``install`` regenerates it when the form changes.
DIGEST_DEFINITION = hashlib.sha256(_STORED_DIGEST.encode()).hexdigest()
_INSTALL_LOCK = 1_746_000_014

# One statement for every range: a lateral aggregate per range, each an index range scan on the key.
_CHECKSUM = text(
    # nosemgrep: sql-built-from-strings -- names and expressions from the store's own column tables, values bound
    f"SELECT r.position, s.n, s.total FROM unnest(CAST(:starts AS bigint[]), CAST(:ends AS bigint[]))"  # nosec B608
    f" WITH ORDINALITY AS r(low, high, position)"
    f" CROSS JOIN LATERAL (SELECT count(*) AS n, coalesce(sum({DIGEST_COLUMN}), 0) AS total FROM {_TABLE}"
    f" WHERE {_KEY} >= r.low AND {_KEY} < r.high) AS s ORDER BY r.position"
)
_EXCLUDED = text(
    # nosemgrep: sql-built-from-strings -- names from the store's own column tables, values bound
    f"SELECT {_KEY} AS key, {DIGEST_COLUMN} AS digest FROM {_TABLE}"  # nosec B608
    f" WHERE {_KEY} = ANY(CAST(:keys AS bigint[])) ORDER BY {_KEY}"
)
_ROWS = text(
    # nosemgrep: sql-built-from-strings -- names and expressions from the store's own column tables, values bound
    f"SELECT {_KEY} AS key, {_CANONICAL} AS canonical FROM {_TABLE}"  # nosec B608
    f" WHERE {_KEY} >= :start AND {_KEY} < :end ORDER BY {_KEY} LIMIT :limit"
)
# nosemgrep: sql-built-from-strings -- names and expressions from the store's own column tables, values bound
_SPAN = text(f"SELECT min({_KEY}), max({_KEY}) FROM {_TABLE}")  # nosec B608


async def install(engine: AsyncEngine) -> None:
    """The legacy tables (``legacy_store.install``), then the stored digest of each delivery: added, or
    regenerated when the canonical form has changed since (a rewrite of the table, once). Idempotent."""
    await legacy_store.install(engine)
    async with engine.begin() as connection:
        await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _INSTALL_LOCK})
        # nosemgrep: sql-built-from-strings -- DDL from this module's constants, no value from outside
        await connection.execute(text(_JOIN_DDL))
        comment = await connection.scalar(
            text(
                "SELECT col_description(a.attrelid, a.attnum) FROM pg_attribute AS a"
                " WHERE a.attrelid = CAST(:table AS regclass) AND a.attname = :column AND NOT a.attisdropped"
            ),
            {"table": _TABLE, "column": DIGEST_COLUMN},
        )
        if comment == DIGEST_DEFINITION:
            return
        for statement in (
            f"ALTER TABLE {_TABLE} DROP COLUMN IF EXISTS {DIGEST_COLUMN}",
            f"ALTER TABLE {_TABLE} ADD COLUMN {DIGEST_COLUMN} bigint GENERATED ALWAYS AS ({_STORED_DIGEST}) STORED",
            f"COMMENT ON COLUMN {_TABLE}.{DIGEST_COLUMN} IS {_literal(DIGEST_DEFINITION)}",
        ):
            # nosemgrep: sql-built-from-strings -- DDL from this module's constants, no value from outside
            await connection.execute(text(statement))


async def delivery_checksums(connection: AsyncConnection, ranges: Sequence[tuple[int, int]]) -> list[RangeSummary]:
    """(count, digest sum) of the deliveries keyed in each [start, end), in the order given: one statement."""
    if not ranges:
        return []
    starts, ends = [start for start, _ in ranges], [end for _, end in ranges]
    rows = (await connection.execute(_CHECKSUM, {"starts": starts, "ends": ends})).all()
    return [
        RangeSummary(start, end, int(row.n), int(row.total)) for (start, end), row in zip(ranges, rows, strict=True)
    ]


async def delivery_rows(connection: AsyncConnection, start: int, end: int, limit: int) -> list[tuple[int, str]]:
    """(序號, canonical text) of the deliveries keyed in [start, end), by key, at most ``limit``."""
    result = await connection.execute(_ROWS, {"start": start, "end": end, "limit": limit})
    return [(int(row.key), str(row.canonical)) for row in result]


async def delivery_key_span(connection: AsyncConnection) -> tuple[int, int] | None:
    """[lowest 序號, highest + 1), or None when the table is empty."""
    low, high = (await connection.execute(_SPAN)).one()
    return None if low is None else (int(low), int(high) + 1)


def mapped_delivery_text(delivery: MappedDelivery) -> str:
    """The canonical text of a mapped delivery: empties counted back per cylinder size, as the sheet has them."""
    return delivery_text(
        customer_code=delivery.customer_code,
        day=delivery.day,
        status=delivery.status,
        failure_reason=delivery.failure_reason,
        items=delivery.items,
        metered_kg=delivery.metered_kg,
        empties=count_by_size(delivery.empties),
    )


# ---------------------------------------------------------------- customers


def mapped_customer_text(customer: MappedCustomer) -> str:
    record: dict[str, object] = {field.name: getattr(customer.fields, field.name) for field in fields(customer.fields)}
    record["terminated"] = customer.terminated
    return customer_text({name: record[name] for name in CUSTOMER_FIELDS})


@dataclass(frozen=True)
class LegacyCustomers:
    """The legacy customer list in canonical form: (key, text) by key, and the rows the mapping refused."""

    rows: list[tuple[int, str]]
    rejected: list[RejectedRow]


async def legacy_customers(connection: AsyncConnection, zones: Mapping[str, str]) -> LegacyCustomers:
    """Every 客戶資料 row mapped with ``map_customer`` (``zones``: code → name) and rendered: one query."""
    result = await connection.execute(customers.select().order_by(customers.c[CODE_COLUMN]))
    rows: list[tuple[int, str]] = []
    rejected: list[RejectedRow] = []
    for row in result.mappings():
        mapped = map_customer(dict(row), zones)  # type: ignore[arg-type]
        if isinstance(mapped, RejectedRow):
            rejected.append(mapped)
        else:
            rows.append((customer_key(mapped.fields.code), mapped_customer_text(mapped)))
    rows.sort()
    return LegacyCustomers(rows, rejected)


# ---------------------------------------------------------------- the two tables as reconcile sides


def _without(summaries: Sequence[RangeSummary], excluded: Sequence[tuple[int, int]]) -> list[RangeSummary]:
    """Each summary less the (key, digest) rows of ``excluded`` (sorted by key) that fall in its range."""
    keys = [key for key, _ in excluded]
    totals = list(accumulate((row_digest for _, row_digest in excluded), initial=0))
    less = []
    for summary in summaries:
        low, high = bisect_left(keys, summary.start), bisect_left(keys, summary.end)
        count, total = summary.count - (high - low), summary.digest_sum - (totals[high] - totals[low])
        less.append(RangeSummary(summary.start, summary.end, count, total))
    return less


class LegacyDeliverySide:
    """The legacy 配送紀錄 as one side of a reconcile (services/migration/reconcile.py's ``LegacySide``).

    ``excluded``: keys left out of the comparison, the rows migration refused (known not to be on the other side).
    Left in, a few thousand refused rows spread over the table would make every range differ, and every row be
    fetched to find none."""

    def __init__(self, engine: AsyncEngine, excluded: Collection[int] = ()) -> None:
        self.engine = engine
        self.excluded = sorted(set(excluded))

    async def _excluded_present(self, connection: AsyncConnection) -> list[tuple[int, int]]:
        if not self.excluded:
            return []
        result = await connection.execute(_EXCLUDED, {"keys": self.excluded})
        return [(int(row.key), int(row.digest)) for row in result]

    async def excluded_rows(self) -> int:
        async with self.engine.connect() as connection:
            return len(await self._excluded_present(connection))

    async def key_span(self) -> tuple[int, int] | None:
        async with self.engine.connect() as connection:
            return await delivery_key_span(connection)

    async def checksum(self, ranges: Sequence[tuple[int, int]]) -> list[RangeSummary]:
        async with self.engine.connect() as connection:
            summaries = await delivery_checksums(connection, ranges)
            return _without(summaries, await self._excluded_present(connection))

    async def rows(self, start: int, end: int, limit: int) -> list[tuple[int, str]]:
        skipped = set(self.excluded[bisect_left(self.excluded, start) : bisect_left(self.excluded, end)])
        async with self.engine.connect() as connection:
            rows = await delivery_rows(connection, start, end, limit + len(skipped))
        return [row for row in rows if row[0] not in skipped][:limit]


class LegacyCustomerSide:
    """The legacy 客戶資料 as one side of a reconcile; ``rejected`` holds what the last read could not map, and
    ``excluded`` the codes (as keys) left out of the comparison, as for deliveries."""

    def __init__(self, engine: AsyncEngine, zones: Mapping[str, str], excluded: Collection[int] = ()) -> None:
        self.engine = engine
        self.zones = zones
        self.excluded = set(excluded)
        self.rejected: list[RejectedRow] = []

    async def _read_all(self) -> list[tuple[int, str]]:
        async with self.engine.connect() as connection:
            found = await legacy_customers(connection, self.zones)
        self.rejected = found.rejected
        return found.rows

    async def _read(self) -> list[tuple[int, str]]:
        return [row for row in await self._read_all() if row[0] not in self.excluded]

    async def excluded_rows(self) -> int:
        return sum(key in self.excluded for key, _ in await self._read_all())

    async def key_span(self) -> tuple[int, int] | None:
        rows = await self._read()
        return (rows[0][0], rows[-1][0] + 1) if rows else None

    async def checksum(self, ranges: Sequence[tuple[int, int]]) -> list[RangeSummary]:
        rows = await self._read()
        return [summarise(start, end, rows) for start, end in ranges]

    async def rows(self, start: int, end: int, limit: int) -> list[tuple[int, str]]:
        return [(key, canonical) for key, canonical in await self._read() if start <= key < end][:limit]
