"""Planning a day through the routing service's RPCs, against real order and customer services.

What a plan promises is checked here from the outside, on what the API returns: every confirmed order is in
exactly one route or listed with its reason, service starts inside the window kept, motorcycle-only customers
ride a motorcycle, and a published plan assigns the orders in the order service.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from zoneinfo import ZoneInfo

import grpc
import pytest
from luckygas.customer.v1 import customer_pb2_grpc
from luckygas.order.v1 import order_pb2 as order_pb
from luckygas.order.v1 import order_pb2_grpc
from luckygas.routing.v1 import routing_pb2 as pb
from luckygas.routing.v1 import routing_pb2_grpc
from sqlalchemy import text

from services.local.stores import free_port
from services.platform.database import Database
from services.platform.grpc_client import open_channel
from tests.order.factories import day, violations
from tests.routing.conftest import ROUTING_SERVICE
from tests.routing.factories import Delivery, confirmed_order, put_fleet

Stub = routing_pb2_grpc.RoutingServiceStub
TAIPEI = ZoneInfo("Asia/Taipei")
BUDGET = 1.0


def local(stamp: object) -> datetime:
    return stamp.ToDatetime(tzinfo=TAIPEI)  # type: ignore[attr-defined, no-any-return]


def plan_request(date: str, key: str = "plan-1", budget: float = BUDGET) -> pb.PlanDayRequest:
    return pb.PlanDayRequest(date=date, time_budget_seconds=budget, request_id=key, actor="dispatcher")


async def a_day(
    customers: customer_pb2_grpc.CustomerServiceStub, orders: order_pb2_grpc.OrderServiceStub, count: int = 10
) -> list[Delivery]:
    needs = ["either", "car", "motorcycle", "either", "car"]
    windows = [("08:00", "12:00"), ("13:00", "17:00"), ("08:00", "18:00"), ("09:00", "11:00"), ("14:00", "18:00")]
    return [
        await confirmed_order(
            customers, orders, place=n, vehicle_requirement=needs[n % 5], window=windows[n % 5], quantity=1 + n % 2
        )
        for n in range(count)
    ]


async def test_a_plan_places_every_order_once_inside_its_window_on_a_compatible_vehicle(
    routing: Stub, customers: customer_pb2_grpc.CustomerServiceStub, orders: order_pb2_grpc.OrderServiceStub
) -> None:
    await put_fleet(routing, day(1))
    deliveries = await a_day(customers, orders)

    plan = await routing.PlanDay(plan_request(day(1)))

    routed = [(route, stop) for route in plan.routes for stop in route.stops]
    placed = [stop.order_id for _, stop in routed]
    assert sorted(placed + [u.order_id for u in plan.unplaced]) == sorted(d.order.id for d in deliveries)
    assert len(set(placed)) == len(placed)
    assert not plan.unplaced, plan.unplaced
    assert plan.status == pb.PLAN_STATUS_DRAFT
    needs = {d.order.id: d.vehicle_requirement for d in deliveries}
    for route, stop in routed:
        start = local(stop.service_start).strftime("%H:%M")
        assert stop.window_start <= start <= stop.window_end, (stop.order_number, start)
        if needs[stop.order_id] == "motorcycle":
            assert route.vehicle_kind == "motorcycle"
        if needs[stop.order_id] == "car":
            assert route.vehicle_kind != "motorcycle"
    for route in plan.routes:
        assert [stop.sequence for stop in route.stops] == list(range(1, len(route.stops) + 1))
        etas = [local(stop.eta) for stop in route.stops]
        assert etas == sorted(etas)
        assert local(route.start).strftime("%H:%M") >= "08:00"
        assert local(route.end).strftime("%H:%M") <= "18:00"


async def test_planning_again_with_the_same_request_id_returns_the_same_plan(
    routing: Stub, customers: customer_pb2_grpc.CustomerServiceStub, orders: order_pb2_grpc.OrderServiceStub
) -> None:
    await put_fleet(routing, day(1))
    await a_day(customers, orders, count=3)

    first, second = await asyncio.gather(
        routing.PlanDay(plan_request(day(1), "same")), routing.PlanDay(plan_request(day(1), "same"))
    )

    assert first.id == second.id


async def test_an_order_no_vehicle_can_reach_in_time_is_listed_with_its_reason(
    routing: Stub, customers: customer_pb2_grpc.CustomerServiceStub, orders: order_pb2_grpc.OrderServiceStub
) -> None:
    await put_fleet(routing, day(1))
    fine = await confirmed_order(customers, orders, place=1)
    late = await confirmed_order(customers, orders, place=2, window=("19:00", "20:00"))
    closed = await confirmed_order(
        customers, orders, place=3, window=("08:00", "10:00"), hourly_windows=[False] * 6 + [True] * 6
    )

    plan = await routing.PlanDay(plan_request(day(1)))

    reasons = {u.order_id: u.reason for u in plan.unplaced}
    assert reasons == {late.order.id: "window_unreachable", closed.order.id: "window_empty"}
    assert [stop.order_id for route in plan.routes for stop in route.stops] == [fine.order.id]


async def test_a_motorcycle_only_order_without_a_motorcycle_on_duty_says_so(
    routing: Stub, customers: customer_pb2_grpc.CustomerServiceStub, orders: order_pb2_grpc.OrderServiceStub
) -> None:
    await put_fleet(routing, day(1), motorcycle=False)
    lane = await confirmed_order(customers, orders, vehicle_requirement="motorcycle")

    plan = await routing.PlanDay(plan_request(day(1)))

    assert [(u.order_id, u.reason) for u in plan.unplaced] == [(lane.order.id, "no_compatible_vehicle")]


async def test_bad_requests_are_refused_and_nothing_is_written(
    routing: Stub,
    customers: customer_pb2_grpc.CustomerServiceStub,
    orders: order_pb2_grpc.OrderServiceStub,
    database: Database,
) -> None:
    await put_fleet(routing, day(1))
    refused: dict[str, grpc.aio.AioRpcError] = {}
    for name, request in {
        "no orders": plan_request(day(1)),
        "budget too big": plan_request(day(1), budget=600),
        "budget too small": plan_request(day(1), budget=0.01),
        "bad date": plan_request("tomorrow"),
        "past date": plan_request(day(-1)),
        "no request id": plan_request(day(1), key=""),
        "no shifts": plan_request(day(2)),
    }.items():
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await routing.PlanDay(request)
        refused[name] = raised.value

    assert refused["no orders"].code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "no confirmed orders" in (refused["no orders"].details() or "")
    for name in ("budget too big", "budget too small"):
        assert violations(refused[name]) == {"time_budget_seconds": "from 1 to 60 seconds"}
    assert set(violations(refused["bad date"])) == {"date"}
    assert set(violations(refused["past date"])) == {"date"}
    assert set(violations(refused["no request id"])) == {"request_id"}
    assert refused["no shifts"].code() == grpc.StatusCode.FAILED_PRECONDITION
    async with database.session() as session:
        assert (await session.execute(text("SELECT count(*) FROM routing.plans"))).scalar_one() == 0


async def test_publishing_assigns_every_routed_order_and_the_driver_sees_the_route(
    routing: Stub,
    customers: customer_pb2_grpc.CustomerServiceStub,
    orders: order_pb2_grpc.OrderServiceStub,
    database: Database,
) -> None:
    await put_fleet(routing, day(1))
    await a_day(customers, orders, count=6)
    plan = await routing.PlanDay(plan_request(day(1)))

    published = await routing.PublishPlan(pb.PublishPlanRequest(id=plan.id, actor="dispatcher"))
    again = await routing.PublishPlan(pb.PublishPlanRequest(id=plan.id, actor="dispatcher"))

    assert published.status == again.status == pb.PLAN_STATUS_PUBLISHED
    for route in published.routes:
        for stop in route.stops:
            order = await orders.GetOrder(order_pb.GetOrderRequest(id=stop.order_id))
            assert (order.status, order.route_id) == (order_pb.ORDER_STATUS_ASSIGNED, route.id)
        mine = await routing.GetDriverRoute(pb.GetDriverRouteRequest(driver=route.driver, date=day(1)))
        assert [s.order_id for s in mine.stops] == [s.order_id for s in route.stops]
        assert all(s.deliver and list(s.collect) == list(s.deliver) for s in mine.stops)
    async with database.session() as session:
        events = (await session.execute(text("SELECT type, count(*) FROM routing.outbox GROUP BY type"))).all()
    assert dict(events) == {"route.published": len(published.routes)}


async def test_an_urgent_order_goes_into_the_published_plan_without_moving_the_others(
    routing: Stub, customers: customer_pb2_grpc.CustomerServiceStub, orders: order_pb2_grpc.OrderServiceStub
) -> None:
    await put_fleet(routing, day(1))
    await a_day(customers, orders, count=6)
    plan = await routing.PlanDay(plan_request(day(1)))
    await routing.PublishPlan(pb.PublishPlanRequest(id=plan.id, actor="dispatcher"))
    urgent = await confirmed_order(customers, orders, place=7, window=("13:00", "16:00"))

    inserted = await routing.InsertOrder(
        pb.InsertOrderRequest(plan_id=plan.id, order_id=urgent.order.id, actor="dispatcher")
    )
    again = await routing.InsertOrder(
        pb.InsertOrderRequest(plan_id=plan.id, order_id=urgent.order.id, actor="dispatcher")
    )

    before = {route.vehicle_plate: [s.order_id for s in route.stops] for route in plan.routes}
    after = {route.vehicle_plate: [s.order_id for s in route.stops] for route in inserted.routes}
    [(plate, order_ids)] = [(p, ids) for p, ids in after.items() if urgent.order.id in ids]
    assert [order_id for order_id in order_ids if order_id != urgent.order.id] == before.get(plate, [])
    assert {p: ids for p, ids in after.items() if p != plate} == {p: ids for p, ids in before.items() if p != plate}
    assert after == {route.vehicle_plate: [s.order_id for s in route.stops] for route in again.routes}
    order = await orders.GetOrder(order_pb.GetOrderRequest(id=urgent.order.id))
    assert order.status == order_pb.ORDER_STATUS_ASSIGNED


async def test_reoptimising_keeps_every_stop_of_the_day(
    routing: Stub, customers: customer_pb2_grpc.CustomerServiceStub, orders: order_pb2_grpc.OrderServiceStub
) -> None:
    await put_fleet(routing, day(1))
    deliveries = await a_day(customers, orders, count=6)
    plan = await routing.PlanDay(plan_request(day(1)))
    await routing.PublishPlan(pb.PublishPlanRequest(id=plan.id, actor="dispatcher"))

    again = await routing.ReoptimizePlan(
        pb.ReoptimizePlanRequest(plan_id=plan.id, time_budget_seconds=BUDGET, actor="dispatcher")
    )

    routed = sorted(stop.order_id for route in again.routes for stop in route.stops)
    assert routed == sorted(d.order.id for d in deliveries)
    assert again.version > plan.version


async def test_a_road_engine_that_does_not_answer_gives_a_straight_line_plan_marked_degraded(
    start_routing_server: Callable[..., Awaitable[int]],
    customers: customer_pb2_grpc.CustomerServiceStub,
    orders: order_pb2_grpc.OrderServiceStub,
) -> None:
    port = await start_routing_server(osrm_url=f"http://127.0.0.1:{free_port()}", osrm_timeout_seconds=0.5)
    channel: grpc.aio.Channel = open_channel(f"127.0.0.1:{port}", ROUTING_SERVICE, default_deadline=30)
    routing = routing_pb2_grpc.RoutingServiceStub(channel)
    await put_fleet(routing, day(1))
    await a_day(customers, orders, count=3)

    plan = await routing.PlanDay(plan_request(day(1)))
    await channel.close()

    assert (plan.degraded, plan.travel_source) == (True, "straight_line")
    assert "unreachable" in plan.degraded_reason
    assert sum(len(route.stops) for route in plan.routes) == 3
