"""SQL for each customer's latest refill (what the forecast starts from) and for the demo refill history."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date

from sqlalchemy import case, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.order.forecast import LastRefill
from services.order.models import CustomerRefillRow, SeedRunRow


class RefillRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record(self, customer_id: uuid.UUID, day: date, kg: float) -> None:
        """A delivery on ``day``: a later day replaces the last refill, the same day adds to it, an earlier one
        (a late-synced delivery) changes nothing."""
        table = CustomerRefillRow.__table__
        excluded = insert(CustomerRefillRow).excluded
        statement = (
            insert(CustomerRefillRow)
            .values(customer_id=customer_id, last_delivered_on=day, kg_delivered=kg, source="delivery")
            .on_conflict_do_update(
                index_elements=[CustomerRefillRow.customer_id],
                set_={
                    "kg_delivered": case(
                        (
                            excluded.last_delivered_on == table.c.last_delivered_on,
                            table.c.kg_delivered + excluded.kg_delivered,
                        ),
                        (excluded.last_delivered_on > table.c.last_delivered_on, excluded.kg_delivered),
                        else_=table.c.kg_delivered,
                    ),
                    "last_delivered_on": func.greatest(table.c.last_delivered_on, excluded.last_delivered_on),
                    "source": "delivery",
                    "updated_at": func.now(),
                },
            )
        )
        await self.session.execute(statement)

    async def last_refills(self, customer_ids: Iterable[uuid.UUID] | None = None) -> dict[uuid.UUID, LastRefill]:
        # Plain rows, not ORM objects: the due list reads every customer's row on each call.
        statement = select(
            CustomerRefillRow.customer_id, CustomerRefillRow.last_delivered_on, CustomerRefillRow.kg_delivered
        )
        if customer_ids is not None:
            statement = statement.where(CustomerRefillRow.customer_id.in_(list(customer_ids)))
        rows = await self.session.execute(statement)
        return {customer_id: LastRefill(day, kg) for customer_id, day, kg in rows}

    async def add_if_missing(self, rows: list[tuple[uuid.UUID, date, float]], source: str) -> int:
        """Insert refills for customers that have none; real deliveries are never overwritten. Returns how many."""
        if not rows:
            return 0
        statement = (
            insert(CustomerRefillRow)
            .values(
                [
                    {"customer_id": customer_id, "last_delivered_on": day, "kg_delivered": kg, "source": source}
                    for customer_id, day, kg in rows
                ]
            )
            .on_conflict_do_nothing(index_elements=[CustomerRefillRow.customer_id])
            .returning(CustomerRefillRow.customer_id)
        )
        return len((await self.session.execute(statement)).all())

    # -------------------------------------------------------------------------------------------------- seeds

    async def request_seed(self, name: str) -> bool:
        """Record that the demo data set ``name`` is wanted; False when it was applied already."""
        await self.session.execute(insert(SeedRunRow).values(name=name).on_conflict_do_nothing())
        applied = await self.session.scalar(select(SeedRunRow.applied_at).where(SeedRunRow.name == name))
        return applied is None

    async def pending_seeds(self) -> list[str]:
        rows = await self.session.scalars(
            select(SeedRunRow.name).where(SeedRunRow.applied_at.is_(None)).order_by(SeedRunRow.name)
        )
        return list(rows)

    async def mark_seed_applied(self, name: str, customers: int) -> None:
        await self.session.execute(
            update(SeedRunRow).where(SeedRunRow.name == name).values(applied_at=func.now(), customers=customers)
        )
