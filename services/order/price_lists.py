"""The dated price list: SQL for it, and the cache and rules every order's pricing goes through.

A list is never changed once written; a price change is a new list from its date (a migration, or ``add``).
Orders store the unit prices they were taken at, so a new list never touches a taken order.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.order.models import PriceListRow, PriceRow
from services.order.schemas import PriceEntry, PriceList
from services.platform.database import Database
from services.platform.errors import AlreadyExists, FieldViolation, InvalidArgument, NotFound
from services.platform.products import PRODUCTS


class PriceListRepository:
    def __init__(self, session: AsyncSession, known: dict[int, PriceList] | None = None) -> None:
        """``known``: the lists this process has read so far (a list never changes), so each is read once."""
        self.session = session
        self.known = {} if known is None else known

    async def id_on(self, day: date) -> int | None:
        """The id of the list in force on ``day``: the latest one effective on or before it."""
        return await self.session.scalar(
            select(PriceListRow.id)
            .where(PriceListRow.effective_from <= day)
            .order_by(PriceListRow.effective_from.desc())
            .limit(1)
        )

    async def load(self, price_list_id: int) -> PriceList:
        if price_list_id not in self.known:
            self.known[price_list_id] = await self._read(price_list_id)
        return self.known[price_list_id]

    async def _read(self, price_list_id: int) -> PriceList:
        header = (
            await self.session.execute(
                select(PriceListRow.effective_from, PriceListRow.urgent_surcharge).where(
                    PriceListRow.id == price_list_id
                )
            )
        ).one()
        rows = await self.session.execute(
            select(PriceRow.product, PriceRow.unit_price, PriceRow.deposit, PriceRow.unit).where(
                PriceRow.price_list_id == price_list_id
            )
        )
        return PriceList(
            id=price_list_id,
            effective_from=header.effective_from,
            urgent_surcharge=header.urgent_surcharge,
            prices={row.product: PriceEntry(row.unit_price, row.deposit, row.unit) for row in rows},
        )

    async def add(
        self, effective_from: date, urgent_surcharge: int, prices: dict[str, PriceEntry], note: str = ""
    ) -> PriceList:
        row = PriceListRow(effective_from=effective_from, urgent_surcharge=urgent_surcharge, note=note)
        self.session.add(row)
        await self.session.flush()
        self.session.add_all(
            PriceRow(price_list_id=row.id, product=product, unit_price=e.unit_price, deposit=e.deposit, unit=e.unit)
            for product, e in prices.items()
        )
        await self.session.flush()
        return PriceList(row.id, effective_from, urgent_surcharge, dict(prices))


class PriceLists:
    """Price lists by id, cached in the process (they never change), and the rules for a new one."""

    def __init__(self, database: Database) -> None:
        self.database = database
        # Every list this process has read, by id; another service's transaction reads through it too
        # (``PriceListRepository(session, price_lists.known)``).
        self.known: dict[int, PriceList] = {}

    async def on(self, day: date) -> PriceList:
        async with self.database.read_session() as session:
            repository = PriceListRepository(session, self.known)
            price_list_id = await repository.id_on(day)
            if price_list_id is None:
                raise NotFound(f"no price list is in force on {day}")
            return await repository.load(price_list_id)

    async def add(
        self, effective_from: date, urgent_surcharge: int, prices: dict[str, PriceEntry], note: str = ""
    ) -> PriceList:
        """A new list pricing every product of the catalogue; it prices orders scheduled from ``effective_from``.

        No RPC exposes this yet: price changes ship as migrations, and tests call it directly.
        """
        violations = [
            FieldViolation(f"prices[{product}]", "not in the catalogue")
            for product in prices
            if product not in PRODUCTS
        ]
        violations += [
            FieldViolation(f"prices[{product}]", "has no price") for product in PRODUCTS if product not in prices
        ]
        for product, entry in prices.items():
            expected_unit = "kg" if product in PRODUCTS and PRODUCTS[product].method == "flow" else "cylinder"
            if entry.unit != expected_unit:
                violations.append(FieldViolation(f"prices[{product}].unit", f"must be {expected_unit}"))
            if entry.unit_price < 0 or entry.deposit < 0:
                violations.append(FieldViolation(f"prices[{product}]", "amounts must not be negative"))
        if urgent_surcharge < 0:
            violations.append(FieldViolation("urgent_surcharge", "must not be negative"))
        if violations:
            raise InvalidArgument.from_violations(violations)
        async with self.database.session() as session:
            repository = PriceListRepository(session, self.known)
            in_force = await repository.id_on(effective_from)
            if in_force is not None and (await repository.load(in_force)).effective_from == effective_from:
                raise AlreadyExists(
                    f"a price list effective from {effective_from} exists",
                    [FieldViolation("effective_from", "already has a list")],
                )
            return await repository.add(effective_from, urgent_surcharge, prices, note)
