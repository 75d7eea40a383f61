"""Stops follow the field: a completed delivery (order events) and an arrival (tracking events) mark a published
plan's stops, once, and an urgent insertion afterwards leaves those stops where they were."""

from __future__ import annotations

import uuid

import redis.asyncio as aioredis
from luckygas.customer.v1 import customer_pb2_grpc
from luckygas.order.v1 import order_pb2 as order_pb
from luckygas.order.v1 import order_pb2_grpc
from luckygas.routing.v1 import routing_pb2 as pb
from luckygas.routing.v1 import routing_pb2_grpc

from services.order.models import OUTBOX as ORDER_OUTBOX
from services.platform.clock import utc_now
from services.platform.consumer import EventConsumer
from services.platform.database import Database
from services.platform.outbox import EventEnvelope, OutboxRelay
from services.routing.models import HANDLED_EVENTS
from services.routing.stop_updates import (
    GROUP,
    ORDER_STREAM,
    TRACKING_STREAM,
    apply_order_event,
    apply_tracking_event,
)
from tests.order.factories import day, proof
from tests.routing.factories import confirmed_order, put_fleet
from tests.routing.test_planning import plan_request


async def consume(redis: aioredis.Redis, database: Database) -> None:
    """What the routing process runs in the background, run here until both streams are drained."""
    for stream, handler in ((ORDER_STREAM, apply_order_event), (TRACKING_STREAM, apply_tracking_event)):
        consumer = EventConsumer(
            redis,
            database,
            stream=stream,
            group=GROUP,
            consumer_name="test",
            handler=handler,
            handled_table=HANDLED_EVENTS,
            block_ms=10,
        )
        while await consumer.run_once():
            pass


async def published_day(
    routing: routing_pb2_grpc.RoutingServiceStub,
    customers: customer_pb2_grpc.CustomerServiceStub,
    orders: order_pb2_grpc.OrderServiceStub,
    count: int,
) -> tuple[pb.Plan, pb.Route]:
    """Two trucks, ``count`` car customers tomorrow, planned and published; the plan and its longest route."""
    await put_fleet(routing, day(1), motorcycle=False)
    for place in range(count):
        await confirmed_order(customers, orders, place=place, vehicle_requirement="car")
    plan = await routing.PlanDay(plan_request(day(1)))
    await routing.PublishPlan(pb.PublishPlanRequest(id=plan.id, actor="dispatcher"))
    return plan, max(plan.routes, key=lambda r: len(r.stops))


async def deliver(orders: order_pb2_grpc.OrderServiceStub, order_id: str, request_id: str) -> None:
    """The driver sets off and delivers, as the phone does through the gateway."""
    await orders.TransitionOrder(
        order_pb.TransitionOrderRequest(id=order_id, target=order_pb.ORDER_STATUS_IN_DELIVERY, actor="driver")
    )
    await orders.CompleteDelivery(
        order_pb.CompleteDeliveryRequest(id=order_id, proof=proof(), request_id=request_id, actor="driver")
    )


async def test_delivered_and_arrived_stops_are_marked_and_an_insertion_does_not_move_them(
    routing: routing_pb2_grpc.RoutingServiceStub,
    customers: customer_pb2_grpc.CustomerServiceStub,
    orders: order_pb2_grpc.OrderServiceStub,
    redis_client: aioredis.Redis,
    database: Database,
) -> None:
    plan, route = await published_day(routing, customers, orders, count=4)
    first, second = route.stops[0], route.stops[1]

    await deliver(orders, first.order_id, "done-1")
    await OutboxRelay(database, ORDER_OUTBOX, redis_client).publish_pending()
    arrived = EventEnvelope(
        id=uuid.uuid4(),
        type="stop.arrived",
        aggregate_id=second.id,
        aggregate_version=1,
        occurred_at=utc_now(),
        schema_version=1,
        payload={"stop_id": second.id, "route_id": route.id, "arrived_by": "position"},
        stream=TRACKING_STREAM,
    )
    await redis_client.xadd(TRACKING_STREAM, arrived.to_fields())  # type: ignore[arg-type]
    await consume(redis_client, database)
    await consume(redis_client, database)  # a second pass changes nothing (each event applied once)

    current = await routing.GetPlan(pb.GetPlanRequest(id=plan.id))
    [now] = [r for r in current.routes if r.id == route.id]
    statuses = [(stop.order_id, stop.status) for stop in now.stops[:2]]
    assert statuses == [(first.order_id, pb.STOP_STATUS_DELIVERED), (second.order_id, pb.STOP_STATUS_ARRIVED)]

    urgent = await confirmed_order(customers, orders, place=0, window=("08:00", "18:00"), vehicle_requirement="car")
    inserted = await routing.InsertOrder(
        pb.InsertOrderRequest(plan_id=plan.id, order_id=urgent.order.id, actor="dispatcher")
    )
    [after] = [r for r in inserted.routes if r.id == route.id]
    assert [s.order_id for s in after.stops[:2]] == [first.order_id, second.order_id]


async def test_reoptimising_keeps_done_stops_first_where_they_were_and_every_stop_of_the_day(
    routing: routing_pb2_grpc.RoutingServiceStub,
    customers: customer_pb2_grpc.CustomerServiceStub,
    orders: order_pb2_grpc.OrderServiceStub,
    redis_client: aioredis.Redis,
    database: Database,
) -> None:
    plan, route = await published_day(routing, customers, orders, count=5)
    first = route.stops[0]
    await deliver(orders, first.order_id, "done-2")
    await OutboxRelay(database, ORDER_OUTBOX, redis_client).publish_pending()
    await consume(redis_client, database)

    again = await routing.ReoptimizePlan(
        pb.ReoptimizePlanRequest(plan_id=plan.id, time_budget_seconds=1, actor="dispatcher")
    )

    [now] = [r for r in again.routes if r.id == route.id]
    assert (now.stops[0].order_id, now.stops[0].status) == (first.order_id, pb.STOP_STATUS_DELIVERED)
    routed = sorted(stop.order_id for r in again.routes for stop in r.stops)
    assert routed == sorted(stop.order_id for r in plan.routes for stop in r.stops)


async def test_an_order_cancelled_after_publishing_shows_as_a_cancelled_stop_and_the_day_can_still_be_reoptimised(
    routing: routing_pb2_grpc.RoutingServiceStub,
    customers: customer_pb2_grpc.CustomerServiceStub,
    orders: order_pb2_grpc.OrderServiceStub,
    redis_client: aioredis.Redis,
    database: Database,
) -> None:
    plan, route = await published_day(routing, customers, orders, count=4)
    gone = route.stops[1]
    await orders.TransitionOrder(
        order_pb.TransitionOrderRequest(
            id=gone.order_id, target=order_pb.ORDER_STATUS_CANCELLED, reason="客戶取消", actor="dispatcher"
        )
    )
    await OutboxRelay(database, ORDER_OUTBOX, redis_client).publish_pending()
    await consume(redis_client, database)

    driver = await routing.GetDriverRoute(pb.GetDriverRouteRequest(driver=route.driver, date=day(1)))
    again = await routing.ReoptimizePlan(
        pb.ReoptimizePlanRequest(plan_id=plan.id, time_budget_seconds=1, actor="dispatcher")
    )

    assert [s.status for s in driver.stops if s.order_id == gone.order_id] == [pb.STOP_STATUS_CANCELLED]
    assert again.version > plan.version
