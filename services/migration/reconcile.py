"""Reconcile: find every row that differs between the legacy and the new side, the data-diff way.

Both sides summarise key ranges as (row count, sum of row digests) over the canonical form
(services/platform/canonical.py). Start from the union of the two key spans cut into ``segments``; a segment whose
summaries agree is equal and dropped, one that differs is cut into ``split`` smaller ones, level by level, each
level one checksum call per side (the two sides asked concurrently). Once a differing segment holds at most
``threshold`` rows on both sides, its rows are fetched from both and compared key by key, then field by field.
With a handful of differences among a million rows only the few segments around them are ever read row by row.

``naive_compare`` is the baseline it is measured against: read both sides whole, by key, and compare every row.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Protocol, TypeVar

from luckygas.customer.v1 import customer_pb2, customer_pb2_grpc

from services.platform.canonical import RangeSummary, field_differences

DEFAULT_SEGMENTS = 256
DEFAULT_SPLIT = 16
DEFAULT_THRESHOLD = 256
DEFAULT_PAGE = 10_000
FETCH_CONCURRENCY = 8

T = TypeVar("T")


class Side(Protocol):
    """One side of a reconcile: a table's rows as (key, canonical text)."""

    async def key_span(self) -> tuple[int, int] | None:
        """[lowest key, highest key + 1), or None when there is no row."""

    async def checksum(self, ranges: Sequence[tuple[int, int]]) -> list[RangeSummary]:
        """The summary of each [start, end), in the order given."""

    async def rows(self, start: int, end: int, limit: int) -> list[tuple[int, str]]:
        """(key, canonical text) of the rows keyed in [start, end), by key, at most ``limit``."""


class LegacySide(Side, Protocol):
    """The legacy side, which leaves the keys it was told to exclude (the rows migration refused) out."""

    async def excluded_rows(self) -> int:
        """How many of the excluded keys the table holds."""


@dataclass(frozen=True)
class RowDifference:
    """A row on both sides whose canonical texts differ: field name → (legacy value, new value)."""

    key: int
    fields: dict[str, tuple[str, str]]


@dataclass
class Statistics:
    checksum_calls: int = 0  # calls to either side's checksum
    segments_compared: int = 0  # key ranges whose summaries were compared
    rows_fetched: int = 0  # rows read from both sides together
    levels: int = 0
    seconds: float = 0.0


@dataclass
class Report:
    only_in_legacy: list[int] = field(default_factory=list)
    only_in_new: list[int] = field(default_factory=list)
    different: list[RowDifference] = field(default_factory=list)
    statistics: Statistics = field(default_factory=Statistics)

    @property
    def clean(self) -> bool:
        return not (self.only_in_legacy or self.only_in_new or self.different)

    @property
    def keys(self) -> set[int]:
        """Every key reported, whatever the kind of difference."""
        return {*self.only_in_legacy, *self.only_in_new, *(difference.key for difference in self.different)}


def split_range(start: int, end: int, parts: int) -> list[tuple[int, int]]:
    """[start, end) cut into at most ``parts`` consecutive non-empty ranges of near-equal width."""
    width = end - start
    bounds = sorted({start + width * index // parts for index in range(parts)} | {end})
    return [(low, high) for low, high in pairwise(bounds) if low < high]


async def _union_span(legacy: Side, new: Side) -> tuple[int, int] | None:
    spans = [span for span in await asyncio.gather(legacy.key_span(), new.key_span()) if span is not None]
    if not spans:
        return None
    return min(start for start, _ in spans), max(end for _, end in spans)


def compare_rows(
    fields: Sequence[str], legacy: Sequence[tuple[int, str]], new: Sequence[tuple[int, str]], report: Report
) -> None:
    """Merge two key-sorted row lists into ``report``: keys on one side only, and rows whose texts differ."""
    left, right = 0, 0
    while left < len(legacy) or right < len(new):
        if right == len(new) or (left < len(legacy) and legacy[left][0] < new[right][0]):
            report.only_in_legacy.append(legacy[left][0])
            left += 1
        elif left == len(legacy) or new[right][0] < legacy[left][0]:
            report.only_in_new.append(new[right][0])
            right += 1
        else:
            key, before = legacy[left]
            after = new[right][1]
            if before != after:
                report.different.append(RowDifference(key, field_differences(fields, before, after)))
            left += 1
            right += 1


async def _bounded(calls: Sequence[Awaitable[T]], concurrency: int) -> list[T]:
    gate = asyncio.Semaphore(concurrency)

    async def one(call: Awaitable[T]) -> T:
        async with gate:
            return await call

    return list(await asyncio.gather(*(one(call) for call in calls)))


async def reconcile(
    legacy: Side,
    new: Side,
    fields: Sequence[str],
    *,
    segments: int = DEFAULT_SEGMENTS,
    split: int = DEFAULT_SPLIT,
    threshold: int = DEFAULT_THRESHOLD,
) -> Report:
    """Every difference between the two sides; ``fields`` names the canonical text's fields (CUSTOMER_FIELDS or
    DELIVERY_FIELDS) for the field-level report."""
    if segments < 1 or split < 2 or threshold < 1:
        raise ValueError("segments ≥ 1, split ≥ 2 and threshold ≥ 1")
    began = time.perf_counter()
    report = Report()
    statistics = report.statistics
    span = await _union_span(legacy, new)
    pending = split_range(*span, segments) if span else []
    while pending:
        statistics.levels += 1
        statistics.checksum_calls += 2
        statistics.segments_compared += len(pending)
        legacy_sums, new_sums = await asyncio.gather(legacy.checksum(pending), new.checksum(pending))
        deeper: list[tuple[int, int]] = []
        fetch: list[tuple[int, int, int]] = []
        for ours, theirs in zip(legacy_sums, new_sums, strict=True):
            if (ours.count, ours.digest_sum) == (theirs.count, theirs.digest_sum):
                continue
            most = max(ours.count, theirs.count)
            if most <= threshold or ours.end - ours.start <= 1:
                fetch.append((ours.start, ours.end, most))
            else:
                deeper.extend(split_range(ours.start, ours.end, split))
        if fetch:
            fetched = await _bounded(
                [side.rows(start, end, most) for start, end, most in fetch for side in (legacy, new)],
                FETCH_CONCURRENCY,
            )
            for legacy_rows, new_rows in zip(fetched[::2], fetched[1::2], strict=True):
                statistics.rows_fetched += len(legacy_rows) + len(new_rows)
                compare_rows(fields, legacy_rows, new_rows, report)
        pending = deeper
    for keys in (report.only_in_legacy, report.only_in_new):
        keys.sort()
    report.different.sort(key=lambda difference: difference.key)
    statistics.seconds = time.perf_counter() - began
    return report


async def _pages(side: Side, start: int, end: int, page: int) -> AsyncIterator[list[tuple[int, str]]]:
    while start < end:
        rows = await side.rows(start, end, page)
        if not rows:
            return
        yield rows
        if len(rows) < page:
            return
        start = rows[-1][0] + 1


async def naive_compare(legacy: Side, new: Side, fields: Sequence[str], *, page: int = DEFAULT_PAGE) -> Report:
    """The baseline: every row of both sides read by key, a page at a time, and compared one by one."""
    began = time.perf_counter()
    report = Report()
    span = await _union_span(legacy, new)
    if span is not None:
        legacy_rows, new_rows = await asyncio.gather(
            _all_rows(legacy, *span, page, report.statistics), _all_rows(new, *span, page, report.statistics)
        )
        compare_rows(fields, legacy_rows, new_rows, report)
    report.statistics.seconds = time.perf_counter() - began
    return report


async def _all_rows(side: Side, start: int, end: int, page: int, statistics: Statistics) -> list[tuple[int, str]]:
    rows: list[tuple[int, str]] = []
    async for batch in _pages(side, start, end, page):
        statistics.rows_fetched += len(batch)
        rows.extend(batch)
    return rows


class CustomerServiceSide:
    """The customer service's customers as one side, over its gRPC reconcile RPCs; keys are 7-digit codes."""

    KEY_SPAN = (0, 10**7)
    PAGE = 10_000  # the most ListCanonicalCustomers returns at once

    def __init__(self, stub: customer_pb2_grpc.CustomerServiceStub) -> None:
        self.stub = stub

    async def key_span(self) -> tuple[int, int] | None:
        return self.KEY_SPAN

    async def checksum(self, ranges: Sequence[tuple[int, int]]) -> list[RangeSummary]:
        reply = await self.stub.ChecksumCustomers(
            customer_pb2.ChecksumCustomersRequest(
                ranges=[customer_pb2.KeyRange(start=start, end=end) for start, end in ranges]
            )
        )
        return [
            RangeSummary(summary.range.start, summary.range.end, summary.count, int(summary.digest_sum))
            for summary in reply.ranges
        ]

    async def rows(self, start: int, end: int, limit: int) -> list[tuple[int, str]]:
        rows: list[tuple[int, str]] = []
        while len(rows) < limit:
            reply = await self.stub.ListCanonicalCustomers(
                customer_pb2.ListCanonicalCustomersRequest(
                    range=customer_pb2.KeyRange(start=start, end=end), limit=min(self.PAGE, limit - len(rows))
                )
            )
            rows.extend((row.key, row.canonical) for row in reply.rows)
            if not reply.truncated or not reply.rows:
                break
            start = reply.rows[-1].key + 1
        return rows
