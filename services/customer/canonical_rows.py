"""Reconcile's view of the customers: their canonical form (services/platform/canonical.py) by key range.

Migration-sync proves the legacy and new customer lists equal by comparing, range by range, a count and a sum of
digests, then the rows of the ranges that differ. Customers are thousands, so the canonical text is rendered here
in Python, from one query per request.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate

from services.customer.repository import CustomerRepository
from services.customer.schemas import CustomerRecord
from services.platform.canonical import CUSTOMER_FIELDS, RangeSummary, customer_key, customer_text, digest
from services.platform.database import Database
from services.platform.errors import FieldViolation, InvalidArgument

MAX_RANGES = 10_000
MAX_ROWS = 10_000
CODE_DIGITS = 7
KEY_LIMIT = 10**CODE_DIGITS  # every code is 7 digits: keys run from 0 to 9,999,999


def canonical_text(record: CustomerRecord) -> str:
    values: dict[str, object] = {name: getattr(record.fields, name) for name in CUSTOMER_FIELDS if name != "terminated"}
    values["terminated"] = record.terminated
    return customer_text(values)


@dataclass(frozen=True)
class CanonicalPage:
    rows: list[tuple[int, str]]
    truncated: bool


def _code_bounds(start: int, end: int) -> tuple[str, str | None] | None:
    """The codes of keys [start, end) as a text range, None when no 7-digit code lies in it."""
    low, high = max(start, 0), min(end, KEY_LIMIT)
    if low >= high:
        return None
    return f"{low:0{CODE_DIGITS}d}", None if high == KEY_LIMIT else f"{high:0{CODE_DIGITS}d}"


def _check_range(start: int, end: int, field: str) -> None:
    if start > end:
        raise InvalidArgument.for_field(field, f"start {start} is after end {end}")


class CanonicalCustomers:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def checksum(self, ranges: Sequence[tuple[int, int]]) -> list[RangeSummary]:
        """Count and digest sum of the customers keyed in each range, in the order given: one query."""
        if len(ranges) > MAX_RANGES:
            raise InvalidArgument.for_field("ranges", f"at most {MAX_RANGES} ranges in one call")
        violations = [
            FieldViolation(f"ranges[{index}]", f"start {start} is after end {end}")
            for index, (start, end) in enumerate(ranges)
            if start > end
        ]
        if violations:
            raise InvalidArgument.from_violations(violations)
        bounds = [found for start, end in ranges if (found := _code_bounds(start, end)) is not None]
        rows: list[tuple[int, str]] = []
        if bounds:
            low = min(low for low, _ in bounds)
            highs = [high for _, high in bounds]
            high = None if None in highs else max(h for h in highs if h is not None)
            async with self.database.read_session() as session:
                records = await CustomerRepository(session).in_code_range(low, high)
            rows = [(customer_key(record.fields.code), canonical_text(record)) for record in records]
        keys = [key for key, _ in rows]
        sums = [0, *accumulate(digest(key, text) for key, text in rows)]
        summaries = []
        for start, end in ranges:
            first, last = bisect.bisect_left(keys, start), bisect.bisect_left(keys, max(start, end))
            summaries.append(RangeSummary(start, end, last - first, sums[last] - sums[first]))
        return summaries

    async def rows(self, start: int, end: int, limit: int) -> CanonicalPage:
        """(key, canonical text) of the customers keyed in [start, end), by key, at most ``limit`` (0: the most)."""
        _check_range(start, end, "range")
        if not 0 <= limit <= MAX_ROWS:
            raise InvalidArgument.for_field("limit", f"between 1 and {MAX_ROWS}, or 0 for {MAX_ROWS}")
        limit = limit or MAX_ROWS
        bounds = _code_bounds(start, end)
        if bounds is None:
            return CanonicalPage([], truncated=False)
        async with self.database.read_session() as session:
            records = await CustomerRepository(session).in_code_range(*bounds, limit=limit + 1)
        rows = [(customer_key(record.fields.code), canonical_text(record)) for record in records]
        return CanonicalPage(rows[:limit], truncated=len(rows) > limit)
