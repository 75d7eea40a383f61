"""A small delivery day to plan: vehicles with shifts, customers around Taitung, confirmed orders."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from luckygas.customer.v1 import customer_pb2_grpc
from luckygas.order.v1 import order_pb2 as order_pb
from luckygas.order.v1 import order_pb2_grpc
from luckygas.routing.v1 import routing_pb2 as pb
from luckygas.routing.v1 import routing_pb2_grpc

from tests.order.factories import create_customer, create_request, day, items

TRUCK = {4: 10, 10: 8, 16: 10, 20: 30, 50: 6}
MOTORCYCLE = {4: 6, 10: 4, 16: 4, 20: 4}
# Customers a few hundred metres to a few kilometres around the depot (22.7553 N, 121.1504 E).
PLACES = [(22.7553 + 0.004 * (n % 5 - 2), 121.1504 + 0.005 * (n // 5 - 2)) for n in range(25)]


def vehicle(
    plate: str, kind: str = "small_truck", capacity: dict[int, int] | None = None, **overrides: Any
) -> pb.Vehicle:
    values: dict[str, Any] = {
        "plate": plate,
        "kind": kind,
        "capacity": [pb.SizeCount(size_kg=size, count=count) for size, count in (capacity or TRUCK).items()],
        "max_load_kg": 1000 if kind != "motorcycle" else 130,
        "depot_code": "taitung",
        "active": True,
    }
    values.update(overrides)
    return pb.Vehicle(**values)


def shift(plate: str, driver: str, date: str, **overrides: Any) -> pb.Shift:
    values: dict[str, Any] = {
        "vehicle_plate": plate,
        "driver": driver,
        "date": date,
        "start": "08:00",
        "end": "18:00",
        "lunch_start": "11:30",
        "lunch_latest_start": "13:00",
        "lunch_minutes": 60,
        "max_driving_minutes": 480,
    }
    values.update(overrides)
    return pb.Shift(**values)


async def put_fleet(routing: routing_pb2_grpc.RoutingServiceStub, date: str, *, motorcycle: bool = True) -> None:
    fleet = [("LG-T01", "small_truck", TRUCK, "driver01"), ("LG-T02", "van", TRUCK, "driver02")]
    if motorcycle:
        fleet.append(("LG-M03", "motorcycle", MOTORCYCLE, "driver03"))
    for plate, kind, capacity, driver in fleet:
        await routing.PutVehicle(pb.PutVehicleRequest(vehicle=vehicle(plate, kind, capacity), actor="dispatcher"))
        await routing.PutShift(pb.PutShiftRequest(shift=shift(plate, driver, date), actor="dispatcher"))


@dataclass(frozen=True)
class Delivery:
    order: order_pb.Order
    vehicle_requirement: str


async def confirmed_order(
    customers: customer_pb2_grpc.CustomerServiceStub,
    orders: order_pb2_grpc.OrderServiceStub,
    *,
    place: int = 0,
    date: str | None = None,
    window: tuple[str, str] = ("08:00", "18:00"),
    vehicle_requirement: str = "either",
    quantity: int = 1,
    product: str = "cylinder-20-regular",
    hourly_windows: list[bool] | None = None,
) -> Delivery:
    latitude, longitude = PLACES[place % len(PLACES)]
    customer = await create_customer(
        customers,
        latitude=latitude,
        longitude=longitude,
        rest_days="",
        hourly_windows=hourly_windows if hourly_windows is not None else [True] * 12,
        vehicle_requirement=vehicle_requirement,
    )
    created = await orders.CreateOrder(
        create_request(
            customer.id,
            scheduled_date=date or day(1),
            window=order_pb.DeliveryWindow(start=window[0], end=window[1]),
            items=items((product, quantity)),
        )
    )
    confirmed = await orders.TransitionOrder(
        order_pb.TransitionOrderRequest(id=created.id, target=order_pb.ORDER_STATUS_CONFIRMED, actor="dispatcher")
    )
    return Delivery(confirmed, vehicle_requirement)
