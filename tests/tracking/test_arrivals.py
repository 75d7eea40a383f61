"""Arrival at stops through the real server: detected from positions within 100 m of the next stop, once, with a
``stop.arrived`` event; the driver's button; delivery outcomes from order events; routes from route events; ETAs."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta

import grpc
import pytest
import redis.asyncio as aioredis
from luckygas.tracking.v1 import tracking_pb2 as pb
from luckygas.tracking.v1 import tracking_pb2_grpc

from services.platform.database import Database
from services.platform.outbox import EventEnvelope, OutboxRelay
from services.tracking.live import CHANNEL
from services.tracking.models import OUTBOX
from tests.order.factories import violations
from tests.tracking.factories import (
    DEPOT,
    TAIPEI,
    Events,
    at_taipei,
    batch,
    count,
    driver,
    east_of,
    fix,
    north_of,
    now,
    order_event,
    route_event,
    stamp,
    stops_at,
)

Stub = tracking_pb2_grpc.TrackingServiceStub

S1 = north_of(DEPOT, 2000)
S2 = east_of(S1, 2000)
S3 = north_of(S2, 2000)


def recent_day() -> tuple[date, datetime]:
    """A day and a start time ten minutes or more in the past from which ten minutes of fixes stay in that day."""
    start = now() - timedelta(minutes=10)
    day = start.astimezone(TAIPEI).date()
    return day, min(start, at_taipei(day, 23, 45))


@pytest.fixture
async def on_road(tracking: Stub) -> Stub:
    for username in ("driver01", "driver02"):
        await tracking.PutDriver(pb.PutDriverRequest(driver=driver(username)))
    return tracking


async def statuses(tracking: Stub, username: str, day: date) -> list[str]:
    progress = await tracking.GetDriverProgress(pb.GetDriverProgressRequest(driver=username, date=day.isoformat()))
    return [stop.status for stop in progress.stops]


async def published_events(database: Database, redis: aioredis.Redis) -> list[EventEnvelope]:
    """What the tracking service's relay publishes to ``events.tracking``."""
    await OutboxRelay(database, OUTBOX, redis).publish_pending()
    entries = await redis.xrange("events.tracking")
    return [EventEnvelope.from_fields(fields or {}) for _, fields in entries or []]


async def test_a_driver_is_marked_arrived_once_within_100_m_of_the_next_stop_and_then_the_following_stop_is_next(
    on_road: Stub, events: Events, database: Database, redis_client: aioredis.Redis
) -> None:
    day, start = recent_day()
    stops = stops_at(S1, S2, S3)
    route = route_event("driver01", day, stops)
    await events.deliver(route)
    pubsub = redis_client.pubsub()
    await pubsub.subscribe(CHANNEL)
    # The subscription confirmation, waited for generously: it returns as soon as it comes, and a later read would
    # otherwise take it (and give None, subscribe messages being ignored) and end the reading below early.
    await pubsub.get_message(timeout=30)

    def at(step: int) -> datetime:
        return start + timedelta(seconds=15 * step)

    approach = await on_road.RecordPositions(
        batch("driver01", [fix(north_of(S1, metres), at(i)) for i, metres in enumerate((1000, 500, 150))])
    )
    assert list(approach.arrivals) == []
    assert await statuses(on_road, "driver01", day) == ["planned", "planned", "planned"]

    near = [fix(north_of(S1, metres), at(3 + i)) for i, metres in enumerate((90, 40, 10))]
    arrived = await on_road.RecordPositions(batch("driver01", near, "near-s1"))
    lingering = await on_road.RecordPositions(batch("driver01", [fix(north_of(S1, 5), at(6))]))
    replayed = await on_road.RecordPositions(batch("driver01", near, "near-s1"))

    assert [(a.stop_id, a.status, a.arrived_by, a.sequence) for a in arrived.arrivals] == [
        (stops[0].stop_id, "arrived", "position", 1)
    ]
    assert arrived.arrivals[0].arrived_at == near[0].device_time
    assert list(lingering.arrivals) == []
    assert replayed.replayed
    assert list(replayed.arrivals) == list(arrived.arrivals)
    assert await statuses(on_road, "driver01", day) == ["arrived", "planned", "planned"]
    [event] = await published_events(database, redis_client)
    assert (event.type, event.stream, event.aggregate_id) == ("stop.arrived", "events.tracking", stops[0].stop_id)
    assert event.payload == {
        "route_id": route.aggregate_id,
        "stop_id": stops[0].stop_id,
        "order_id": stops[0].order_id,
        "driver": "driver01",
        "arrived_at": near[0].device_time.ToDatetime().isoformat() + "+00:00",
        "arrived_by": "position",
    }
    messages = []
    async with pubsub:
        # The first two must come (each batch that moved the position forward published before it was answered), so
        # they are waited for generously; after them a short silence ends the reading.
        while True:
            timeout = 30 if len(messages) < 2 else 0.5
            if (message := await pubsub.get_message(ignore_subscribe_messages=True, timeout=timeout)) is None:
                break
            messages.append(json.loads(message["data"]))
    # After the arrival the live feed watches the second stop.
    assert messages[1]["next_stop"]["stop_id"] == stops[1].stop_id
    assert messages[1]["next_stop"]["sequence"] == 2
    assert messages[1]["next_stop"]["route_id"] == route.aggregate_id
    assert datetime.fromisoformat(messages[1]["next_stop"]["eta"]) > now()

    at_second = await on_road.RecordPositions(batch("driver01", [fix(east_of(S2, 60), at(20))]))
    assert [a.stop_id for a in at_second.arrivals] == [stops[1].stop_id]
    assert await statuses(on_road, "driver01", day) == ["arrived", "arrived", "planned"]


async def test_fixes_are_walked_in_device_time_order_whatever_their_order_in_the_batch(
    on_road: Stub, events: Events
) -> None:
    day, start = recent_day()
    stops = stops_at(S1, S2)
    await events.deliver(route_event("driver01", day, stops))
    fixes = [fix(S2, start + timedelta(minutes=5)), fix(S1, start)]  # the phone sent them newest first

    answer = await on_road.RecordPositions(batch("driver01", fixes))

    assert [a.stop_id for a in answer.arrivals] == [stops[0].stop_id, stops[1].stop_id]


async def test_passing_the_second_stop_before_the_first_marks_nothing_and_a_vague_fix_does_not_count(
    on_road: Stub, events: Events
) -> None:
    day, start = recent_day()
    stops = stops_at(S1, S2)
    await events.deliver(route_event("driver01", day, stops))

    passing = await on_road.RecordPositions(batch("driver01", [fix(S2, start)]))
    vague = await on_road.RecordPositions(batch("driver01", [fix(S1, start + timedelta(minutes=1), accuracy_m=250)]))

    assert list(passing.arrivals) == []
    assert list(vague.arrivals) == []
    assert await statuses(on_road, "driver01", day) == ["planned", "planned"]


async def test_the_arrived_button_works_for_the_routes_own_driver_only_and_repeating_it_changes_nothing(
    on_road: Stub, events: Events, database: Database
) -> None:
    day, start = recent_day()
    stops = stops_at(S1, S2)
    await events.deliver(route_event("driver01", day, stops))

    with pytest.raises(grpc.aio.AioRpcError) as other_driver:
        await on_road.MarkArrived(pb.MarkArrivedRequest(driver="driver02", stop_id=stops[0].stop_id))
    first = await on_road.MarkArrived(
        pb.MarkArrivedRequest(driver="driver01", stop_id=stops[0].stop_id, at=stamp(start))
    )
    again = await on_road.MarkArrived(pb.MarkArrivedRequest(driver="driver01", stop_id=stops[0].stop_id))

    assert other_driver.value.code() == grpc.StatusCode.NOT_FOUND  # another driver's stop looks like a missing one
    assert (first.status, first.arrived_by, first.arrived_at) == ("arrived", "driver", stamp(start))
    assert first.order_id == stops[0].order_id
    assert again == first
    assert await count(database, "outbox", "type = 'stop.arrived'") == 1
    # The next stop is now the second: a fix at the first marks nothing more.
    answer = await on_road.RecordPositions(batch("driver01", [fix(S1, start + timedelta(minutes=1))]))
    assert list(answer.arrivals) == []


async def test_the_arrived_button_refuses_a_malformed_or_unknown_stop(on_road: Stub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as malformed:
        await on_road.MarkArrived(pb.MarkArrivedRequest(driver="driver01", stop_id="stop-1"))
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await on_road.MarkArrived(pb.MarkArrivedRequest(driver="driver01", stop_id=str(uuid.uuid4())))

    assert malformed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(violations(malformed.value)) == {"stop_id"}
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND


async def test_delivery_events_finish_stops_and_the_next_stop_moves_on(on_road: Stub, events: Events) -> None:
    day, start = recent_day()
    stops = stops_at(S1, S2, S3)
    await events.deliver(route_event("driver01", day, stops))

    await events.deliver(order_event(stops[0].order_id, "delivery.completed"))
    assert await statuses(on_road, "driver01", day) == ["delivered", "planned", "planned"]
    await events.deliver(order_event(stops[1].order_id, "delivery.failed"), order_event(str(uuid.uuid4()), "order.x"))
    assert await statuses(on_road, "driver01", day) == ["delivered", "failed", "planned"]

    answer = await on_road.RecordPositions(batch("driver01", [fix(S3, start)]))
    assert [a.stop_id for a in answer.arrivals] == [stops[2].stop_id]


async def test_an_outcome_read_before_its_route_still_reaches_the_stop(on_road: Stub, events: Events) -> None:
    day, _ = recent_day()
    stops = stops_at(S1, S2, S3)
    await events.deliver(
        order_event(stops[0].order_id, "delivery.completed"), order_event(stops[2].order_id, "order.cancelled")
    )

    await events.deliver(route_event("driver01", day, stops))

    assert await statuses(on_road, "driver01", day) == ["delivered", "planned", "cancelled"]


async def test_a_route_update_replaces_the_stops_keeps_their_progress_and_an_older_version_is_ignored(
    on_road: Stub, events: Events, database: Database
) -> None:
    day, start = recent_day()
    stops = stops_at(S1, S2, S3)
    route_id = str(uuid.uuid4())
    await events.deliver(route_event("driver01", day, stops, route_id=route_id))
    await on_road.RecordPositions(batch("driver01", [fix(S1, start)]))
    urgent = stops_at(east_of(S1, 800))[0]

    await events.deliver(
        route_event("driver01", day, [stops[0], urgent, stops[2]], route_id=route_id, version=2, type="route.updated"),
        route_event("driver01", day, stops, route_id=route_id, version=1, type="route.updated"),
    )

    progress = await on_road.GetDriverProgress(pb.GetDriverProgressRequest(driver="driver01", date=day.isoformat()))
    assert [(s.stop_id, s.status) for s in progress.stops] == [
        (stops[0].stop_id, "arrived"),
        (urgent.stop_id, "planned"),
        (stops[2].stop_id, "planned"),
    ]
    assert await count(database, "stop_progress") == 3


async def test_etas_run_from_the_latest_position_through_the_remaining_stops_with_their_service_time(
    on_road: Stub, events: Events
) -> None:
    fixed_at = now() - timedelta(seconds=5)
    day = fixed_at.astimezone(TAIPEI).date()
    stops = stops_at(S1, S2)
    await events.deliver(route_event("driver01", day, stops))
    await on_road.RecordPositions(batch("driver01", [fix(north_of(S1, 3000), fixed_at)]))

    asked_at = now()
    progress = await on_road.GetDriverProgress(pb.GetDriverProgressRequest(driver="driver01"))

    first, second = progress.stops
    # 3,000 m × 1.3 at 30 km/h = 468 s; then 10 minutes there and 2,000 m × 1.3 = 312 s more.
    to_first = first.eta.ToDatetime(tzinfo=UTC).timestamp() - asked_at.timestamp()
    to_second = (second.eta.ToDatetime() - first.eta.ToDatetime()).total_seconds()
    assert to_first == pytest.approx(468, abs=3)
    assert to_second == pytest.approx(600 + 312, abs=1)
    assert first.planned_eta == stamp(at_taipei(day, 9, 30))
    assert progress.latest.latitude == pytest.approx(north_of(S1, 3000)[0])
    assert (progress.driver, progress.date) == ("driver01", day.isoformat())


async def test_progress_of_a_driver_without_a_route_that_day_is_not_found(on_road: Stub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await on_road.GetDriverProgress(pb.GetDriverProgressRequest(driver="driver01"))

    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
