"""The office at work: staff editing the legacy system while migration-sync runs (``luckygas legacy office``).

It writes the legacy tables directly with SQLAlchemy, as the office's old system does, so every write bumps
``row_version`` through the trigger and change capture sees it: customers edited (phones, address, delivery
windows and slot, rest days, consumption, the alert device), deliveries taken for today, and deliveries moving on
(assigned, on the way, delivered with the empties taken back, or failed). ``rate`` changes a second, each its own
transaction, as staff save one form at a time. Deterministic for a seed and a starting state.

Staff are not typos: every change is checked with the mapping (mapping.map_customer, map_delivery) before it is
written, and one the mapping would refuse is not made. With ``dirty``, about one change in ten is a typo on
purpose (a phone that lost a zero, a window cell of 2, a delivery of nothing, a customer code nobody has).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
import signal
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.migration.legacy_store import WINDOW_COLUMNS, customers, deliveries
from services.migration.mapping import (
    CODE_COLUMN,
    DELIVERY_KG_COLUMNS,
    DELIVERY_PRODUCT_COLUMNS,
    RETURN_COLUMNS,
    LegacyCustomerRow,
    LegacyDeliveryRow,
    MappedCustomer,
    MappedDelivery,
    map_customer,
    map_delivery,
)
from services.platform import clock
from services.platform.products import PRODUCTS
from services.platform.taiwan import date_to_roc
from services.platform.zones import zone_names

logger = logging.getLogger(__name__)

DEFAULT_SEED = 20261124
DIRTY_SHARE = 0.1
REFRESH_SECONDS = 30.0  # how often the office re-reads its customer list (a load may have added customers)
RETRY_SECONDS = 1.0  # the legacy database unreachable: try again after this long
# What staff do, by weight: edit a customer, take a delivery, move a delivery on.
CHANGE_WEIGHTS = {"customer": 40, "new_delivery": 30, "delivery_status": 30}
CUSTOMER_EDITS = ("phone", "address", "windows", "rest_days", "consumption", "alert_device")
REST_DAYS = ("", "7", "1", "1.2", "6.7", "Red", "7.Red", "7(初一十五)", "10.20.30")
SLOT_HOURS: dict[int, range] = {0: range(8, 20), 1: range(8, 12), 2: range(13, 17), 3: range(16, 20)}
CITY_PREFIXES = ("22", "23", "31", "32", "33", "34", "35", "36")
NEXT_STATUS: dict[str, dict[str, float]] = {
    "PENDING": {"ASSIGNED": 90, "CANCELLED": 10},
    "ASSIGNED": {"IN_PROGRESS": 100},
    "IN_PROGRESS": {"COMPLETED": 90, "NOT_HOME": 5, "FAILED": 3, "REFUSED": 2},
}
SALESPEOPLE = ("陳志明", "林建宏", "黃俊傑", "張家豪", "李宗翰", "王冠宇", "吳承恩", "劉信宏")
_DELIVERY_COLUMN_OF = {product: column for column, product in DELIVERY_PRODUCT_COLUMNS.items()}
_KG_COLUMN_OF = {product: column for column, product in DELIVERY_KG_COLUMNS.items()}
_RETURN_COLUMN_OF = {size: column for column, size in RETURN_COLUMNS.items()}
_HOUSE_NUMBER = re.compile(r"(\d+)(號)")


@dataclass
class OfficeReport:
    changes: Counter[str] = field(default_factory=Counter)
    skipped: int = 0  # changes not made: the mapping would have refused them, or nothing to change
    errors: int = 0  # the legacy database did not answer

    def line(self, seconds: float) -> str:
        kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(self.changes.items()))
        total = sum(self.changes.values())
        made = f"{total} changes in {seconds:.0f}s ({kinds or 'none'})"
        return f"office: {made}, {self.skipped} skipped, {self.errors} errors"


class Office:
    """One clerk's worth of changes at a time; ``step`` makes one."""

    def __init__(self, engine: AsyncEngine, *, seed: int = DEFAULT_SEED, dirty: bool = False) -> None:
        self.engine = engine
        self.rng = random.Random(seed)  # nosec B311 # a simulation, deterministic for its seed
        self.dirty = dirty
        self.zones = zone_names()
        self.codes: list[str] = []
        # 序號 of the deliveries this office took that are still under way: it moves on only its own (one written by
        # migration-sync for a customer already on the new platform is that platform's to move on).
        self.open: list[int] = []
        self.report = OfficeReport()
        self.refreshed_at = float("-inf")

    async def refresh(self) -> None:
        """Re-read which customers exist."""
        async with self.engine.connect() as connection:
            self.codes = sorted((await connection.execute(select(customers.c[CODE_COLUMN]))).scalars())
        self.refreshed_at = time.monotonic()

    async def step(self) -> str | None:
        """Make one change; its kind, or None when none was made."""
        if time.monotonic() - self.refreshed_at > REFRESH_SECONDS:
            await self.refresh()
        if not self.codes:
            self.report.skipped += 1
            return None
        kind = self.rng.choices(list(CHANGE_WEIGHTS), weights=list(CHANGE_WEIGHTS.values()))[0]
        if kind == "delivery_status" and not self.open:
            kind = "new_delivery"
        dirty = self.dirty and self.rng.random() < DIRTY_SHARE
        async with self.engine.begin() as connection:
            if kind == "customer":
                made = await self._edit_customer(connection, dirty)
            elif kind == "new_delivery":
                made = await self._new_delivery(connection, dirty)
            else:
                made = await self._move_delivery(connection)
        if made is None:
            self.report.skipped += 1
        else:
            self.report.changes[made] += 1
        return made

    # ------------------------------------------------------------------------------------------ customers

    async def _customer(self, connection: AsyncConnection, code: str) -> dict[str, Any] | None:
        query = select(customers).where(customers.c[CODE_COLUMN] == code).with_for_update()
        row = (await connection.execute(query)).mappings().first()
        return dict(row) if row is not None else None

    async def _edit_customer(self, connection: AsyncConnection, dirty: bool) -> str | None:
        code = self.rng.choice(self.codes)
        row = await self._customer(connection, code)
        if row is None or not isinstance(self._map_customer(row), MappedCustomer):
            return None  # gone, or a row the office never fixed: staff leave it alone
        edit = self.rng.choice(CUSTOMER_EDITS)
        changes = _typo(self.rng) if dirty else self._customer_edit(edit, row)
        if not changes:
            return None
        if not dirty and not isinstance(self._map_customer({**row, **changes}), MappedCustomer):
            return None
        await connection.execute(update(customers).where(customers.c[CODE_COLUMN] == code).values(changes))
        return "customer_typo" if dirty else f"customer_{edit}"

    def _customer_edit(self, edit: str, row: Mapping[str, Any]) -> dict[str, Any]:
        rng = self.rng
        if edit == "phone":
            landline = f"89{rng.choice(CITY_PREFIXES)}{rng.randrange(10_000):04d}"
            mobile = f"9{rng.randrange(100_000_000):08d}"
            return {"電話": rng.choice((landline, mobile, f"{landline}/{mobile}"))}
        if edit == "address":
            address = str(row.get("地址") or "")
            moved, found = _HOUSE_NUMBER.subn(lambda match: f"{rng.randint(1, 600)}{match[2]}", address, count=1)
            return {"地址": moved} if found else {}
        if edit == "windows":
            slot = rng.choice(tuple(SLOT_HOURS))
            return {"時段早1午2晚3全天0": slot} | {
                column: int(8 + index in SLOT_HOURS[slot]) for index, column in enumerate(WINDOW_COLUMNS)
            }
        if edit == "rest_days":
            return {"公休日": rng.choice(REST_DAYS) or None}
        if edit == "consumption":
            return {"平均日使用": f"{rng.uniform(0.5, 30):.1f}"}
        return {"發報": None if row.get("發報") else "V"}

    def _map_customer(self, row: Mapping[str, Any]) -> object:
        legacy_row: LegacyCustomerRow = {key: value for key, value in row.items() if key != "row_version"}  # type: ignore[assignment]
        return map_customer(legacy_row, self.zones)

    # ------------------------------------------------------------------------------------------ deliveries

    async def _new_delivery(self, connection: AsyncConnection, dirty: bool) -> str | None:
        code = self.rng.choice(self.codes)
        row = await self._customer(connection, code)
        mapped = self._map_customer(row) if row is not None else None
        if not isinstance(mapped, MappedCustomer):
            return None
        now = clock.taipei_now()
        values: dict[str, Any] = {
            "日期": date_to_roc(now.date()),
            "時間": f"{now:%H:%M}",
            "業務員": self.rng.choice(SALESPEOPLE),
            "客戶": code,
            "狀態": "PENDING",
        }
        values |= self._quantities(mapped)
        if dirty:
            if self.rng.random() < 0.5:
                values["客戶"] = f"{self.rng.randrange(8_000_000, 9_000_000)}"  # nobody's code
            else:
                values = {
                    key: value for key, value in values.items() if key in ("日期", "時間", "業務員", "客戶", "狀態")
                }
        elif not isinstance(self._map_delivery(values), MappedDelivery):
            return None
        number = (
            await connection.execute(insert(deliveries).values(values).returning(deliveries.c["序號"]))
        ).scalar_one()
        self.open.append(int(number))
        return "delivery_typo" if dirty else "new_delivery"

    def _quantities(self, customer: MappedCustomer) -> dict[str, Any]:
        cylinders = customer.fields.cylinders
        if customer.fields.pricing_method == "flow":
            metered = [product for product in cylinders if product in _KG_COLUMN_OF]
            if not metered:
                return {}
            kg = max(customer.fields.consumption_kg_per_day, 1.0) * self.rng.uniform(5, 15)
            return {_KG_COLUMN_OF[max(metered)]: round(kg, 1)}
        return {
            _DELIVERY_COLUMN_OF[product]: max(1, round(count * self.rng.uniform(0.4, 1.0)))
            for product, count in cylinders.items()
            if product in _DELIVERY_COLUMN_OF
        }

    def _map_delivery(self, values: Mapping[str, Any]) -> object:
        legacy_row: LegacyDeliveryRow = {key: value for key, value in values.items() if key != "row_version"}  # type: ignore[assignment]
        return map_delivery(legacy_row)

    async def _move_delivery(self, connection: AsyncConnection) -> str | None:
        number = self.open.pop(self.rng.randrange(len(self.open)))
        query = select(deliveries).where(deliveries.c["序號"] == number).with_for_update()
        found = (await connection.execute(query)).mappings().first()
        if found is None or found["狀態"] not in NEXT_STATUS:
            return None  # someone else moved it on
        row = dict(found)
        weights = NEXT_STATUS[row["狀態"]]
        status = self.rng.choices(list(weights), weights=list(weights.values()))[0]
        changes: dict[str, Any] = {"狀態": status}
        if status == "COMPLETED":
            returned: dict[int, int] = {}
            for column, product in DELIVERY_PRODUCT_COLUMNS.items():
                if row.get(column):
                    size = PRODUCTS[product].size_kg
                    returned[size] = returned.get(size, 0) + int(row[column])
            changes |= {_RETURN_COLUMN_OF[size]: count for size, count in returned.items() if size in _RETURN_COLUMN_OF}
        if not isinstance(self._map_delivery({**row, **changes}), MappedDelivery):
            return None
        await connection.execute(update(deliveries).where(deliveries.c["序號"] == number).values(changes))
        if status in NEXT_STATUS:
            self.open.append(number)
        return f"delivery_{status.lower()}"


def _typo(rng: random.Random) -> dict[str, Any]:
    """One of the office's typos: a phone that lost a zero, a window cell of 2, Excel's #DIV/0! in the days."""
    return rng.choice(
        (
            {"電話": f"89{rng.choice(CITY_PREFIXES)}{rng.randrange(100, 1000)}"},
            {rng.choice(WINDOW_COLUMNS): 2},
            {"最大週期": "#DIV/0!"},
        )
    )


async def run_office(
    database_url: str,
    *,
    rate: float = 1.0,
    duration: float | None = None,
    seed: int = DEFAULT_SEED,
    dirty: bool = False,
    stop: asyncio.Event | None = None,
    report_every: float = 10.0,
    say: Callable[[str], None] = print,
) -> OfficeReport:
    """Make ``rate`` changes a second until ``duration`` seconds have passed or ``stop`` is set; keeps going
    (retrying every second) while the legacy database is away. Prints a progress line every ``report_every``."""
    if rate <= 0:
        raise ValueError("rate must be above 0 changes a second")
    from services.platform.database import create_engine

    engine = create_engine(database_url, pool_size=2, application_name="luckygas-legacy-office")
    office = Office(engine, seed=seed, dirty=dirty)
    stop = stop or asyncio.Event()
    started = origin = last_report = time.monotonic()
    made = 0  # changes due since origin
    try:
        while not stop.is_set():
            now = time.monotonic()
            if duration is not None and now - started >= duration:
                break
            due = origin + made / rate
            if due > now:
                await _sleep_or_stop(stop, due - now)
                continue
            made += 1
            try:
                await office.step()
            except (OperationalError, DBAPIError, OSError) as error:
                office.report.errors += 1
                logger.warning("legacy database unavailable: %s", error.__class__.__name__)
                office.refreshed_at = float("-inf")
                await _sleep_or_stop(stop, RETRY_SECONDS)
                origin, made = time.monotonic(), 0  # no rush of the missed changes once it is back
            if now - last_report >= report_every:
                last_report = now
                say(office.report.line(now - started))
    finally:
        await engine.dispose()
    say(office.report.line(time.monotonic() - started))
    return office.report


async def run_office_until_signalled(database_url: str, **options: Any) -> OfficeReport:
    """``run_office`` in the foreground or under supervisord: SIGINT or SIGTERM ends it after the change under way."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signal_number, stop.set)
    return await run_office(database_url, stop=stop, say=lambda line: print(line, flush=True), **options)


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
