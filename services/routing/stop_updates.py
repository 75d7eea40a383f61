"""Stops follow their orders: a delivery completed or failed in the order service marks the stop, once.

Consumed from ``events.order`` in the consumer group ``routing``; a marked stop is done, so an urgent insertion
or a re-optimisation never moves it.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from services.platform.outbox import EventEnvelope
from services.routing.repository import PlanRepository

STREAM = "events.order"
GROUP = "routing"
OUTCOMES = {"delivery.completed": "delivered", "delivery.failed": "failed"}


async def apply_order_event(event: EventEnvelope, session: AsyncSession) -> None:
    status = OUTCOMES.get(event.type)
    if status is None:
        return
    for stop in await PlanRepository(session).stops_of_order(uuid.UUID(event.aggregate_id)):
        stop.status = status
