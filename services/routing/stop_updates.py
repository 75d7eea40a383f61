"""Stops follow the field: a delivery completed or failed, or an order cancelled, in the order service
(``events.order``) and an arrival detected or marked by the tracking service (``events.tracking``) mark the stop,
once each, in the consumer group ``routing``. A delivered, failed or arrived stop is done, so an urgent insertion
or a re-optimisation never moves it; a cancelled one stays where it was, shown as cancelled so the driver skips it.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from services.platform.outbox import EventEnvelope
from services.routing.repository import PlanRepository

ORDER_STREAM = "events.order"
TRACKING_STREAM = "events.tracking"
GROUP = "routing"
OUTCOMES = {"delivery.completed": "delivered", "delivery.failed": "failed", "order.cancelled": "cancelled"}


async def apply_order_event(event: EventEnvelope, session: AsyncSession) -> None:
    status = OUTCOMES.get(event.type)
    if status is None:
        return
    for stop in await PlanRepository(session).stops_of_order(uuid.UUID(event.aggregate_id)):
        stop.status = status


async def apply_tracking_event(event: EventEnvelope, session: AsyncSession) -> None:
    """``stop.arrived``: the stop is arrived unless it is already delivered or failed (events may cross)."""
    if event.type != "stop.arrived":
        return
    stop = await PlanRepository(session).stop(uuid.UUID(event.aggregate_id))
    if stop is not None and stop.status == "planned":
        stop.status = "arrived"
