"""Routes and stop outcomes from the other services' events, consumed in the consumer group ``tracking``.

- ``events.route``: ``route.published`` and ``route.updated`` carry the whole route; it is kept (an older version
  never replaces a newer one) with a progress row per stop.
- ``events.order``: ``delivery.completed``, ``delivery.failed`` and ``order.cancelled`` finish the order's stop,
  so the next stop moves on. The outcome is also kept by order, so a route read after its outcome still gets it.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.platform.outbox import EventEnvelope
from services.tracking.models import StopProgressRow
from services.tracking.progress import merged_status
from services.tracking.repository import TrackingRepository

ROUTE_STREAM = "events.route"
ORDER_STREAM = "events.order"
GROUP = "tracking"
ROUTE_EVENTS = frozenset({"route.published", "route.updated"})
OUTCOMES = {"delivery.completed": "delivered", "delivery.failed": "failed", "order.cancelled": "cancelled"}


def _stop(stop: dict[str, Any]) -> dict[str, Any]:
    """A stop of the event as kept: the documented keys, ids checked."""
    return {
        "stop_id": str(uuid.UUID(stop["stop_id"])),
        "sequence": int(stop["sequence"]),
        "order_id": str(uuid.UUID(stop["order_id"])),
        "order_number": str(stop.get("order_number", "")),
        "eta": stop.get("eta"),
        "service_minutes": int(stop.get("service_minutes") or 0),
        "latitude": float(stop["latitude"]),
        "longitude": float(stop["longitude"]),
        "status": str(stop.get("status", "planned")),
    }


async def apply_route_event(event: EventEnvelope, session: AsyncSession) -> None:
    if event.type not in ROUTE_EVENTS:
        return
    payload = event.payload
    route_id = uuid.UUID(payload["route_id"])
    stops = sorted((_stop(stop) for stop in payload["stops"]), key=lambda stop: stop["sequence"])
    repository = TrackingRepository(session)
    await repository.lock_stop_updates()
    # After the driver's batches and arrivals in flight, which lock the same stops in another order.
    await repository.lock_driver(payload["driver"])
    written = await repository.put_route(
        {
            "route_id": route_id,
            "plan_id": uuid.UUID(payload["plan_id"]),
            "driver": payload["driver"],
            "date": date.fromisoformat(payload["date"]),
            "vehicle_plate": payload.get("vehicle_plate", ""),
            "version": event.aggregate_version,
            "stops": stops,
        }
    )
    if not written:
        return  # a newer version of the route is already kept
    progress = await repository.progress(route_id, for_update=True)
    outcomes = await repository.outcomes([uuid.UUID(stop["order_id"]) for stop in stops])
    added: list[StopProgressRow] = []
    for stop in stops:
        stop_id, order_id = uuid.UUID(stop["stop_id"]), uuid.UUID(stop["order_id"])
        row = progress.pop(stop_id, None)
        status = merged_status(None if row is None else row.status, stop["status"], outcomes.get(order_id))
        if row is None:
            added.append(
                StopProgressRow(route_id=route_id, stop_id=stop_id, order_id=order_id, status=status, arrived_by="")
            )
        else:
            row.order_id = order_id
            row.status = status
    # Stops no longer on this route (moved to another by a re-optimisation, or removed) leave it.
    await repository.delete(list(progress.values()))
    await repository.add(added)


async def apply_order_event(event: EventEnvelope, session: AsyncSession) -> None:
    status = OUTCOMES.get(event.type)
    if status is None:
        return
    order_id = uuid.UUID(event.aggregate_id)
    repository = TrackingRepository(session)
    await repository.lock_stop_updates()
    await repository.put_outcome(order_id, status, event.occurred_at)
    await repository.set_stop_outcome(order_id, status)
